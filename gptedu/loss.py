"""Cross-entropy loss of a batch and of a whole data loader, and perplexity (notebook 02).

The loss is the average, over every position of every sequence, of minus the log of the
probability the model gave to the correct next token. Perplexity is ``exp(loss)``: the
number of tokens the model is, in effect, choosing between.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from .errors import ArgumentTypeError, InvalidInputError, NotEnoughDataError
from .model import model_vocab_size
from .validation import check_instance, check_int_or_none, short_repr

#: The target that ``cross_entropy`` skips (its default ``ignore_index``): padding in the book's later chapters.
IGNORE_INDEX = -100


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: nn.Module, device: torch.device | str) -> torch.Tensor:
    """Return the mean cross-entropy of ``model`` on one ``(batch, num_tokens)`` batch, as a tensor.

    The result keeps its autograd graph, so ``loss.backward()`` works on it. Raises a gptedu
    error for targets of another shape, an empty batch, or targets outside the vocabulary.
    """
    check_batch(input_batch, target_batch, model_vocab_size(model))  # clear errors instead of torch's
    input_batch, target_batch = input_batch.to(device), target_batch.to(device)
    logits = model(input_batch)  # (B, T, vocab_size)
    # cross_entropy wants (N, classes) and (N,): merge batch and positions into N = B * T
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), target_batch.flatten())


def calc_loss_loader(data_loader: DataLoader, model: nn.Module, device: torch.device | str, num_batches: int | None = None) -> float:
    """Return the average batch loss over the first ``num_batches`` batches (all by default).

    As in the seed, ``num_batches`` is capped at the loader's length. Unlike the seed, an empty
    loader raises ``NotEnoughDataError`` instead of returning ``nan`` (which a training loop
    would print at every evaluation). Call it under ``torch.no_grad()`` when not training.
    """
    check_loader(data_loader, num_batches)  # an empty loader or a num_batches like 1.5: clear errors
    if num_batches is None:
        num_batches = len(data_loader)
    else:
        num_batches = min(num_batches, len(data_loader))
    total_loss = 0.0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i >= num_batches:
            break
        total_loss += calc_loss_batch(input_batch, target_batch, model, device).item()
    return total_loss / num_batches


def perplexity(loss: float | torch.Tensor) -> float:
    """Return ``exp(loss)``, the perplexity of a cross-entropy loss (in nats).

    A perplexity of 48,725 means the model is about as unsure as a uniform choice among
    48,725 tokens; a perfect model has perplexity 1.
    """
    value = loss_value(loss)  # a number or a one-element tensor
    if math.isnan(value):
        return float("nan")
    return math.exp(value) if value < 709.0 else float("inf")  # exp overflows a float past ~709.78


def check_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, vocab_size: int | None = None) -> None:
    """Raise a clear gptedu error if ``(input_batch, target_batch)`` cannot give a loss.

    Both must be tensors of one shape with at least one token; every target must lie in
    ``[0, vocab_size)`` or be ``-100`` (``cross_entropy``'s ``ignore_index``) when ``vocab_size``
    is known.
    """
    check_instance("input_batch", input_batch, torch.Tensor, "a (batch, num_tokens) tensor of token IDs")
    check_instance("target_batch", target_batch, torch.Tensor, "a (batch, num_tokens) tensor of token IDs")
    if input_batch.shape != target_batch.shape:
        raise InvalidInputError(
            f"Inputs and targets must have the same shape; got {tuple(input_batch.shape)} and "
            f"{tuple(target_batch.shape)}. Targets are the inputs shifted by one token."
        )
    if input_batch.numel() == 0:
        raise NotEnoughDataError(
            f"The batch is empty (shape {tuple(input_batch.shape)}): there is no token to compute a loss on. "
            "Check the data loader: its windows need max_length >= 1 and batch_size >= 1."
        )
    if target_batch.dtype != torch.long:  # cross_entropy's own error would only say "expected Long"
        raise InvalidInputError(f"target_batch must hold token IDs of dtype torch.long, as cross_entropy needs; got "
                                f"dtype {target_batch.dtype}. Convert with target_batch.long().")
    if vocab_size is not None:
        bad = ((target_batch < 0) & (target_batch != IGNORE_INDEX)) | (target_batch >= vocab_size)
        if bool(bad.any()):  # one check on the whole batch, not one per token
            value = int(target_batch[bad][0])
            raise InvalidInputError(
                f"target_batch holds token ID {value}, outside the model's vocabulary of {vocab_size} tokens (IDs 0 to "
                f"{vocab_size - 1}; -100 marks a target to skip). Were the targets made by another tokenizer, or is "
                "the model's vocab_size too small?"
            )


def check_loader(data_loader: DataLoader, num_batches: int | None = None) -> None:
    """Raise a clear gptedu error for a loader without batches or a ``num_batches`` that is not a positive int or None."""
    if not hasattr(data_loader, "__len__") or not hasattr(data_loader, "__iter__"):
        raise ArgumentTypeError(f"data_loader must be a DataLoader (an iterable with a length) of (inputs, targets) "
                                f"batches; got {short_repr(data_loader)} ({type(data_loader).__name__}).")
    check_int_or_none("num_batches", num_batches, 1, hint="Use None for all batches.")
    if len(data_loader) == 0:
        raise NotEnoughDataError(
            "The data loader has no batches, so there is no loss to average (the seed would return nan). If it is "
            "the validation loader, its part of the text is too short for one window: use more text, a smaller "
            "context_length, or a smaller train_ratio (a larger validation share)."
        )


def loss_value(loss: float | torch.Tensor) -> float:
    """Return a loss given as a number or a one-element tensor as a float; raise a clear error for anything else."""
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise InvalidInputError(f"Expected one loss value; got a tensor of shape {tuple(loss.shape)}. "
                                    "Average it first: loss.mean().")
        return float(loss)
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        raise ArgumentTypeError(f"loss must be a number or a one-element tensor; got {short_repr(loss)} "
                                f"({type(loss).__name__}).")
    return float(loss)
