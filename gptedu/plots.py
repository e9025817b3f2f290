"""Plots of a training run: loss against epochs and tokens seen, perplexity, learning rate (notebook 04),
the chain from the correct tokens' probabilities to the loss (notebook 02), and what top-k and top-p
keep of a next-token distribution (notebook 05).

Each function draws on ``ax`` if given (to combine plots in one figure) or on a new figure,
and returns the figure so that notebooks show it and scripts and tests can save it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .errors import ArgumentTypeError, InvalidInputError
from .validation import check_instance, check_int, short_repr


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _series(name: str, values: object, finite: bool = True) -> list[float]:
    """``values`` as a list of floats: a non-empty list, tuple, array or tensor of (finite) real numbers."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a list of numbers (as the training loops return); got "
                                f"{short_repr(values)} ({type(values).__name__}).")
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must hold numbers only; got {short_repr(values)}.") from None
    if not numbers:
        raise InvalidInputError(f"{name} is empty: there is nothing to plot. Train for at least one evaluation first.")
    if finite and not all(math.isfinite(v) for v in numbers):
        raise InvalidInputError(f"{name} holds a non-finite value ({next(v for v in numbers if not math.isfinite(v))}): "
                                "the run diverged, so the curve cannot be drawn. Lower the learning rate and train again.")
    return numbers


def _same_length(**series: list[float]) -> None:
    if len({len(values) for values in series.values()}) > 1:
        names = list(series)
        raise InvalidInputError(f"{', '.join(names[:-1])} and {names[-1]} must have the same length (one value per "
                                f"evaluation); got {', '.join(str(len(v)) for v in series.values())}.")


def plot_losses(
    epochs_seen: Sequence[float],
    tokens_seen: Sequence[int],
    train_losses: Sequence[float],
    val_losses: Sequence[float],
    ax: Axes | None = None,
) -> Figure:
    """Plot training and validation loss against epochs, with a second x-axis of tokens seen (the seed's figure)."""
    epochs_seen, tokens_seen = _series("epochs_seen", epochs_seen), _series("tokens_seen", tokens_seen)
    train_losses, val_losses = _series("train_losses", train_losses), _series("val_losses", val_losses)
    _same_length(epochs_seen=epochs_seen, tokens_seen=tokens_seen, train_losses=train_losses, val_losses=val_losses)
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
    tokens_seen = _series("tokens_seen", tokens_seen)
    train_losses, val_losses = _series("train_losses", train_losses), _series("val_losses", val_losses)
    _same_length(tokens_seen=tokens_seen, train_losses=train_losses, val_losses=val_losses)
    if max(train_losses + val_losses) > 700:  # math.exp overflows a float just above 709
        raise InvalidInputError(f"A loss of {max(train_losses + val_losses):g} has a perplexity too large to draw; "
                                "losses of a working run lie between 0 and about 11 (ln 50,257).")
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
    track_lrs = _series("track_lrs", track_lrs)
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
    check_int("num_epochs", num_epochs, minimum=1)
    check_instance("history", history, (tuple, list), "what train_model_simple or train_model returned")
    if len(history) < 3:
        raise InvalidInputError(f"history must hold train_losses, val_losses and tokens_seen (what the training loops "
                                f"return); got {len(history)} item(s).")
    train_losses, val_losses, tokens_seen = history[0], history[1], history[2]
    epochs = [num_epochs * i / max(len(train_losses) - 1, 1) for i in range(len(train_losses))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    plot_losses(epochs, tokens_seen, train_losses, val_losses, ax=left)
    plot_perplexity(tokens_seen, train_losses, val_losses, ax=right)
    fig.tight_layout()
    return fig


def plot_loss_chain(target_probas: Sequence[float], labels: Sequence[str], vocab_size: int = 50257) -> Figure:
    """Draw how the loss is made: each correct token's probability, its ``-log``, and their mean (notebook 02).

    ``target_probas`` holds the probability the model gave to the correct next token at each
    position (one per prediction); ``labels`` names each prediction (``"every → ' effort'"``).
    The left panel compares the probabilities with a uniform guess (``1 / vocab_size``, log
    scale); the right one shows ``-log p`` per prediction and their mean, the cross-entropy loss.
    """
    probas = _series("target_probas", target_probas)
    check_instance("labels", labels, (list, tuple), "a list of str, one per prediction")
    check_int("vocab_size", vocab_size, minimum=2)
    if len(probas) != len(labels):
        raise InvalidInputError(f"target_probas and labels must have the same length; got {len(probas)} and {len(labels)}.")
    if not all(0 < p <= 1 for p in probas):
        raise InvalidInputError(f"target_probas must be probabilities in (0, 1]; got {probas}.")
    neg_logs = [-math.log(p) for p in probas]
    loss = sum(neg_logs) / len(neg_logs)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    positions = range(len(probas))
    left.bar(positions, probas, color="tab:blue")
    left.axhline(1 / vocab_size, color="gray", linestyle="--", label=f"uniform guess 1/{vocab_size:,}")
    left.set_yscale("log")
    left.set_ylim(min(min(probas), 1 / vocab_size) / 3, max(max(probas), 1 / vocab_size) * 3)  # room for every bar
    left.set_title("1. Probability of each correct next token")
    left.set_ylabel("Probability (log scale)")
    right.bar(positions, neg_logs, color="tab:orange")
    right.axhline(loss, color="black", linestyle="--", label=f"mean = loss = {loss:.3f}")
    right.set_ylim(0, max(neg_logs) * 1.35)  # room above the bars for the legend
    right.set_title("2. Minus its log, then the mean")
    right.set_ylabel("-log(probability), nats")
    for ax in (left, right):
        ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlabel("Prediction (context → correct next token)")
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_top_k_top_p(
    logits,
    tokenizer,
    top_k: int,
    top_p: float,
    num_tokens: int = 15,
    title: str = "Top-k and top-p on one next-token distribution",
) -> Figure:
    """Draw how many next tokens top-k and top-p keep from one real distribution (notebook 05).

    ``logits`` is one position's ``(vocab_size,)`` logits, already divided by the temperature;
    ``tokenizer.decode`` names the tokens. Left: the ``num_tokens`` most likely tokens and their
    probabilities, the ``top_k`` that ``top_k_filter`` keeps in colour, the cut ones grey. Right:
    the cumulative probability of the tokens, most likely first, on a log scale of ranks, with the
    ``top_p`` threshold and the tokens ``top_p_filter`` keeps shaded. The kept sets are computed with
    those two functions, so the picture shows what sampling does.
    """
    import torch  # noqa: PLC0415

    from .sampling import top_k_filter, top_p_filter  # noqa: PLC0415 (plots stays importable without sampling)

    check_instance("logits", logits, torch.Tensor, "a torch.Tensor of one position's logits")
    check_int("num_tokens", num_tokens, minimum=1)
    if logits.dim() != 1:
        raise InvalidInputError(f"logits must be one position's (vocab_size,) logits; got shape {tuple(logits.shape)}.")
    probs = logits.float().softmax(dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    ids, shown = order[:num_tokens].tolist(), sorted_probs[:num_tokens].tolist()
    kept_k = (~top_k_filter(logits, top_k).isinf())[order]  # in rank order
    num_kept_p = int((~top_p_filter(logits, top_p).isinf()).sum())
    cumulative = sorted_probs.cumsum(dim=0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))

    positions = list(range(len(ids)))
    colors = ["tab:blue" if keep else "lightgray" for keep in kept_k[: len(ids)].tolist()]
    left.bar(positions, shown, color=colors, edgecolor="dimgray", linewidth=0.5)
    left.legend(handles=[Patch(color="tab:blue", label=f"kept by top_k={top_k}"),
                         Patch(color="lightgray", label="cut: probability set to 0")], loc="upper right", fontsize=8)
    labels = [repr(tokenizer.decode([i])) for i in ids]  # repr shows leading spaces and line breaks
    left.set_xticks(positions, labels, rotation=45, ha="right", fontsize=8)
    left.set_ylim(0, max(shown) * 1.3)  # room above the bars for the legend
    left.set_xlabel(f"The {len(ids)} most likely next tokens")
    left.set_ylabel("Probability")
    left.set_title(f"top_k={top_k}: always {top_k} tokens, here {float(cumulative[top_k - 1]):.0%} of the probability",
                   fontsize=10)

    ranks = list(range(1, len(cumulative) + 1))
    right.plot(ranks, cumulative.tolist(), color="black", linewidth=1.2, label="cumulative probability")
    right.fill_between(ranks[:num_kept_p], cumulative[:num_kept_p].tolist(), color="tab:orange", alpha=0.5)
    right.text(0.2, 0.7, f"shaded: the {num_kept_p:,} tokens\nkept by top_p={top_p:g}", transform=right.transAxes,
               fontsize=9, color="saddlebrown")  # under the top_p line, above the curve's slow start
    right.axhline(top_p, color="tab:orange", linestyle="--", linewidth=1, label=f"top_p = {top_p:g}")
    right.axvline(top_k, color="tab:blue", linestyle=":", linewidth=1.5, label=f"top_k = {top_k}")
    right.set_xscale("log")
    right.set_ylim(0, 1.02)
    right.set_xlabel("Number of most likely tokens (log scale)")
    right.set_ylabel("Cumulative probability")
    right.set_title(f"top_p={top_p:g}: as many tokens as it takes to reach {top_p:.0%}", fontsize=10)
    right.legend(loc="lower right", fontsize=8)  # right of the shaded tokens
    fig.suptitle(title)
    fig.tight_layout()
    return fig
