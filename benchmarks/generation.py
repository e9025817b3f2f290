"""Benchmark: tokens per second of greedy generation with the 124M configuration (not a test).

Three paths generate the same 200 tokens greedily from a short prompt, on the same random
GPT-2-layout weights (a randomly initialised ``transformers.GPT2LMHeadModel``, saved with
``save_pretrained`` and loaded into gptedu):

1. the seed's loop: the book's ``generate_text`` and ``GPTModel`` (tests/seed_reference.py),
   which recompute the whole sequence at every step;
2. gptedu's ``generate_text`` with its key/value cache (the default);
3. ``transformers``' ``generate(do_sample=False)`` (with its own cache).

The paths run alternately ``--repeats`` times after a warm-up, and the best time of each is
reported (the machine may be shared). Run: ``python benchmarks/generation.py``.
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

from gptedu import generate_text  # noqa: E402
from gptedu.pretrained import load_gpt2  # noqa: E402


def build_models():
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    hf_model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()  # 124M shapes, context 1024
    with tempfile.TemporaryDirectory() as folder:
        hf_model.save_pretrained(folder)
        model = load_gpt2(None, source=folder)
    seed_model = seed.GPTModel(model.cfg).eval()
    seed_model.load_state_dict(model.state_dict())
    return hf_model, model, seed_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    hf_model, model, seed_model = build_models()
    prompt = torch.tensor([[15496, 11, 314, 716]])  # "Hello, I am"
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
            start = time.perf_counter()
            outputs[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)

    print(f"Greedy generation of {n} tokens, 124M configuration, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}:")
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


if __name__ == "__main__":
    main()
