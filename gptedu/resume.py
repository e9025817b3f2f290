"""Exact resume of a training run: what the training loops save, and how they continue (notebook 06).

A resumed run must draw the same random numbers as an uninterrupted one. Two things draw
from PyTorch's global generator: dropout, at every step, and the training loader, which takes
a seed for its shuffle order when an epoch's iterator is created. So a checkpoint records the
random state at the start of the epoch and at the saved step. ``TrainingRun.batches`` replays
it: restore the epoch's state, create the iterator (the same shuffle order), skip the batches
already trained on without computing anything, then restore the step's state.
tests/test_resume.py checks that the losses of a resumed run equal, bit for bit, those of a
run that was never stopped.

``TrainingRun`` is also where the loops keep everything around the lesson's few lines: the
progress bar (gptedu/progress.py), the stop with a clear error when the loss becomes NaN or
infinite (the last checkpoint, saved before that step, stays good), and the check that the
optimizer holds the model's weights and a usable learning rate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from .checkpoints import get_rng_states, load_checkpoint, save_checkpoint, set_rng_states
from .distributed import is_main_process, set_sampler_epoch, unwrap_model
from .errors import ConfigError, TrainingDivergedError
from .performance import enable_fast_malloc
from .progress import ProgressBar
from .validation import check_int


class TrainingRun:
    """Where a training run stands (step, epoch, tokens, losses), saved to and restored from checkpoints.

    ``history``: the loop's lists (a ``TrainingHistory``), which a resumed run fills first.
    ``checkpoint``: file to save to, at the end of every epoch, or every ``checkpoint_every``
    steps and at the end of training. ``resume``: a checkpoint to continue from; it fills the
    model, the optimizer and ``history``. ``schedule``: the learning-rate settings to save.
    ``num_epochs`` and ``progress`` size and show the progress bar (``unit``: what one step is).
    """

    def __init__(self, model, optimizer, train_loader: DataLoader, history, checkpoint: str | os.PathLike | None = None,
                 checkpoint_every: int | None = None, resume: str | os.PathLike | None = None,
                 schedule: dict[str, Any] | None = None, num_epochs: int | None = None, progress: bool = False,
                 unit: str = "step") -> None:
        if checkpoint_every is not None:
            check_int("checkpoint_every", checkpoint_every, minimum=1, hint="Pass a number of steps, or None to save once per epoch.")
        self.model, self.optimizer, self.history = unwrap_model(model), optimizer, history  # no DDP "module." in keys
        check_optimizer(self.model, optimizer)
        self.loss_scaler = getattr(self.model, "loss_scaler", None)  # float16 fast path (gptedu/loss_scaling.py)
        if self.loss_scaler is not None:
            self.loss_scaler.watch(optimizer)  # skip the steps whose gradients overflowed, even with a hand-made AdamW
        enable_fast_malloc()  # faster steps on Linux, identical numbers (see gptedu/performance.py)
        self.batches_per_epoch = len(train_loader)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every, self.schedule = checkpoint_every, dict(schedule or {})
        self.step, self.epoch, self.batches_done, self.tokens_seen = -1, 0, 0, 0
        self.step_losses: list[float] = []
        self.epoch_rng: dict[str, torch.Tensor] = {}
        self._replay: tuple[dict, dict] | None = None  # (epoch start, step) random states to replay once
        self._save_after_epoch = False
        self.saved_step: int | None = None  # the step of the last checkpoint this run wrote or resumed from
        if resume is not None:
            self._restore(resume)
            self.saved_step = self.step
        self.num_epochs = num_epochs
        total = (num_epochs or 0) * self.batches_per_epoch
        self.bar = ProgressBar(total, initial=self.step + 1, unit=unit, enabled=progress and is_main_process())  # torchrun: rank 0's

    def _restore(self, path: str | os.PathLike) -> None:
        device = next(self.model.parameters()).device
        ckpt = load_checkpoint(path, self.model, self.optimizer, device=device)
        progress = ckpt.progress
        if "step" not in progress or not ckpt.rng:
            raise ConfigError(f"{Path(path).name} has no training progress (step, random states): it was not saved "
                              "by a training loop. Load it with load_checkpoint and start a new run instead.")
        if progress["batches_per_epoch"] != self.batches_per_epoch:
            raise ConfigError(f"{Path(path).name} was trained with {progress['batches_per_epoch']} batches per epoch; "
                              f"this training loader has {self.batches_per_epoch}. Resume with the same text, "
                              "context length, batch size and number of processes (torchrun).")
        differences = {k for k in set(ckpt.config) | set(self.model.cfg) if ckpt.config.get(k) != self.model.cfg.get(k)}
        if differences:
            raise ConfigError(f"{Path(path).name} was trained with a different config ({', '.join(sorted(differences))}): "
                              f"build the model with {ckpt.config}.")
        self.step, self.epoch, self.batches_done = progress["step"], progress["epoch"], progress["batches_done"]
        self.tokens_seen, self.step_losses = progress["tokens_seen"], list(progress["step_losses"])
        for name, values in progress["history"].items():
            getattr(self.history, name).extend(values)
        self.schedule = {**self.schedule, **progress.get("schedule", {})}  # a resumed run keeps its peak rate
        if self.loss_scaler is not None and "loss_scaler" in progress:
            self.loss_scaler.load_state_dict(progress["loss_scaler"])  # the same scale: the same skipped steps
        self._replay = (ckpt.epoch_rng, ckpt.rng)

    def batches(self, train_loader: DataLoader, epoch: int) -> Iterator:
        """The training batches of ``epoch``; in a resumed epoch, only those not trained on yet."""
        set_sampler_epoch(train_loader, epoch)  # several processes (torchrun): the epoch's order, see gptedu/distributed.py
        if self._replay is not None and epoch == self.epoch:
            epoch_rng, step_rng = self._replay
            self._replay = None
            set_rng_states(epoch_rng)  # the state the epoch's iterator drew its shuffle seed from
            self.epoch_rng = epoch_rng
            iterator = iter(train_loader)
            if self.batches_done:  # the first next() draws the shuffle seed: only then is the step's state right
                for _ in range(self.batches_done):
                    next(iterator)  # skip, without computing: only the order matters
                set_rng_states(step_rng)  # the state after the last saved step (dropout continues from here)
        else:
            self.epoch_rng = get_rng_states()
            iterator = iter(train_loader)
        yield from iterator

    def after_step(self, global_step: int, epoch: int, tokens_seen: int, loss: torch.Tensor | float, **shown: str) -> None:
        """Record the step's loss, stop if it is not finite, move the bar, save a checkpoint when one is due."""
        loss = loss.item() if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(loss):
            self.bar.close()
            raise self._diverged(global_step, epoch, loss)
        self.step, self.epoch, self.tokens_seen = global_step, epoch, tokens_seen
        self.step_losses.append(loss)
        self.bar.update(loss=f"{loss:.3f}", **shown)
        self.batches_done = (self.batches_done % self.batches_per_epoch) + 1
        if self.checkpoint is not None and self.checkpoint_every and (global_step + 1) % self.checkpoint_every == 0:
            if self.batches_done == self.batches_per_epoch:
                self._save_after_epoch = True
            else:
                self.save()

    def after_epoch(self, epoch: int) -> None:
        """Save at the end of an epoch if due (the next run then starts with epoch ``epoch + 1``); the last closes the bar."""
        last = self.num_epochs is not None and epoch == self.num_epochs - 1
        self.epoch, self.batches_done = epoch + 1, 0
        if self.checkpoint is not None and (self.checkpoint_every is None or self._save_after_epoch or last):
            self.epoch_rng = get_rng_states()  # the next epoch's iterator is created from this state
            self.save()
        self._save_after_epoch = False
        if last:
            self.bar.close()

    def _diverged(self, global_step: int, epoch: int, loss: float) -> TrainingDivergedError:
        rates = sorted({group["lr"] for group in self.optimizer.param_groups})
        kept = (f"The checkpoint {self.checkpoint.name} holds the run as it was after step {self.saved_step}: "
                f"fix the cause, then resume from it." if self.checkpoint is not None and self.saved_step is not None
                else "No checkpoint was saved; the model's weights are now broken, so build a new model.")
        return TrainingDivergedError(
            f"Training stopped at step {global_step} (epoch {epoch + 1}): the loss is {loss}. The learning rate was "
            f"{', '.join(f'{lr:g}' for lr in rates)}. This usually means the learning rate is too high (try one 10 "
            f"times lower, or warmup and gradient clipping with train_model), or a setting is NaN or infinite. {kept}")

    def save(self) -> None:
        if not is_main_process():
            return  # under torchrun all processes hold the same weights: rank 0 writes the file
        progress = {"step": self.step, "epoch": self.epoch, "batches_done": self.batches_done,
                    "batches_per_epoch": self.batches_per_epoch, "tokens_seen": self.tokens_seen,
                    "step_losses": self.step_losses, "history": self.history._asdict(), "schedule": self.schedule}
        if self.loss_scaler is not None:
            progress["loss_scaler"] = self.loss_scaler.state_dict()
        save_checkpoint(self.checkpoint, self.model, self.optimizer, progress=progress, epoch_rng=self.epoch_rng)
        self.saved_step = self.step


def check_optimizer(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Raise ``ConfigError`` unless ``optimizer`` holds some of ``model``'s weights, each with a finite rate >= 0.

    An optimizer built from another model trains nothing: the loss would stay where it is for a
    whole run without a word. A NaN or negative learning rate breaks the weights or climbs the loss.
    """
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in held for p in model.parameters()):
        raise ConfigError(f"The optimizer holds none of this model's weights ({len(held)} tensors, none of the "
                          f"model's), so training would never change the model. Build it from this model, for "
                          f"example torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1).")
    for group in optimizer.param_groups:
        lr = group["lr"]
        if isinstance(lr, torch.Tensor):
            lr = float(lr)
        if not math.isfinite(lr) or lr < 0:
            raise ConfigError(f"The optimizer's learning rate must be a finite number >= 0; got {lr!r}. "
                              "The seed uses 0.0004: set it with optimizer.param_groups[0]['lr'] = 0.0004.")
