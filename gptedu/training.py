"""Training loops: the seed's ``train_model_simple`` and ``train_model`` with warmup, cosine decay and clipping (notebook 04).

``train_model_simple`` is the book's loop, number for number: it prints
``Ep 1 (Step 000000): Train loss 9.781, Val loss 9.933`` every ``eval_freq`` steps and a
50-token sample after each epoch. ``train_model`` adds the three improvements the seed
lists as "not included": a learning rate that rises linearly during ``warmup_steps``,
then follows half a cosine down to ``min_lr``, and gradient clipping to ``max_norm``.
Both show a progress bar (gptedu/progress.py) and stop with a clear error if the loss becomes
NaN or infinite; the lines that do so, and save or resume a run, are the ``run`` lines
(gptedu/resume.py), kept apart so that the book's loop reads as the book prints it.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from typing import NamedTuple

import tiktoken
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from .distributed import is_main_process, unwrap_model
from .errors import ConfigError, NotEnoughDataError
from .generation import generate_text
from .loss import calc_loss_batch, calc_loss_loader
from .progress import print_line
from .resume import TrainingRun
from .tokenizer import text_to_token_ids, token_ids_to_text
from .validation import check_float, check_int

PathLike = str | os.PathLike


class TrainingHistory(NamedTuple):
    """What a training run returns; unpacks like the book's tuple of lists."""

    train_losses: list[float]
    val_losses: list[float]
    track_tokens_seen: list[int]
    track_lrs: list[float]


def get_device(override: str | torch.device | None = None) -> torch.device:
    """Return the device to train on: ``override`` or ``$GPTEDU_DEVICE`` if given, else cuda, then mps, then cpu.

    Raises ``ConfigError`` (a ``ValueError``) if the requested device is not available on this machine.
    """
    requested = override if override is not None else os.environ.get("GPTEDU_DEVICE") or None
    if requested is not None:
        source = "get_device's argument" if override is not None else "$GPTEDU_DEVICE"
        try:
            device = torch.device(requested)
        except (RuntimeError, TypeError) as error:
            raise ConfigError(f"{requested!r} ({source}) is not a device name; use 'cpu', 'cuda' (an NVIDIA GPU), "
                              "'cuda:1' (the second one) or 'mps' (Apple silicon), or leave it unset to pick the best "
                              "available.") from error
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": torch.backends.mps.is_available(),
        }.get(device.type, False)
        if not available:
            raise ConfigError(f"Device {str(device)!r} ({source}) is not available on this machine; use 'cpu' or leave the "
                              "device unset to pick the best available (on Colab: Runtime > Change runtime type > GPU).")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def evaluate_model(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, device: torch.device | str, eval_iter: int) -> tuple[float, float]:
    """Return the training and validation loss over ``eval_iter`` batches each, in eval mode without gradients."""
    model = unwrap_model(model)  # torchrun: each process measures its own share, without DDP
    model.eval()  # no dropout while measuring
    with torch.no_grad():
        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
        val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
    model.train()
    return train_loss, val_loss


def generate_and_print_sample(model: nn.Module, tokenizer: tiktoken.Encoding, device: torch.device | str, start_context: str) -> None:
    """Print 50 greedily generated tokens after ``start_context`` on one line, as the seed does after each epoch."""
    if not is_main_process():
        return  # under torchrun rank 0 prints it; greedy decoding draws no random numbers, so the ranks stay in step
    model = unwrap_model(model)  # the plain model: generating never involves the other processes
    model.eval()
    context_size = model.pos_emb.weight.shape[0]
    encoded = text_to_token_ids(start_context, tokenizer).to(device)
    with torch.no_grad():
        token_ids = generate_text(model=model, idx=encoded, max_new_tokens=50, context_size=context_size)
    decoded_text = token_ids_to_text(token_ids, tokenizer)
    print_line(decoded_text.replace("\n", " "))  # print on one line, without breaking the progress bar
    model.train()


def check_loop_args(train_loader: DataLoader, val_loader: DataLoader, num_epochs: int, eval_freq: int, eval_iter: int) -> None:
    """Raise a clear error before training if a loop setting or a loader cannot work (instead of failing later)."""
    for name, value in (("num_epochs", num_epochs), ("eval_freq", eval_freq), ("eval_iter", eval_iter)):
        check_int(name, value, minimum=1)
    for name, loader in (("training", train_loader), ("validation", val_loader)):
        if len(loader) == 0:
            raise NotEnoughDataError(
                f"The {name} loader has no batches, so there is nothing to {'train on' if name == 'training' else 'measure'}. "
                "Use more text, a smaller context length or a smaller batch size"
                + (" (or a larger validation share: train_ratio)." if name == "validation" else "."))


def _record_evaluation(history: TrainingHistory, model, train_loader, val_loader, device, eval_iter, epoch, global_step, tokens_seen) -> None:
    train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
    history.train_losses.append(train_loss)
    history.val_losses.append(val_loss)
    history.track_tokens_seen.append(tokens_seen)
    print_line(f"Ep {epoch+1} (Step {global_step:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")


def train_model_simple(
    model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, optimizer: torch.optim.Optimizer,
    device: torch.device | str, num_epochs: int, eval_freq: int, eval_iter: int, start_context: str,
    tokenizer: tiktoken.Encoding, progress: bool = True, checkpoint: PathLike | None = None,
    checkpoint_every: int | None = None, resume: PathLike | None = None,
) -> tuple[list[float], list[float], list[int]]:
    """Train with the book's loop and return ``(train_losses, val_losses, track_tokens_seen)``.

    Every step: zero the gradients, compute the batch loss, backpropagate, update. Every ``eval_freq``
    steps: evaluate ``eval_iter`` batches of each loader and print the book's line; after each epoch:
    print a sample. The ``run`` lines are gptedu's plumbing (gptedu/resume.py): the progress bar
    (``progress=False`` hides it), a clear stop if the loss becomes NaN, checkpoints to ``checkpoint``
    (each epoch, or every ``checkpoint_every`` steps) and an exact ``resume`` of a stopped run.
    """
    check_loop_args(train_loader, val_loader, num_epochs, eval_freq, eval_iter)  # clear errors for bad settings
    train_losses, val_losses, track_tokens_seen = [], [], []  # the book's three lists
    run = TrainingRun(model, optimizer, train_loader, TrainingHistory(train_losses, val_losses, track_tokens_seen, []),
                      checkpoint, checkpoint_every, resume, num_epochs=num_epochs, progress=progress)
    tokens_seen, global_step = run.tokens_seen, run.step  # 0 and -1, or where a resumed run stopped

    for epoch in range(run.epoch, num_epochs):
        model.train()  # dropout on
        for input_batch, target_batch in run.batches(train_loader, epoch):
            optimizer.zero_grad()  # reset the gradients of the previous step
            loss = calc_loss_batch(input_batch, target_batch, model, device)
            loss.backward()  # gradients of the loss with respect to every weight
            optimizer.step()  # update the weights
            tokens_seen += input_batch.numel()
            global_step += 1

            if global_step % eval_freq == 0:  # measure now and then, without dropout
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                track_tokens_seen.append(tokens_seen)
                print_line(f"Ep {epoch+1} (Step {global_step:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
            run.after_step(global_step, epoch, tokens_seen, loss)  # progress bar, NaN check, checkpoint

        generate_and_print_sample(model, tokenizer, device, start_context)  # read what the model learned
        run.after_epoch(epoch)  # checkpoint; after the last epoch, close the progress bar

    return train_losses, val_losses, track_tokens_seen


def lr_at_step(step: int, total_steps: int, peak_lr: float, warmup_steps: int = 0, initial_lr: float = 3e-5, min_lr: float = 1e-6) -> float:
    """Return the learning rate of step ``step`` (0-based) for linear warmup followed by cosine decay.

    During the first ``warmup_steps`` steps the rate grows linearly from ``initial_lr`` to
    ``peak_lr``; afterwards it follows half a cosine from ``peak_lr`` down to ``min_lr`` at
    the last step. A small rate at the start keeps the first, noisy updates from
    throwing the randomly initialised weights too far.
    """
    if not 0 <= warmup_steps <= total_steps:
        raise ConfigError(f"warmup_steps must be between 0 and the number of steps ({total_steps}); got {warmup_steps}.")
    if step < warmup_steps:
        return initial_lr + (peak_lr - initial_lr) * step / warmup_steps
    decay_steps = max(total_steps - warmup_steps - 1, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)  # 0 -> 1 over the decay phase
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _check_accumulation(accumulation_steps: int, batches_per_epoch: int, num_epochs: int, checkpoint_every: int | None) -> None:
    if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
        raise ConfigError(f"accumulation_steps must be a positive integer (1 = no accumulation); got {accumulation_steps!r}.")
    if accumulation_steps == 1 or not checkpoint_every:
        return
    # A checkpoint saved between a group's batches would lose the gradients added up so far.
    for due in range(checkpoint_every, num_epochs * batches_per_epoch + 1, checkpoint_every):  # batches done
        in_epoch = (due - 1) % batches_per_epoch + 1
        if in_epoch % accumulation_steps and in_epoch != batches_per_epoch:
            raise ConfigError(f"checkpoint_every={checkpoint_every} would save in the middle of an accumulation group of "
                              f"{accumulation_steps} batches (after batch {in_epoch} of {batches_per_epoch} in an epoch). "
                              f"Use a multiple of {accumulation_steps} that divides evenly, or save once per epoch "
                              f"(checkpoint_every=None).")


def train_model(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str,
    num_epochs: int,
    eval_freq: int,
    eval_iter: int,
    start_context: str,
    tokenizer: tiktoken.Encoding,
    warmup_steps: int | None = None,
    initial_lr: float = 3e-5,
    min_lr: float = 1e-6,
    max_norm: float | None = 1.0,
    progress: bool = True,
    checkpoint: PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: PathLike | None = None,
    accumulation_steps: int = 1,
) -> TrainingHistory:
    """Train like ``train_model_simple``, with linear warmup, cosine decay and gradient clipping.

    The peak learning rate is the optimizer's ``lr``. ``warmup_steps`` (optimizer steps)
    defaults to 20% of all steps; ``max_norm=None`` turns clipping off. ``accumulation_steps=k``
    adds up the gradients of k batches before each optimizer step, as one batch k times larger
    would (the last group of an epoch may be smaller). Returns a ``TrainingHistory`` with the
    losses, tokens seen and the learning rate of every batch. ``checkpoint``,
    ``checkpoint_every`` and ``resume`` work as in ``train_model_simple``; a resumed run keeps
    the checkpoint's peak rate.
    """
    check_loop_args(train_loader, val_loader, num_epochs, eval_freq, eval_iter)
    if max_norm is not None:
        check_float("max_norm", max_norm, positive=True, hint="Use a positive norm such as 1.0, or None for no clipping.")
    initial_lr = check_float("initial_lr", initial_lr, minimum=0.0, hint="The warmup starts here; the seed's value is 3e-5.")
    min_lr = check_float("min_lr", min_lr, minimum=0.0, hint="The cosine decay ends here; a negative rate would climb the loss.")
    batches_per_epoch = len(train_loader)
    _check_accumulation(accumulation_steps, batches_per_epoch, num_epochs, checkpoint_every)
    steps_per_epoch = math.ceil(batches_per_epoch / accumulation_steps)  # optimizer steps
    total_steps = num_epochs * steps_per_epoch
    if warmup_steps is None:
        warmup_steps = int(0.2 * total_steps)
    check_int("warmup_steps", warmup_steps, minimum=0, hint=f"Use a number of optimizer steps up to {total_steps}, or None for 20%.")
    history = TrainingHistory([], [], [], [])
    run = TrainingRun(model, optimizer, train_loader, history, checkpoint, checkpoint_every, resume,
                      schedule={"peak_lr": optimizer.param_groups[0]["lr"]}, num_epochs=num_epochs, progress=progress,
                      unit="batch")
    peak_lr = run.schedule["peak_lr"]  # a resumed optimizer holds the last step's rate, not the peak
    if min_lr > peak_lr:
        raise ConfigError(f"min_lr ({min_lr:g}) is above the peak learning rate ({peak_lr:g}, the optimizer's lr): "
                          "the cosine decay would raise the rate. Use a min_lr below the peak, such as 1e-6.")
    tokens_seen, global_step = run.tokens_seen, run.step
    for epoch in range(run.epoch, num_epochs):
        model.train()
        for input_batch, target_batch in run.batches(train_loader, epoch):
            global_step += 1  # counts batches
            batch = global_step % batches_per_epoch  # index in the epoch
            group_start = batch - batch % accumulation_steps  # first batch of this optimizer step
            group_size = min(accumulation_steps, batches_per_epoch - group_start)
            lr = lr_at_step(epoch * steps_per_epoch + batch // accumulation_steps, total_steps, peak_lr,
                            warmup_steps, initial_lr, min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            history.track_lrs.append(lr)
            if batch == group_start:
                optimizer.zero_grad()
            last_of_group = batch == group_start + group_size - 1
            # torchrun: average the gradients across processes once per group, not after every batch
            with nullcontext() if last_of_group or not hasattr(model, "no_sync") else model.no_sync():
                loss = calc_loss_batch(input_batch, target_batch, model, device)
                (loss / group_size).backward()  # the group's gradient: the mean over its batches
            if last_of_group:  # update
                if max_norm is not None:
                    # Rescale all gradients together if their joint norm exceeds max_norm.
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_norm)
                optimizer.step()
            tokens_seen += input_batch.numel()
            if global_step % eval_freq == 0:
                _record_evaluation(history, model, train_loader, val_loader, device, eval_iter, epoch, global_step, tokens_seen)
            run.after_step(global_step, epoch, tokens_seen, loss, lr=f"{lr:.2e}")
        generate_and_print_sample(model, tokenizer, device, start_context)
        run.after_epoch(epoch)
    for group in optimizer.param_groups:
        group["lr"] = peak_lr  # leave the optimizer as it was given, for a later run
    return history
