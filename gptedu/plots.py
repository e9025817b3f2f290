"""Plots of a training run: loss against epochs and tokens seen, perplexity, learning rate (notebook 04).

Each function draws on ``ax`` if given (to combine plots in one figure) or on a new figure,
and returns the figure so that notebooks show it and scripts and tests can save it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def plot_losses(
    epochs_seen: Sequence[float],
    tokens_seen: Sequence[int],
    train_losses: Sequence[float],
    val_losses: Sequence[float],
    ax: Axes | None = None,
) -> Figure:
    """Plot training and validation loss against epochs, with a second x-axis of tokens seen (the seed's figure)."""
    if not len(epochs_seen) == len(tokens_seen) == len(train_losses) == len(val_losses):
        raise ValueError(
            "epochs_seen, tokens_seen, train_losses and val_losses must have the same length; got "
            f"{len(epochs_seen)}, {len(tokens_seen)}, {len(train_losses)} and {len(val_losses)}."
        )
    fig, ax1 = _axes(ax, (5, 3))
    ax1.plot(epochs_seen, train_losses, label="Training loss")
    ax1.plot(epochs_seen, val_losses, linestyle="-.", label="Validation loss")
    ax1.set_xlabel("Epochs")
    ax1.set_ylabel("Loss (cross-entropy, nats)")
    ax1.set_title("Loss during training")
    ax1.legend(loc="upper right")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2 = ax1.twiny()  # same curves, second x-axis: how many tokens the model has seen
    ax2.plot(tokens_seen, train_losses, alpha=0)
    ax2.set_xlabel("Tokens seen")
    fig.tight_layout()
    return fig


def plot_perplexity(
    tokens_seen: Sequence[int],
    train_losses: Sequence[float],
    val_losses: Sequence[float],
    ax: Axes | None = None,
) -> Figure:
    """Plot training and validation perplexity (``exp(loss)``) against tokens seen, on a log scale."""
    fig, ax = _axes(ax, (5, 3))
    ax.plot(tokens_seen, [math.exp(loss) for loss in train_losses], label="Training perplexity")
    ax.plot(tokens_seen, [math.exp(loss) for loss in val_losses], linestyle="-.", label="Validation perplexity")
    ax.set_yscale("log")  # perplexity spans from ~50,000 down to ~1
    ax.set_xlabel("Tokens seen")
    ax.set_ylabel("Perplexity (log scale)")
    ax.set_title("Perplexity during training")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_learning_rate(track_lrs: Sequence[float], ax: Axes | None = None) -> Figure:
    """Plot the learning rate of every optimizer step (warmup, then cosine decay)."""
    fig, ax = _axes(ax, (5, 3))
    ax.plot(range(len(track_lrs)), track_lrs)
    ax.set_xlabel("Training step")
    ax.set_ylabel("Learning rate")
    ax.set_title("Learning-rate schedule")
    fig.tight_layout()
    return fig


def plot_training_summary(num_epochs: int, history: Sequence) -> Figure:
    """Draw loss and perplexity of a run side by side in one figure (what ``gptedu train`` saves).

    ``history`` is what ``train_model_simple`` or ``train_model`` returned.
    """
    train_losses, val_losses, tokens_seen = history[0], history[1], history[2]
    epochs = [num_epochs * i / max(len(train_losses) - 1, 1) for i in range(len(train_losses))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    plot_losses(epochs, tokens_seen, train_losses, val_losses, ax=left)
    plot_perplexity(tokens_seen, train_losses, val_losses, ax=right)
    fig.tight_layout()
    return fig
