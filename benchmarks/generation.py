"""Benchmark: tokens per second of greedy generation with the 124M configuration (not a test).

Three paths generate the same 200 tokens greedily from a short prompt, on the same random
GPT-2-layout weights (a randomly initialised ``transformers.GPT2LMHeadModel``, saved with
``save_pretrained`` and loaded into gptedu):

1. the seed's loop: the book's ``generate_text`` and ``GPTModel`` (tests/seed_reference.py),
   which recompute the whole sequence at every step;
2. gptedu's ``generate_text`` with its key/value cache (the default);
3. ``transformers``' ``generate(do_sample=False)`` (with its own cache).

The paths run alternately ``--repeats`` times after a warm-up, and the best time of each is
reported (the machine may be shared). ``--device`` (default: ``gptedu.get_device()``, a CUDA GPU
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

from gptedu import ConfigError, generate_text, get_device  # noqa: E402
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


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that the clock measures it (CUDA and MPS kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: gptedu.get_device(): cuda if available)")
    parser.add_argument("--n-layers", type=int, default=None, help="a smaller model for a quick run (default: 12, the 124M's)")
    parser.add_argument("--emb-dim", type=int, default=None, help="(default: 768)")
    parser.add_argument("--n-heads", type=int, default=None, help="(default: 12)")
    args = parser.parse_args()
    try:
        device = get_device(args.device)
    except ConfigError as error:  # a device this machine does not have: say so, without a traceback
        parser.error(str(error))

    hf_model, model, seed_model = build_models(device, args.n_layers, args.emb_dim, args.n_heads)
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
    outputs = {name: fn() for name, fn in [(k, lambda f=f: f()) for k, f in paths.items() if "seed" not in k]}  # warm-up
    seed.generate_text(seed_model, prompt, 5, 1024)  # warm-up of the seed's model
    best = {name: float("inf") for name in paths}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            synchronize(device)
            start = time.perf_counter()
            outputs[name] = fn()
            synchronize(device)
            best[name] = min(best[name], time.perf_counter() - start)

    cfg = model.cfg
    size = "124M configuration" if sizes_are_124m(cfg) else f"{cfg['n_layers']} layers of width {cfg['emb_dim']}"
    where = (f"on {torch.cuda.get_device_name(device)}" if device.type == "cuda"
             else f"on the CPU, {torch.get_num_threads()} threads")
    print(f"Greedy generation of {n} tokens, {size}, {where}, torch {torch.__version__}, best of {args.repeats}:")
    for name, seconds in best.items():
        print(f"  {name:34s} {n / seconds:7.1f} tokens/s  ({seconds:.2f} s)")
    seed_tps = n / best["seed's loop (full recompute)"]
    ours_tps = n / best["gptedu generate_text (KV cache)"]
    hf_tps = n / best["transformers generate"]
    print(f"KV cache vs the seed's loop: {ours_tps / seed_tps:.1f}x")
    print(f"KV cache vs transformers:    {ours_tps / hf_tps:.2f}x")
    same = [torch.equal(outputs[name][:, :prompt.shape[1] + n], outputs["gptedu generate_text (KV cache)"])
            for name in paths]
    print("All three produced the same tokens:", all(same))


def sizes_are_124m(cfg: dict) -> bool:
    """True for GPT-2 124M's layer count, width and heads."""
    return (cfg["n_layers"], cfg["emb_dim"], cfg["n_heads"]) == (12, 768, 12)


if __name__ == "__main__":
    main()
