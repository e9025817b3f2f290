"""Concept figures drawn from the real objects: tokens as pieces of the text (notebook 01), sliding
windows over token IDs and the train/validation split (notebook 03).

Each function returns a matplotlib ``Figure`` with a title and labelled axes, so that a notebook
shows it and a test can read back what it drew. The pictures are made from the same token IDs the
notebook prints, so they always agree with the numbers beside them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

_PALETTE = ("#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc", "#d0e0e3")


def _visible(piece: str) -> str:
    """Show the spaces and line breaks a token holds: '␣' for a space, '↵' for a line break."""
    return piece.replace(" ", "␣").replace("\n", "↵")


def plot_token_pieces(token_ids: Sequence[int], tokenizer, chars_per_line: int = 48) -> Figure:
    """Draw a text as its tokens: one coloured box per token with its piece of text and, below it, its ID.

    Boxes wrap like text, ``chars_per_line`` characters a line. A space that belongs to a token is
    drawn as '␣', which shows that GPT-2's tokens carry the space in front of a word.
    """
    ids = [int(t) for t in token_ids]
    if not ids:
        raise ValueError("token_ids is empty: encode some text first, e.g. tokenizer.encode('Hello, do you like tea?').")
    pieces = [_visible(tokenizer.decode([t])) for t in ids]
    rows, row, used = [], [], 0
    for token_id, piece in zip(ids, pieces, strict=True):
        width = max(len(piece), len(str(token_id))) + 1  # room for the piece or its ID, whichever is wider
        if row and used + width > chars_per_line:
            rows.append(row)
            row, used = [], 0
        row.append((token_id, piece, used, width))
        used += width
    rows.append(row)
    fig, ax = plt.subplots(figsize=(0.19 * chars_per_line + 0.5, 0.9 * len(rows) + 0.9))
    for line, row in enumerate(rows):
        y = -line * 2.0
        for index, (token_id, piece, x, width) in enumerate(row):
            colour = _PALETTE[(sum(len(r) for r in rows[:line]) + index) % len(_PALETTE)]
            ax.add_patch(Rectangle((x, y), width - 0.2, 1.0, facecolor=colour, edgecolor="gray", linewidth=0.6))
            ax.text(x + (width - 0.2) / 2, y + 0.5, piece, ha="center", va="center", family="monospace", fontsize=10)
            ax.text(x + (width - 0.2) / 2, y - 0.35, str(token_id), ha="center", va="center", fontsize=7, color="dimgray")
    ax.set_xlim(-0.5, chars_per_line + 0.5)
    ax.set_ylim(-2.0 * (len(rows) - 1) - 1.0, 1.3)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{len(ids)} tokens: each box is one token, the number under it is its ID")
    ax.set_xlabel("␣ marks a space that belongs to the token, ↵ a line break")
    fig.tight_layout()
    return fig


def plot_sliding_windows(token_ids: Sequence[int], max_length: int, strides: Sequence[int] = (1, 4),
                         num_windows: int = 4) -> Figure:
    """Draw the first windows of ``GPTDatasetV1`` over real token IDs, one panel per stride.

    Each row is a window: its ``max_length`` input tokens in blue and the one extra token its
    targets reach in orange (the targets are the inputs shifted by one). The x-axis is the
    position in the text, so the stride shows as the step from one row to the next.
    """
    ids = [int(t) for t in token_ids]
    if max_length < 1 or not strides or min(strides) < 1:
        raise ValueError(f"max_length and every stride must be at least 1; got max_length={max_length}, strides={list(strides)}.")
    fig, axes = plt.subplots(1, len(strides), figsize=(6.4 * len(strides), 0.6 * num_windows + 1.6), squeeze=False)
    widest = max(len(range(0, len(ids) - max_length, s)[:num_windows]) and
                 range(0, len(ids) - max_length, s)[:num_windows][-1] + max_length + 1 for s in strides)
    for ax, stride in zip(axes[0], strides, strict=True):
        starts = list(range(0, len(ids) - max_length, stride))[:num_windows]  # the seed's windows
        for row, start in enumerate(starts):
            y = -row
            for position in range(start, start + max_length + 1):
                is_input = position < start + max_length
                ax.add_patch(Rectangle((position, y), 0.95, 0.8, facecolor="#9fc5e8" if is_input else "#f9cb9c",
                                       edgecolor="gray", linewidth=0.5))
                ax.text(position + 0.47, y + 0.4, str(ids[position]), ha="center", va="center", fontsize=6.5)
        ax.set_xlim(-0.2, max(widest, 1) + 0.2)  # the same positions in every panel, to compare the strides
        ax.set_ylim(-len(starts) + 0.6, 1.2)
        ax.set_yticks([-row + 0.4 for row in range(len(starts))], [f"window {row}" for row in range(len(starts))])
        ax.set_xlabel("Position in the text (token index)")
        ax.set_title(f"max_length={max_length}, stride={stride}")
    axes[0][0].legend(handles=[Patch(facecolor="#9fc5e8", label="inputs"),
                               Patch(facecolor="#f9cb9c", label="last target (inputs shifted by one)")],
                      loc="lower left", fontsize=7, bbox_to_anchor=(0, 1.12), ncol=2, frameon=False)
    fig.suptitle("Sliding windows over the token IDs: the stride is the step between windows", y=0.99)
    fig.tight_layout()
    return fig


def plot_train_val_split(train_tokens: int, val_tokens: int, context_length: int, batch_size: int = 1) -> Figure:
    """Draw the story's tokens as one bar: the training part, the validation part, and the tokens windows use.

    Windows of ``context_length`` tokens (stride = context_length, as in the seed) are drawn in
    each part; the tokens no window uses (the rest of a part, and the training windows dropped
    to fill whole batches of ``batch_size``) are hatched.
    """
    if min(train_tokens, val_tokens, context_length, batch_size) < 1:
        raise ValueError(f"token counts, context_length and batch_size must be positive; got {train_tokens}, {val_tokens}, "
                         f"{context_length}, {batch_size}.")
    train_windows = len(range(0, train_tokens - context_length, context_length))
    train_windows -= train_windows % batch_size  # drop_last=True in the training loader
    val_windows = len(range(0, val_tokens - context_length, context_length))
    fig, ax = plt.subplots(figsize=(10, 2.2))
    for offset, tokens, windows, colour, name in ((0, train_tokens, train_windows, "#9fc5e8", "training"),
                                                   (train_tokens, val_tokens, val_windows, "#b6d7a8", "validation")):
        ax.add_patch(Rectangle((offset, 0), tokens, 1, facecolor="white", edgecolor="gray", hatch="///", linewidth=0.6))
        for window in range(windows):
            ax.add_patch(Rectangle((offset + window * context_length, 0), context_length, 1, facecolor=colour,
                                   edgecolor="white", linewidth=0.8))
        label = f"{name}: {tokens:,} tokens, {windows} windows of {context_length}"
        if name == "training":
            ax.text(offset + tokens / 2, 1.1, label, ha="center", va="bottom", fontsize=9)
        else:  # a narrow part: its label ends at the right edge, above the training label's height
            ax.text(offset + tokens, 1.45, label, ha="right", va="bottom", fontsize=9)
    ax.plot([train_tokens, train_tokens], [0, 1], color="black", linewidth=1.2)  # where the split falls
    ax.set_xlim(0, train_tokens + val_tokens)
    ax.set_ylim(0, 1.9)
    ax.set_yticks([])
    ax.set_xlabel("Token position in the story")
    ax.set_title("The 90/10 split: the hatched tokens are in no window")
    fig.tight_layout()
    return fig
