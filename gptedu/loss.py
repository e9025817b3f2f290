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


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: nn.Module, device: torch.device | str) -> torch.Tensor:
    """Return the mean cross-entropy of ``model`` on one ``(batch, num_tokens)`` batch, as a tensor.

    The result keeps its autograd graph, so ``loss.backward()`` works on it.
    """
    if input_batch.shape != target_batch.shape:
        raise ValueError(
            f"Inputs and targets must have the same shape; got {tuple(input_batch.shape)} and "
            f"{tuple(target_batch.shape)}. Targets are the inputs shifted by one token."
        )
    input_batch, target_batch = input_batch.to(device), target_batch.to(device)
    logits = model(input_batch)  # (B, T, vocab_size)
    # cross_entropy wants (N, classes) and (N,): merge batch and positions into N = B * T
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), target_batch.flatten())


def calc_loss_loader(data_loader: DataLoader, model: nn.Module, device: torch.device | str, num_batches: int | None = None) -> float:
    """Return the average batch loss over the first ``num_batches`` batches (all by default).

    As in the seed: ``num_batches`` is capped at the loader's length, and an empty loader
    gives ``float("nan")``. Call it under ``torch.no_grad()`` when not training.
    """
    if len(data_loader) == 0:
        return float("nan")
    if num_batches is None:
        num_batches = len(data_loader)
    elif num_batches < 1:
        raise ValueError(f"num_batches must be at least 1 (or None for all batches); got {num_batches}.")
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
    value = float(loss)
    if math.isnan(value):
        return float("nan")
    return math.exp(value) if value < 709.0 else float("inf")  # exp overflows a float past ~709.78
