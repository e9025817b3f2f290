"""Concept figures drawn from the real objects: tokens as pieces of the text (notebook 01), sliding
windows over token IDs and the train/validation split (notebook 03), what a checkpoint file holds
(notebook 06) and GPT-2's tensor names mapped onto the book's model (notebook 07).

Each function returns a matplotlib ``Figure`` with a title and labelled axes, so that a notebook
shows it and a test can read back what it drew. The pictures are made from the same token IDs the
notebook prints, so they always agree with the numbers beside them.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path

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


def plot_gpt2_weight_map(gpt2_shapes: dict[str, Sequence[int]], model_shapes: dict[str, Sequence[int]],
                         block: int = 0) -> Figure:
    """Draw how one block of GPT-2's file fills the book's ``GPTModel``: each GPT-2 tensor, an arrow to each parameter.

    ``gpt2_shapes`` holds the file's tensor names and shapes (``h.0.attn.c_attn.weight``: (768, 2304),
    a ``transformer.`` prefix is allowed), ``model_shapes`` the model's (``{n: tuple(p.shape) for n, p
    in model.named_parameters()}``). The arrows follow ``gptedu.pretrained.gpt2_weight_map``: orange
    ones are transposed (Conv1D's (in, out) into ``nn.Linear``'s (out, in)), ``c_attn``'s three arrows
    are its split into query, key and value, and a stored causal mask is drawn as skipped.
    """
    from .errors import ConfigError
    from .pretrained import gpt2_weight_map

    source = {name.removeprefix("transformer."): tuple(shape) for name, shape in gpt2_shapes.items()}
    prefix, target_prefix = f"h.{block}.", f"trf_blocks.{block}."
    mapping = {name: entry for name, entry in gpt2_weight_map(block + 1).items() if name.startswith(prefix)}
    missing = [name for name in mapping if name not in source]
    missing += [target for targets, _ in mapping.values() for target in targets if target not in model_shapes]
    if block < 0 or missing:
        raise ConfigError(f"Cannot draw block {block}: no shape for {', '.join(missing[:3]) or 'a negative block'}. "
                          "Pass the shapes of a GPT-2 file and of model.named_parameters() of a model with qkv_bias=True "
                          f"and at least {block + 1} blocks.")
    targets_y = {}  # each GPTModel parameter gets a row, in the book's order
    for targets, _ in mapping.values():
        for target in targets:
            targets_y[target] = -len(targets_y)
    skipped = [name for name in source if name.startswith(prefix) and name not in mapping]  # attn.bias: the mask
    fig, ax = plt.subplots(figsize=(11.5, 0.36 * (len(targets_y) + len(skipped)) + 1.6))
    box = {"boxstyle": "round,pad=0.25", "linewidth": 0.6}
    for name, (targets, transpose) in mapping.items():
        rows = [targets_y[target] for target in targets]
        y = sum(rows) / len(rows)  # a tensor that fills three parameters sits beside the middle one
        ax.text(3.9, y, f"{name.removeprefix(prefix)}  {source[name]}", ha="right", va="center", family="monospace",
                fontsize=8.5, bbox={**box, "facecolor": "#cfe2f3"})
        if len(targets) > 1:
            ax.text(3.9, y - 0.55, "cut in 3 along the last dim: query | key | value", ha="right", va="center",
                    fontsize=7.5, color="dimgray")
        for row in rows:
            ax.annotate("", xy=(6.0, row), xytext=(4.0, y), arrowprops={
                "arrowstyle": "->", "color": "#e69138" if transpose else "gray", "linewidth": 1.4 if transpose else 0.9},
                gid="transposed" if transpose else "copied")
            if transpose:
                ax.text(5.0, (y + row) / 2, ".T", ha="center", va="center", fontsize=8, color="#b45f06",
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"})
    for target, row in targets_y.items():
        ax.text(6.1, row, f"{target.removeprefix(target_prefix)}  {tuple(model_shapes[target])}", ha="left", va="center",
                family="monospace", fontsize=8.5, bbox={**box, "facecolor": "#d9ead3"})
    for index, name in enumerate(skipped):
        ax.text(3.9, -len(targets_y) - index - 0.2, f"{name.removeprefix(prefix)}  {source[name]}", ha="right",
                va="center", family="monospace", fontsize=8.5, bbox={**box, "facecolor": "white", "linestyle": "--"})
        ax.text(4.1, -len(targets_y) - index - 0.2, "skipped: the stored causal mask, GPTModel builds its own",
                va="center", fontsize=8, color="dimgray")
    ax.text(3.9, 1.1, f"GPT-2's file: h.{block}.…", ha="right", fontsize=10, weight="bold")
    ax.text(6.1, 1.1, f"GPTModel: trf_blocks[{block}].…", ha="left", fontsize=10, weight="bold")
    ax.set_xlim(0.3, 9.6)
    ax.set_ylim(-len(targets_y) - len(skipped) - 0.4, 1.7)
    ax.axis("off")
    ax.legend(handles=[Patch(facecolor="#e69138", label="transposed (.T): Conv1D (in, out) → nn.Linear (out, in)"),
                       Patch(facecolor="gray", label="copied as stored")],
              loc="lower right", fontsize=8, frameon=False)
    ax.set_title(f"How block {block} of GPT-2's weights fills trf_blocks[{block}] of GPTModel "
                 f"({len(mapping)} tensors → {len(targets_y)} parameters)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- notebook 06: what a checkpoint file holds

#: The parts of a gptedu ``.safetensors`` file, in the order ``checkpoint_contents`` lists and the figure stacks them.
CHECKPOINT_PARTS = ("model weights", "AdamW exp_avg", "AdamW exp_avg_sq", "optimizer step counts",
                    "random-number states", "header (config, progress, losses)")
_PART_COLOURS = ("#9fc5e8", "#f9cb9c", "#f6b26b", "#b4a7d6", "#b6d7a8", "#d9d9d9")
_PART_NOTES = {"AdamW exp_avg": " (running mean of the gradients)", "AdamW exp_avg_sq": " (of their squares)"}


def _checkpoint_part(name: str) -> str:
    """The part a tensor belongs to, from the names gptedu.checkpoints gives (model.*, optimizer.state.*, rng.*)."""
    if name.startswith("optimizer.state."):
        key = name.split(".", 3)[-1]  # optimizer.state.<parameter index>.<key>
        return {"exp_avg": "AdamW exp_avg", "exp_avg_sq": "AdamW exp_avg_sq"}.get(key, "optimizer step counts")
    if name.startswith(("rng.", "epoch_rng.")):
        return "random-number states"
    return "model weights"  # model.* in a checkpoint; every tensor of a save_model file


def checkpoint_contents(path: str | os.PathLike) -> dict[str, int]:
    """Bytes of a ``.safetensors`` file per part (``CHECKPOINT_PARTS``), which add up to the file's size.

    A safetensors file is an 8-byte length, a JSON header giving each tensor's byte range, then the
    tensors' bytes back to back; only the header is read, so a 2 GB checkpoint costs nothing to
    inspect. Tensors are grouped by the names gptedu gives them (a save_model file holds only
    weights); the header part counts the length, the JSON and gptedu's metadata in it (config,
    progress and the loss history, optimizer settings, SHA-256).
    """
    from .errors import ChecksumError, ConfigError, DataNotFoundError

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ConfigError(f"checkpoint_contents reads .safetensors files (save_model, save_checkpoint); got {path.name!r}.")
    if not path.is_file():
        raise DataNotFoundError(f"No such file: {path}. Save it first, e.g. save_checkpoint(path, model, optimizer).")
    size = path.stat().st_size
    with open(path, "rb") as file:
        prefix = file.read(8)
        length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else size
        try:
            if 8 + length > size:
                raise ValueError(f"the header claims {length:,} bytes but the file has {size:,}")
            header = json.loads(file.read(length))
            ranges = [(name, entry["data_offsets"]) for name, entry in header.items() if name != "__metadata__"]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ChecksumError(f"{path.name} is not a readable safetensors file ({error}): it is truncated or corrupted. "
                                "Use another copy, or save it again.") from error
    parts = dict.fromkeys(CHECKPOINT_PARTS, 0)
    for name, (begin, end) in ranges:  # byte ranges in the data that follows the header
        parts[_checkpoint_part(name)] += end - begin
    parts["header (config, progress, losses)"] = 8 + length
    if sum(parts.values()) != size:
        raise ChecksumError(f"{path.name} has {size:,} bytes but its header accounts for {sum(parts.values()):,}: it is "
                            "truncated or corrupted. Use another copy, or save it again.")
    return parts


def _bytes_label(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count / 1e3:.1f} kB"


def plot_checkpoint_contents(checkpoint_path: str | os.PathLike, model_path: str | os.PathLike | None = None) -> Figure:
    """Draw what a checkpoint file holds: one stacked bar of its parts in MB, above a save_model file's bar.

    The sizes are ``checkpoint_contents`` of each file, so each bar is as long as its file. The
    large parts carry their size; the legend gives every part's size in the checkpoint, the tiny
    ones (random states, step counts, header) too, which are too thin to see at this scale.
    """
    files = [Path(checkpoint_path)] + ([Path(model_path)] if model_path is not None else [])
    contents = [checkpoint_contents(path) for path in files]
    totals = [sum(parts.values()) for parts in contents]
    colours = dict(zip(CHECKPOINT_PARTS, _PART_COLOURS, strict=True))
    fig, ax = plt.subplots(figsize=(10, 2.6 + 0.8 * len(files)))
    for row, parts in enumerate(contents):
        left = 0.0
        for part in CHECKPOINT_PARTS:
            if not parts[part]:
                continue
            width = parts[part] / 1e6
            ax.barh(row, width, left=left, height=0.6, color=colours[part], edgecolor="white", linewidth=0.8,
                    label=f"{part}{_PART_NOTES.get(part, '')}: {_bytes_label(parts[part])}" if row == 0 else None)
            if width > 0.08 * max(totals) / 1e6:  # room for the number inside the segment
                ax.text(left + width / 2, row, _bytes_label(parts[part]), ha="center", va="center", fontsize=9)
            left += width
        ax.text(left + 0.01 * max(totals) / 1e6, row, f"{_bytes_label(totals[row])} in all", va="center", fontsize=9)
    ax.set_yticks(range(len(files)), [path.name for path in files])
    ax.invert_yaxis()  # the checkpoint on top
    ax.set_xlim(0, 1.25 * max(totals) / 1e6)  # room for the "in all" label after the longest bar
    ax.set_xlabel("Size on disk (MB = 10⁶ bytes)")
    ax.legend(title=f"In {files[0].name}:", loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=8,
              title_fontsize=8, frameon=False)
    if model_path is not None:
        adamw = contents[0]["AdamW exp_avg"] and contents[0]["AdamW exp_avg_sq"]  # what makes it larger, if AdamW's
        ax.set_title(f"{files[0].name} is {totals[0] / totals[1]:.1f} × {files[1].name}"
                     + (": the weights plus AdamW's two running averages" if adamw else ""))
    else:
        ax.set_title(f"What {files[0].name} holds")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- notebook 05: causal mask and KV cache


def causal_attention_weights(model, token_ids, layer: int = 0, head: int = 0):
    """The attention weights ``(T, T)`` of one head of one layer for ``token_ids`` ``(1, T)``, as the book computes them.

    Row i holds how much token i attends to each token j: the scores ``q_i · k_j / sqrt(head_dim)``
    with the layer's own ``mask`` buffer setting every j > i to -inf, then softmax. So the upper
    triangle is exactly 0: a token never looks ahead. Runs the real model up to that layer (eval mode).
    """
    import torch

    from .validation import check_int_between

    block_count = len(model.trf_blocks)
    check_int_between("layer", layer, 0, block_count - 1)
    att = model.trf_blocks[layer].att
    check_int_between("head", head, 0, att.num_heads - 1)
    ids = torch.as_tensor(token_ids).reshape(1, -1)  # (1, T)
    num_tokens = ids.shape[1]
    with torch.no_grad():
        x = model.tok_emb(ids) + model.pos_emb(torch.arange(num_tokens, device=ids.device))  # (1, T, d)
        for block in model.trf_blocks[:layer]:
            x = block(x)
        x = model.trf_blocks[layer].norm1(x)  # what the attention layer receives
        queries = att.W_query(x).view(1, num_tokens, att.num_heads, att.head_dim)[0, :, head]  # (T, hd)
        keys = att.W_key(x).view(1, num_tokens, att.num_heads, att.head_dim)[0, :, head]  # (T, hd)
        scores = queries @ keys.T / att.head_dim ** 0.5  # (T, T)
        scores = scores.masked_fill(att.mask.bool()[:num_tokens, :num_tokens], -torch.inf)  # no looking ahead
        return torch.softmax(scores, dim=-1)  # (T, T), upper triangle 0


def kv_cache_growth(model, token_ids, new_tokens: int) -> tuple[list[int], list[int]]:
    """Run greedy generation with a real ``KVCache``; return the token IDs and the cache length after each call.

    The first call (the prompt) computes keys and values for all its tokens; each later call for
    the one new token only, so the lengths grow ``T, T+1, T+2, ...``. Used by
    ``plot_causal_mask_and_kv_cache``; ``len(cache)`` is read from the cache itself.
    """
    import torch

    from .validation import check_int

    check_int("new_tokens", new_tokens, minimum=1)
    ids = torch.as_tensor(token_ids).reshape(1, -1)  # (1, T)
    cache = model.new_kv_cache()
    lengths = []
    step_input = ids
    with torch.no_grad():
        for _ in range(new_tokens):
            logits = model(step_input, cache)  # (1, T_new, vocab): only the tokens the cache has not seen
            lengths.append(len(cache))
            step_input = logits[:, -1].argmax(dim=-1, keepdim=True)  # (1, 1): the next token, greedy
            ids = torch.cat((ids, step_input), dim=1)
    return ids[0].tolist(), lengths


def plot_causal_mask_and_kv_cache(model, token_ids, tokenizer, new_tokens: int = 4) -> Figure:
    """Draw the causal mask on real attention weights (left) and a KV cache growing during generation (right).

    Left: ``causal_attention_weights`` of the first layer's first head for the prompt ``token_ids``;
    the cells above the diagonal are masked (weight exactly 0), every row sums to 1. Right: one row
    per model call of greedy generation with a cache (``kv_cache_growth``): the first call computes
    keys and values for every prompt token, each later call for one new token and reads the rest
    from the cache.
    """
    import torch

    weights = causal_attention_weights(model, token_ids)
    prompt_len = weights.shape[0]
    all_ids, lengths = kv_cache_growth(model, token_ids, new_tokens)
    labels = [_visible(tokenizer.decode([t])) for t in all_ids]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.35]})

    masked = torch.triu(torch.ones_like(weights, dtype=torch.bool), diagonal=1)
    shown = weights.masked_fill(masked, float("nan")).numpy()  # NaN: drawn as the background
    left.set_facecolor("#e6e6e6")
    image = left.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    for i in range(prompt_len):
        for j in range(prompt_len):
            text = "masked" if masked[i, j] else f"{weights[i, j]:.2f}"
            left.text(j, i, text, ha="center", va="center", fontsize=7,
                      color="gray" if masked[i, j] else ("white" if weights[i, j] > 0.6 else "black"))
    left.set_xticks(range(prompt_len), labels[:prompt_len], rotation=30, ha="right", fontsize=8)
    left.set_yticks(range(prompt_len), labels[:prompt_len], fontsize=8)
    left.set_xlabel("Key: the token attended to")
    left.set_ylabel("Query: the token attending")
    left.set_title("1. Causal mask: each token attends to itself\nand earlier tokens only (row sums = 1)", fontsize=10)
    fig.colorbar(image, ax=left, fraction=0.046, pad=0.04, label="Attention weight")

    total = len(all_ids) - 1  # the last generated token has not been fed to the model yet
    for row, length in enumerate(lengths):
        first_new = 0 if row == 0 else lengths[row - 1]
        for position in range(length):
            new = position >= first_new
            right.add_patch(Rectangle((position, row), 0.92, 0.8, facecolor="tab:orange" if new else "#cfe2f3",
                                      edgecolor="gray", linewidth=0.5))
        right.text(total + 0.2, row + 0.4, f"computed {length - first_new}, cached {first_new}", va="center", fontsize=8)
    right.set_xlim(-0.2, total + 4.2)
    right.set_ylim(len(lengths) + 1.0, -0.3)  # a free row at the bottom for the legend
    right.set_xticks([p + 0.46 for p in range(total)], labels[:total], rotation=30, ha="right", fontsize=8)
    right.set_yticks([r + 0.4 for r in range(len(lengths))],
                     ["prompt"] + [f"new token {r}" for r in range(1, len(lengths))], fontsize=8)
    right.set_xlabel("Position in the text (keys and values of each token)")
    right.set_ylabel("Model call")
    right.set_title("2. KV cache: after the prompt, each call computes keys\nand values for the new token only", fontsize=10)
    right.legend(handles=[Patch(color="tab:orange", label="computed in this call"),
                          Patch(color="#cfe2f3", label="read from the cache")], loc="lower right", ncol=2, fontsize=8)
    for side in ("top", "right"):
        right.spines[side].set_visible(False)
    fig.tight_layout()
    return fig
