"""Benchmark: training tokens per second of the 124M model, gptedu's paths against the book's code (not a test).

Each path trains the 124M model (``GPT_CONFIG_124M``, dropout 0.1) on random token windows,
the seed's step: zero the gradients, cross-entropy loss, backward, AdamW(lr 0.0004, weight
decay 0.1), on ``--device`` (default: ``gptedu.get_device()``, a CUDA GPU if there is one).
Paths:

- ``book``: the book's implementation, ``llms_from_scratch.ch04.GPTModel`` from PyPI
  (``pip install llms-from-scratch``, for benchmarks only; without it the same code kept in
  tests/seed_reference.py) with ``torch.optim.AdamW``'s defaults, in a process with no gptedu settings;
- ``faithful``: gptedu's ``GPTModel`` with the book's operations and the speed-ups that change no
  number (``enable_fast_malloc``), what ``gptedu train`` runs by default;
- ``+ fused kernels``, ``+ fused AdamW``, ``+ bf16 autocast`` or ``+ fp16 autocast`` (the
  precision ``fast_path_for(device)`` picks, if not fp32), ``+ quick dropout`` (on a CPU; opt-in,
  ``FastPath(quick_dropout=True)``) and, with ``--compile``, ``+ torch.compile``: the switches of
  gptedu/fast_path.py, each added to the previous one.

Besides the peaks, the script times the step's matrix products alone (the shapes of a forward and
backward pass at the first context, in the fast path's precision): no step can exceed their
speed, so their fraction of the peak is the MFU a step could reach if nothing else took time.

Every measurement runs in a fresh Python process (allocation settings are per process), the
paths alternate for ``--rounds`` rounds, and the best round of each path counts (the machine
may be shared). On a GPU the clock reads after ``torch.cuda.synchronize()`` (CUDA runs
asynchronously). Reported per path: tokens/s, the ratio to the book, model FLOPs utilisation
(6 x matmul parameters + attention, per token, against this machine's measured matmul peak for
the precision used) and the peak memory (resident memory of the process on a CPU, allocated
GPU memory on a GPU).

Run: ``python benchmarks/training.py`` (about 15 minutes on a 2-core CPU; ``--contexts 256``
for the seed's settings only). ``--n-layers``, ``--emb-dim`` and ``--n-heads`` shrink the model
for a quick run (the GPU check's self-test, tests/gpu).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from gptedu.doctor import hardware_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_seconds, timed  # noqa: E402  (benchmarks/timing.py)

PRECISION_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
PATHS = ["book", "faithful", "fused kernels", "fused AdamW", "autocast", "quick dropout", "torch.compile"]
REPO = Path(__file__).resolve().parents[1]


def book_model_class() -> tuple[type, str]:
    """The book's ``GPTModel`` and where it came from: ``llms_from_scratch`` if installed, else tests/seed_reference.py."""
    try:
        from llms_from_scratch.ch04 import GPTModel as BookGPTModel

        return BookGPTModel, "llms_from_scratch.ch04.GPTModel"
    except ImportError:  # the same chapter-4 code, kept in the repository as the tests' reference
        sys.path.insert(0, str(REPO / "tests"))
        import seed_reference

        return seed_reference.GPTModel, "tests/seed_reference.py"



def autocast_precision(device: torch.device) -> str:
    """The autocast precision gptedu's fast path uses on ``device``: ``"bf16"``, ``"fp16"`` or ``"fp32"`` (none)."""
    from gptedu.fast_path import fast_path_for

    return fast_path_for(device).precision


def build(path: str, cfg: dict, device: torch.device):
    """The model (on ``device``) and optimizer of ``path`` (fast paths include every switch listed before them)."""
    if path == "book":
        book_model, _ = book_model_class()
        model = book_model(cfg).to(device)
        return model, torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1)
    from gptedu import GPTModel
    from gptedu.fast_path import FastPath, apply_fast_path, make_optimizer
    from gptedu.performance import enable_fast_malloc

    enable_fast_malloc()  # as the training loops do
    level = PATHS.index(path)  # 1 = faithful, 2 = + fused kernels, ...
    precision = autocast_precision(device) if level >= 4 else "fp32"
    fast_path = FastPath(fused_kernels=level >= 2, fused_adamw=level >= 3, bf16=precision == "bf16",
                         fp16=precision == "fp16", quick_dropout=level >= 5, compile=level >= 6)
    model = apply_fast_path(GPTModel(cfg), fast_path).to(device)
    return model, make_optimizer(model, lr=0.0004, weight_decay=0.1, fast_path=fast_path)


def model_config(context: int, n_layers: int | None = None, emb_dim: int | None = None, n_heads: int | None = None) -> dict:
    """``GPT_CONFIG_124M`` at ``context``, with the given sizes instead of its own where set."""
    from gptedu import GPT_CONFIG_124M

    sizes = {"n_layers": n_layers, "emb_dim": emb_dim, "n_heads": n_heads}
    return {**GPT_CONFIG_124M, "context_length": context, **{k: v for k, v in sizes.items() if v is not None}}


def worker(path: str, cfg: dict, batch_size: int, steps: int, device: torch.device) -> dict:
    """Train ``steps`` timed steps (after warm-up) in this process and return the measurements."""
    torch.manual_seed(123)
    context = cfg["context_length"]
    model, optimizer = build(path, cfg, device)
    model.train()
    warmup_steps = 3  # first allocations, kernel selection, compilation; malloc's heap reaches its size by the third
    inputs = torch.randint(0, cfg["vocab_size"], (steps + warmup_steps, batch_size, context)).to(device)
    targets = torch.randint(0, cfg["vocab_size"], (steps + warmup_steps, batch_size, context)).to(device)

    def step(i: int) -> float:
        optimizer.zero_grad()
        logits = model(inputs[i])
        loss = F.cross_entropy(logits.flatten(0, 1), targets[i].flatten())
        loss.backward()
        optimizer.step()
        return loss.item()

    warmup, _ = timed(lambda: [step(i) for i in range(warmup_steps)], device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the timed steps' memory, not the warm-up's
    seconds, _ = timed(lambda: [step(warmup_steps + i) for i in range(steps)], device)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _, book_source = book_model_class() if path == "book" else (None, "")
    return {"tokens_per_s": steps * batch_size * context / seconds, "warmup_s": warmup, "peak_mb": peak_mb,
            "book_source": book_source}


def training_flops_per_token(cfg: dict) -> float:
    """6 x parameters that multiply (blocks and output head) + attention's 12 x layers x context x width."""
    d, n_layers, vocab, context = cfg["emb_dim"], cfg["n_layers"], cfg["vocab_size"], cfg["context_length"]
    matmul_params = n_layers * 12 * d * d + d * vocab  # q, k, v, out: 4 d^2; MLP: 8 d^2; head: d x vocab
    return 6 * matmul_params + 12 * n_layers * context * d


def matmul_peak(dtype: torch.dtype, device: torch.device, repeats: int = 10) -> float:
    """This machine's best measured FLOP/s of a square matrix product in ``dtype`` on ``device``."""
    size = 8192 if device.type == "cuda" else 2048  # a GPU needs large products to reach its peak
    a, b = torch.randn(size, size, device=device).to(dtype), torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up: cuBLAS picks its kernel
    return 2 * size**3 / best_seconds(lambda: a @ b, device, repeats)


def step_matmuls(cfg: dict, batch_size: int, dtype: torch.dtype, device: torch.device, repeats: int = 5) -> float:
    """FLOP/s of one training step's matrix products alone, in ``dtype``: their best time over ``repeats``.

    Per layer: query, key, value and output projections (d x d), the MLP (d x 4d, 4d x d) and the
    two attention products per head; the output head (d x vocab) once; each in the forward pass
    and twice in the backward pass (the gradients of the input and of the weight).
    """
    d, vocab, context, heads = cfg["emb_dim"], cfg["vocab_size"], cfg["context_length"], cfg["n_heads"]
    rows, head_dim = batch_size * context, d // heads

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=device).to(dtype)

    products = []
    for n_in, n_out in [(d, d)] * 4 + [(d, 4 * d), (4 * d, d)]:
        products += [(rand(rows, n_in), rand(n_in, n_out)), (rand(rows, n_out), rand(n_out, n_in)),
                     (rand(n_in, rows), rand(rows, n_out))] * cfg["n_layers"]
    products += [(rand(rows, d), rand(d, vocab)), (rand(rows, vocab), rand(vocab, d)), (rand(d, rows), rand(rows, vocab))]
    scores = [(rand(batch_size * heads, context, head_dim), rand(batch_size * heads, head_dim, context)),
              (rand(batch_size * heads, context, context), rand(batch_size * heads, context, head_dim))]
    batched = scores * 3 * cfg["n_layers"]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)
    flops += sum(2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2] for a, b in batched)

    def run() -> None:
        for a, b in products:
            a @ b
        for a, b in batched:
            torch.bmm(a, b)

    run()  # warm-up
    return flops / best_seconds(run, device, repeats)


def run_worker(path: str, args: argparse.Namespace, context: int, batch_size: int) -> dict:
    """Measure ``path`` in a fresh Python process (its allocator settings and compiled code are its own)."""
    command = [sys.executable, __file__, "--worker", path, "--contexts", str(context), "--batch-size", str(batch_size),
               "--steps", str(args.steps), "--device", str(args.device)]
    for option in ("n_layers", "emb_dim", "n_heads"):
        if getattr(args, option) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def device_line(device: torch.device) -> str:
    """What the numbers were measured on: the GPU's name and compute capability, or the CPU and its threads."""
    if device.type == "cuda":
        return f"GPU: {hardware_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"CPU: {hardware_name(device)}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="256,1024", help="context lengths to measure (default: 256,1024)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 2 at context 256 (the seed's), else 1")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (default: 3)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best counts (default: 2)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to warm up)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: gptedu.get_device(): cuda if available)")
    parser.add_argument("--n-layers", type=int, default=None, help="a smaller model for a quick run (default: 12, the 124M's)")
    parser.add_argument("--emb-dim", type=int, default=None, help="(default: 768)")
    parser.add_argument("--n-heads", type=int, default=None, help="(default: 12)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from gptedu import ConfigError, get_device

    try:
        args.device = get_device(args.device)
    except ConfigError as error:  # a device this machine does not have: say so, without a traceback
        parser.error(str(error))
    if args.worker:
        cfg = model_config(int(args.contexts), args.n_layers, args.emb_dim, args.n_heads)
        print(json.dumps(worker(args.worker, cfg, args.batch_size, args.steps, args.device)))
        return

    precision = autocast_precision(args.device)
    paths = [p for p in PATHS if (p != "autocast" or precision != "fp32") and (p != "torch.compile" or args.compile)
             and (p != "quick dropout" or args.device.type == "cpu")]  # quick dropout changes nothing on a GPU
    if "autocast" not in paths and "torch.compile" in paths:
        paths.remove("torch.compile")  # the compile level includes autocast; without a fast precision it is not measured
    peaks = {"fp32": matmul_peak(torch.float32, args.device)}
    if precision != "fp32":
        peaks[precision] = matmul_peak(PRECISION_DTYPES[precision], args.device)
    print(device_line(args.device))
    print("Measured matmul peak: " + ", ".join(f"{name} {peak / 1e9:.0f} GFLOP/s" for name, peak in peaks.items()))
    first = model_config(int(args.contexts.split(",")[0]), args.n_layers, args.emb_dim, args.n_heads)
    first_batch = args.batch_size or (2 if first["context_length"] == 256 else 1)
    for name, dtype in [("fp32", torch.float32)] + ([(precision, PRECISION_DTYPES[precision])] if precision != "fp32" else []):
        speed = step_matmuls(first, first_batch, dtype, args.device)
        print(f"A step's matrix products alone (context {first['context_length']}, batch {first_batch}), {name}: "
              f"{speed / 1e9:.0f} GFLOP/s, {100 * speed / peaks[name]:.0f}% of the peak (the MFU ceiling of its paths)")
    for context in (int(c) for c in args.contexts.split(",")):
        cfg = model_config(context, args.n_layers, args.emb_dim, args.n_heads)
        batch_size = args.batch_size or (2 if context == 256 else 1)
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for path in paths:
                result = run_worker(path, args, context, batch_size)
                if path not in best or result["tokens_per_s"] > best[path]["tokens_per_s"]:
                    best[path] = result
        flops = training_flops_per_token(cfg)
        size = "" if cfg == model_config(context) else f", {cfg['n_layers']} layers of width {cfg['emb_dim']}"
        print(f"\nContext {context}, batch {batch_size}{size}, {args.device}, best of {args.rounds} rounds of {args.steps} steps "
              f"(book: {best['book']['book_source']}):")
        print("| path | tokens/s | vs book | MFU | peak memory |\n|---|---|---|---|---|")
        for path in paths:
            r = best[path]
            peak = peaks[precision if PATHS.index(path) >= PATHS.index("autocast") else "fp32"]
            name = f"{precision} autocast" if path == "autocast" else path
            label = name if PATHS.index(path) < 2 else f"+ {name}"
            print(f"| {label} | {r['tokens_per_s']:.0f} | {r['tokens_per_s'] / best['book']['tokens_per_s']:.2f}x "
                  f"| {100 * r['tokens_per_s'] * flops / peak:.0f}% | {r['peak_mb'] / 1024:.2f} GiB |")


if __name__ == "__main__":
    main()
