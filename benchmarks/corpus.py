"""Benchmark (not a test): preparing a large corpus, and training from it with flat memory.

Run: GPTEDU_CACHE_DIR=... python benchmarks/corpus.py [--million-tokens 50] [--steps 300]

1. Builds a text of about N million GPT-2 tokens (the-verdict, repeated) in a temporary
   folder and times ``prepare_corpus`` with 1 and with 2 processes, printing the ratio.
2. Trains a small GPT for ``--steps`` steps on random windows read through ``np.memmap``
   from that token file and prints the process's resident memory (RSS: anonymous memory and
   file-backed pages of the memory map) before and during training.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gptedu import GPT_CONFIG_124M, GPTModel, calc_loss_batch, load_text
from gptedu.corpus import create_token_file_loader, open_token_file


def memory() -> str:
    """Resident memory of this process (Linux /proc): total, anonymous (tensors, Python) and file-backed pages."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return (f"RSS {fields.get('VmRSS', float('nan')):.0f} MB (anonymous {fields.get('RssAnon', float('nan')):.0f}, "
            f"file-backed {fields.get('RssFile', float('nan')):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--million-tokens", type=float, default=50.0)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    story = load_text("the-verdict") + "\n"
    copies = int(args.million_tokens * 1e6 / 5146) + 1
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "big.txt").write_text(story * copies, encoding="utf-8")
        print(f"Text: {(folder / 'big.txt').stat().st_size / 1e6:.0f} MB")
        seconds = {}
        for workers in (1, 2):  # the command a user runs: gptedu prepare big.txt big.bin --workers N
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gptedu", "prepare", str(folder / "big.txt"), str(folder / f"big{workers}.bin"),
                            "--workers", str(workers), "--no-progress"], check=True, stdout=subprocess.DEVNULL)
            seconds[workers] = time.perf_counter() - start
            meta = json.loads((folder / f"big{workers}.bin.json").read_text())
            print(f"gptedu prepare --workers {workers}: {seconds[workers]:.1f} s, {meta['num_tokens']:,} tokens, "
                  f"{meta['num_tokens'] / seconds[workers] / 1e6:.2f} M tokens/s")
        same = np.array_equal(open_token_file(folder / "big1.bin"), open_token_file(folder / "big2.bin"))
        print("1 and 2 processes wrote the same tokens:", same)
        print(f"speed-up with 2 processes: {seconds[1] / seconds[2]:.2f}x")

        torch.manual_seed(123)
        cfg = {**GPT_CONFIG_124M, "emb_dim": 128, "n_heads": 4, "n_layers": 2, "context_length": 128}
        model = GPTModel(cfg)
        optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
        loader = create_token_file_loader(folder / "big2.bin", batch_size=8, max_length=128, num_samples=8 * args.steps)
        print(f"before training: {memory()}")
        for step, (inputs, targets) in enumerate(loader):
            optimizer.zero_grad()
            loss = calc_loss_batch(inputs, targets, model, "cpu")
            loss.backward()
            optimizer.step()
            if (step + 1) in (1, 10) or (step + 1) % 50 == 0:
                print(f"step {step + 1:4d}: loss {loss.item():.3f}, {memory()}")
        print(f"after {args.steps} steps: {memory()}; the token file holds {meta['num_tokens'] * 2 / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
