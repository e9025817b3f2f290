"""Benchmark: tokens per second of greedy generation with the 124M configuration (not a test).

Three paths generate the same 200 tokens greedily from a short prompt, on the same random
GPT-2-layout weights (a randomly initialised ``transformers.GPT2LMHeadModel``, saved with
``save_pretrained`` and loaded into gptedu):

1. the seed's loop: the book's ``generate_text`` and ``GPTModel`` (tests/seed_reference.py),
   which recompute the whole sequence at every step;
2. gptedu's ``generate_text`` with its key/value cache (the default);
3. ``transformers``' ``generate(do_sample=False)`` (with its own cache);

and, opt-in, gptedu's ``generate_text`` on ``quantize_int8(model)`` (int8 weights, gptedu/quantize.py),
with what it costs in quality: how many of its greedy tokens equal the float32 model's, and the
loss on *The Verdict* of both models. On random weights the next-token choices are near-ties, so
that agreement says little; ``--train-epochs 10`` also trains the seed's model (``GPT_CONFIG_124M``,
PyTorch's initialisation, ``torch.manual_seed(123)``) for the seed's 10 epochs on *The Verdict* on the
fast path, and measures the agreement and the losses on that trained model too.

The paths run alternately ``--repeats`` times after a warm-up, and the best time of each is
reported (the machine may be shared). Each new token must read every weight of the model once
(and the cached keys and values), so memory bandwidth bounds the speed: the script measures it in
the same run (the fastest of several reads of a 1 GiB buffer in any round, see
``measure_bandwidth``) and prints each path's tokens/s as a fraction of that limit. ``--device`` (default: ``gptedu.get_device()``, a CUDA GPU
if there is one) says where all three run; on a GPU the clock reads after
``torch.cuda.synchronize()``. Run: ``python benchmarks/generation.py``; ``--n-layers``,
``--emb-dim`` and ``--n-heads`` shrink the model for a quick run (the GPU check's self-test, tests/gpu).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import seed_reference as seed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_seconds, timed  # noqa: E402  (benchmarks/timing.py)

from gptedu import (  # noqa: E402
    ConfigError,
    GPTModel,
    calc_loss_loader,
    create_dataloader_v1,
    generate_text,
    get_device,
    get_tokenizer,
    load_text,
    quantize_int8,
    train_val_loaders,
)
from gptedu.doctor import hardware_name  # noqa: E402
from gptedu.pretrained import load_gpt2  # noqa: E402


def build_models(device: torch.device, n_layers: int | None = None, emb_dim: int | None = None, n_heads: int | None = None):
    """The same random GPT-2-layout weights as ``transformers``' model, gptedu's and the seed's, all on ``device``.

    Without sizes: GPT-2 124M's shapes (``GPT2Config()``, context 1024); the sizes make a smaller one.
    """
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    sizes = {"n_layer": n_layers, "n_embd": emb_dim, "n_head": n_heads}
    config = transformers.GPT2Config(**{k: v for k, v in sizes.items() if v is not None})
    hf_model = transformers.GPT2LMHeadModel(config).eval()
    with tempfile.TemporaryDirectory() as folder:
        hf_model.save_pretrained(folder)
        model = load_gpt2(None, source=folder, device=device)
    seed_model = seed.GPTModel(model.cfg).eval()
    seed_model.load_state_dict(model.state_dict())
    return hf_model.to(device), model, seed_model.to(device)


def measure_bandwidth(device: torch.device, repeats: int = 5) -> dict[str, float]:
    """Bytes per second at which ``device`` was seen to read a 1 GiB float32 buffer, per way of reading it.

    Three reads: a sum, a maximum, and a batched matrix-vector product over the buffer's two
    halves (the kernel ``one_token_linear`` uses). Each is timed ``repeats`` times and the best
    counts; the fastest of the three is the limit the benchmark compares against (a lower bound of
    what the memory can do, so the fractions it gives are upper bounds).
    """
    buffer = torch.ones(256 * 1024 * 1024, device=device)  # 1 GiB, far larger than any cache
    matrix = buffer.view(2, -1, 1024)  # (2, rows, 1024)
    vector = torch.ones(2, 1, 1024, device=device)
    reads = {"sum": buffer.sum, "max": buffer.amax,
             "two-halves product": lambda: torch.bmm(vector, matrix.transpose(1, 2))}
    rates = {}
    for name, read in reads.items():
        read()  # warm-up
        rates[name] = buffer.numel() * buffer.element_size() / best_seconds(read, device, repeats)
    return rates


def bytes_per_token(model: torch.nn.Module, num_cached: float) -> float:
    """Bytes one cached generation step reads: the tensors of every linear layer (float32, or int8 with
    its scales) and layer norm, not the two embeddings (one row each; the output head is read whole
    even where it shares the token embedding's tensor), plus the keys and values of ``num_cached``
    earlier tokens in every layer."""
    from gptedu import Int8Linear, LayerNorm

    weights = 0
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, Int8Linear, LayerNorm)):
            tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
            weights += sum(t.numel() * t.element_size() for t in tensors if t is not getattr(module, "_ones", None))
    cfg = model.cfg
    kv = 2 * cfg["n_layers"] * cfg["emb_dim"] * num_cached * 4  # float32 keys and values
    return weights + kv


def train_on_the_verdict(epochs: int, device: torch.device) -> GPTModel:
    """The seed's model and run, on the fast path (context 256, batch 2, AdamW 0.0004 / 0.1), in evaluation mode."""
    from gptedu import GPT_CONFIG_124M
    from gptedu.fast_path import apply_fast_path, fast_path_for, make_optimizer

    torch.manual_seed(123)
    model = GPTModel(GPT_CONFIG_124M).to(device)
    fast_path = fast_path_for(device)
    train_loader, _ = train_val_loaders(load_text("the-verdict"), context_length=256, batch_size=2)
    apply_fast_path(model, fast_path)
    optimizer = make_optimizer(model, lr=0.0004, weight_decay=0.1, fast_path=fast_path)
    torch.manual_seed(123)
    model.train()
    for _ in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x.to(device)).flatten(0, 1), y.to(device).flatten()).backward()
            optimizer.step()
    apply_fast_path(model, type(fast_path)())  # back to the book's operations for generation
    return model.eval()


def int8_quality(model: GPTModel, int8_model: GPTModel, prompt: torch.Tensor, n: int, device: torch.device) -> str:
    """How close ``int8_model`` is to ``model``: equal greedy tokens of ``n``, where they first differ, both losses."""
    context = model.cfg["context_length"]
    new_fp32 = generate_text(model, prompt, n, context)[0, prompt.shape[1]:]
    new_int8 = generate_text(int8_model, prompt, n, context)[0, prompt.shape[1]:]
    differ = (new_fp32 != new_int8).nonzero()
    first = f"first difference at new token {int(differ[0]) + 1}" if len(differ) else "no difference"
    return (f"{int((new_fp32 == new_int8).sum())} of {n} greedy tokens equal ({first}); loss on The Verdict "
            f"(windows of 256 tokens) float32 {verdict_loss(model, device):.4f}, int8 {verdict_loss(int8_model, device):.4f}")


def verdict_loss(model: torch.nn.Module, device: torch.device) -> float:
    """The average next-token loss over all of *The Verdict*, in windows of 256 tokens."""
    loader = create_dataloader_v1(load_text("the-verdict"), batch_size=4, max_length=256, stride=256,
                                  shuffle=False, drop_last=False)
    with torch.no_grad():
        return calc_loss_loader(loader, model, device)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: gptedu.get_device(): cuda if available)")
    parser.add_argument("--n-layers", type=int, default=None, help="a smaller model for a quick run (default: 12, the 124M's)")
    parser.add_argument("--emb-dim", type=int, default=None, help="(default: 768)")
    parser.add_argument("--n-heads", type=int, default=None, help="(default: 12)")
    parser.add_argument("--train-epochs", type=int, default=0,
                        help="also measure the int8 agreement on the seed's model trained this many epochs on The Verdict "
                        "(the seed's run: 10; default: 0, random weights only)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 path")
    args = parser.parse_args()
    try:
        device = get_device(args.device)
    except ConfigError as error:  # a device this machine does not have: say so, without a traceback
        parser.error(str(error))

    hf_model, model, seed_model = build_models(device, args.n_layers, args.emb_dim, args.n_heads)
    int8_model = None if args.no_int8 else quantize_int8(model)
    prompt = torch.tensor([[15496, 11, 314, 716]], device=device)  # "Hello, I am"
    n = args.tokens

    def hf_generate():
        return hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False, pad_token_id=50256)

    paths = {
        "seed's loop (full recompute)": lambda: seed.generate_text(seed_model, prompt, n, 1024),
        "gptedu generate_text (KV cache)": lambda: generate_text(model, prompt, n, 1024),
        "transformers generate": hf_generate,
    }
    if int8_model is not None:
        paths["gptedu, int8 weights (opt-in)"] = lambda: generate_text(int8_model, prompt, n, 1024)
    outputs = {name: fn() for name, fn in [(k, lambda f=f: f()) for k, f in paths.items() if "seed" not in k]}  # warm-up
    seed.generate_text(seed_model, prompt, 5, 1024)  # warm-up of the seed's model
    best = {name: float("inf") for name in paths}
    bandwidth: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, rate in measure_bandwidth(device).items():  # in every round: a shared machine's speed varies
            bandwidth[name] = max(rate, bandwidth.get(name, 0.0))
        for name, fn in paths.items():
            seconds, outputs[name] = timed(fn, device)
            best[name] = min(best[name], seconds)

    cfg = model.cfg
    size = "124M configuration" if sizes_are_124m(cfg) else f"{cfg['n_layers']} layers of width {cfg['emb_dim']}"
    where = (f"on {torch.cuda.get_device_name(device)}" if device.type == "cuda"
             else f"on the CPU, {torch.get_num_threads()} threads")
    limit_bandwidth = max(bandwidth.values())
    per_token = bytes_per_token(model, prompt.shape[1] + (n - 1) / 2)  # the cache holds the prompt + half the new tokens on average
    limit = limit_bandwidth / per_token
    limits = {name: limit for name in paths}
    if int8_model is not None:
        int8_per_token = bytes_per_token(int8_model, prompt.shape[1] + (n - 1) / 2)
        limits["gptedu, int8 weights (opt-in)"] = limit_bandwidth / int8_per_token
    print(f"Memory reads of 1 GiB on {hardware_name(device)}: "
          + ", ".join(f"{name} {rate / 1e9:.1f} GB/s" for name, rate in bandwidth.items()))
    print(f"Limit: {limit_bandwidth / 1e9:.1f} GB/s / {per_token / 1e6:.0f} MB read per token = {limit:.1f} tokens/s")
    if int8_model is not None:
        print(f"Limit with int8 weights: {limit_bandwidth / 1e9:.1f} GB/s / {int8_per_token / 1e6:.0f} MB read per token "
              f"= {limits['gptedu, int8 weights (opt-in)']:.1f} tokens/s")
    print(f"Greedy generation of {n} tokens, {size} (random weights), {where}, torch {torch.__version__}, best of {args.repeats}:")
    for name, seconds in best.items():
        print(f"  {name:34s} {n / seconds:7.1f} tokens/s  ({seconds:.2f} s)  {n / seconds / limits[name]:4.0%} of its limit")
    seed_tps = n / best["seed's loop (full recompute)"]
    ours_tps = n / best["gptedu generate_text (KV cache)"]
    hf_tps = n / best["transformers generate"]
    print(f"KV cache vs the seed's loop: {ours_tps / seed_tps:.1f}x")
    print(f"KV cache vs transformers:    {ours_tps / hf_tps:.2f}x")
    reference = outputs["gptedu generate_text (KV cache)"]
    same = [torch.equal(outputs[name][:, :prompt.shape[1] + n], reference) for name in paths if "int8" not in name]
    print("All three float32 paths produced the same tokens:", all(same))
    if int8_model is not None:
        print(f"int8 weights: {n / best['gptedu, int8 weights (opt-in)'] / ours_tps:.2f}x float32's speed")
        print(f"int8 vs float32, these random weights: {int8_quality(model, int8_model, prompt, n, device)}")
        if args.train_epochs:
            start = time.perf_counter()
            trained = train_on_the_verdict(args.train_epochs, device)
            prompt = torch.tensor([get_tokenizer().encode("Every effort moves you")], device=device)
            print(f"int8 vs float32, the seed's model trained {args.train_epochs} epochs on The Verdict "
                  f"({time.perf_counter() - start:.0f} s): {int8_quality(trained, quantize_int8(trained), prompt, n, device)}")


def sizes_are_124m(cfg: dict) -> bool:
    """True for GPT-2 124M's layer count, width and heads."""
    return (cfg["n_layers"], cfg["emb_dim"], cfg["n_heads"]) == (12, 768, 12)


if __name__ == "__main__":
    main()
