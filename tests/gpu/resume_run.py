"""One training run of the GPU check's resume test (tests/gpu/test_gpu.py), in its own Python process.

Usage: ``python tests/gpu/resume_run.py DEVICE CORPUS CHECKPOINT STOP_AFTER RESUME``. Trains a
small GPT on ``DEVICE`` with ``train_model_simple`` (2 epochs of 10 steps, dropout on, a
shuffling loader), saving checkpoints to ``CHECKPOINT``. ``STOP_AFTER=k > 0``: checkpoint every
k steps and exit as soon as the checkpoint of step k is written, as a process that dies there
would. ``RESUME``: a checkpoint to continue from ('' for none). The last line printed is JSON:
the checkpoint's per-step losses and history, and the sum of the final weights.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from gptedu import GPTModel, get_tokenizer, load_text, train_model_simple, train_val_loaders
from gptedu.checkpoints import load_checkpoint

CFG = {"vocab_size": 50257, "context_length": 32, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.1, "qkv_bias": False}


class StopAfter:
    """``loader``, except that the training pass exits the process when it would hand out batch ``stop_after + 1``.

    That batch is fetched right after the checkpoint of step ``stop_after`` was written (inside
    an epoch) or after the epoch's end (at a boundary), so the process dies just after saving.
    Passes opened while a training pass runs are ``train_model_simple``'s evaluations: untouched.
    """

    def __init__(self, loader: DataLoader, stop_after: int) -> None:
        self.loader, self.stop_after, self.fetched, self.open_passes = loader, stop_after, 0, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        training = self.open_passes == 0
        self.open_passes += 1
        try:
            for batch in self.loader:
                if training:
                    self.fetched += 1
                    if self.fetched > self.stop_after:
                        sys.exit(0)
                yield batch
        finally:
            self.open_passes -= 1


def main(device: str, corpus: str, checkpoint: str, stop_after: int, resume: str | None) -> None:
    if device.startswith("cuda"):
        # Bit-identical runs need kernels that add up in a fixed order (warn, do not fail, where one has no such kernel).
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(123)
    train_loader, val_loader = train_val_loaders(load_text(corpus)[:6000], 32, batch_size=4)  # 10 batches an epoch
    model = GPTModel(CFG).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)
    loader = StopAfter(train_loader, stop_after) if stop_after else train_loader
    train_model_simple(model, loader, val_loader, optimizer, device, 2, 4, 1, "Every effort", get_tokenizer(),
                       progress=False, checkpoint=checkpoint, checkpoint_every=stop_after or None, resume=resume)
    progress = load_checkpoint(checkpoint).progress
    weights = sum(float(p.detach().double().sum()) for p in model.parameters())
    print(json.dumps({"step_losses": progress["step_losses"], "history": progress["history"], "weights": weights}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] or None)
