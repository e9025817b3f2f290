"""Benchmark: training tokens per second of the 124M model, gptedu's paths against the book's code (not a test).

Each path trains the 124M model (``GPT_CONFIG_124M``, dropout 0.1) on random token windows,
the seed's step: zero the gradients, cross-entropy loss, backward, AdamW(lr 0.0004, weight
decay 0.1). Paths:

- ``book``: the book's implementation, ``llms_from_scratch.ch04.GPTModel`` from PyPI
  (``pip install llms-from-scratch``, for benchmarks only) with ``torch.optim.AdamW``'s defaults,
  in a process with no gptedu settings;
- ``faithful``: gptedu's ``GPTModel`` with the book's operations and the speed-ups that change no
  number (``enable_fast_malloc``), what ``gptedu train`` runs by default;
- ``+ fused kernels``, ``+ fused AdamW``, ``+ bf16 autocast`` (only if this CPU computes bf16
  natively) and, with ``--compile``, ``+ torch.compile``: the switches of gptedu/fast_path.py,
  each added to the previous one.

Every measurement runs in a fresh Python process (allocation settings are per process), the
paths alternate for ``--rounds`` rounds, and the best round of each path counts (the machine
may be shared). Reported per path: tokens/s, the ratio to the book, model FLOPs utilisation
(6 x matmul parameters + attention, per token, against this machine's measured matmul peak for
the precision used) and the peak resident memory of the process.

Run: ``python benchmarks/training.py`` (about 15 minutes on a 2-core CPU; ``--contexts 256``
for the seed's settings only).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

PATHS = ["book", "faithful", "fused kernels", "fused AdamW", "bf16 autocast", "torch.compile"]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def build(path: str, cfg: dict):
    """The model and optimizer of ``path`` (fast paths include every switch listed before them)."""
    if path == "book":
        from llms_from_scratch.ch04 import GPTModel as BookGPTModel

        model = BookGPTModel(cfg)
        return model, torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1)
    from gptedu import GPTModel
    from gptedu.fast_path import FastPath, apply_fast_path, make_optimizer
    from gptedu.performance import enable_fast_malloc

    enable_fast_malloc()  # as the training loops do
    level = PATHS.index(path)  # 1 = faithful, 2 = + fused kernels, ...
    fast_path = FastPath(fused_kernels=level >= 2, fused_adamw=level >= 3, bf16=level >= 4, compile=level >= 5)
    model = apply_fast_path(GPTModel(cfg), fast_path)
    return model, make_optimizer(model, lr=0.0004, weight_decay=0.1, fast_path=fast_path)


def worker(path: str, context: int, batch_size: int, steps: int) -> dict:
    """Train ``steps`` timed steps (after warm-up) in this process and return the measurements."""
    from gptedu import GPT_CONFIG_124M

    torch.manual_seed(123)
    cfg = {**GPT_CONFIG_124M, "context_length": context}
    model, optimizer = build(path, cfg)
    model.train()
    inputs = torch.randint(0, cfg["vocab_size"], (steps + 2, batch_size, context))
    targets = torch.randint(0, cfg["vocab_size"], (steps + 2, batch_size, context))

    def step(i: int) -> float:
        optimizer.zero_grad()
        logits = model(inputs[i])
        loss = F.cross_entropy(logits.flatten(0, 1), targets[i].flatten())
        loss.backward()
        optimizer.step()
        return loss.item()

    start = time.perf_counter()
    step(0)
    step(1)  # warm-up: first allocations, kernel selection, compilation
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(steps):
        step(2 + i)
    seconds = time.perf_counter() - start
    return {"tokens_per_s": steps * batch_size * context / seconds, "warmup_s": warmup,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def training_flops_per_token(context: int) -> float:
    """6 x parameters that multiply (blocks and output head) + attention's 12 x layers x context x width."""
    from gptedu import GPT_CONFIG_124M

    d, n_layers, vocab = GPT_CONFIG_124M["emb_dim"], GPT_CONFIG_124M["n_layers"], GPT_CONFIG_124M["vocab_size"]
    matmul_params = n_layers * 12 * d * d + d * vocab  # q, k, v, out: 4 d^2; MLP: 8 d^2; head: d x vocab
    return 6 * matmul_params + 12 * n_layers * context * d


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """This machine's best measured FLOP/s of a square matrix product in ``dtype``."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def run_worker(path: str, context: int, batch_size: int, steps: int) -> dict:
    command = [sys.executable, __file__, "--worker", path, "--contexts", str(context),
               "--batch-size", str(batch_size), "--steps", str(steps)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="256,1024", help="context lengths to measure (default: 256,1024)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 2 at context 256 (the seed's), else 1")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (default: 3)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best counts (default: 2)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to warm up)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        context = int(args.contexts)
        print(json.dumps(worker(args.worker, context, args.batch_size, args.steps)))
        return

    from gptedu.fast_path import native_bf16

    paths = [p for p in PATHS if (p != "bf16 autocast" or native_bf16("cpu")) and (p != "torch.compile" or args.compile)]
    if "bf16 autocast" not in paths and "torch.compile" in paths:
        paths.remove("torch.compile")  # the compile level includes bf16; without native bf16 it is not measured
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"Measured matmul peak: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s")
    for context in (int(c) for c in args.contexts.split(",")):
        batch_size = args.batch_size or (2 if context == 256 else 1)
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for path in paths:
                result = run_worker(path, context, batch_size, args.steps)
                if path not in best or result["tokens_per_s"] > best[path]["tokens_per_s"]:
                    best[path] = result
        flops = training_flops_per_token(context)
        print(f"\nContext {context}, batch {batch_size}, best of {args.rounds} rounds of {args.steps} steps:")
        print("| path | tokens/s | vs book | MFU | peak memory |\n|---|---|---|---|---|")
        for path in paths:
            r = best[path]
            peak = peaks["bf16" if PATHS.index(path) >= PATHS.index("bf16 autocast") else "fp32"]
            label = path if PATHS.index(path) < 2 else f"+ {path}"
            print(f"| {label} | {r['tokens_per_s']:.0f} | {r['tokens_per_s'] / best['book']['tokens_per_s']:.2f}x "
                  f"| {100 * r['tokens_per_s'] * flops / peak:.0f}% | {r['peak_rss_mb'] / 1024:.2f} GiB |")


if __name__ == "__main__":
    main()
