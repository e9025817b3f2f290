"""Turning a model's logits into new tokens: greedy decoding, temperature and top-k (notebooks 04, 05).

``generate_text_simple`` always takes the most likely next token. ``generate_text`` is the
seed's function: it can keep only the ``top_k`` most likely tokens, divide the logits by a
``temperature`` and sample, and stop early at an end-of-text token ``eos_id``.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _check_generation_args(idx: torch.Tensor, max_new_tokens: int, context_size: int) -> None:
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] == 0:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(
            f"idx must be a (batch, num_tokens) tensor with at least one token; got {shape}. "
            "Use text_to_token_ids(prompt, tokenizer) on a non-empty prompt."
        )
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0; got {max_new_tokens!r}.")
    if isinstance(context_size, bool) or not isinstance(context_size, int) or context_size < 1:
        raise ValueError(f"context_size must be a positive integer (the model's context_length); got {context_size!r}.")


def generate_text_simple(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> torch.Tensor:
    """Append ``max_new_tokens`` greedily chosen tokens to ``idx`` (``(batch, num_tokens)``) and return it.

    Each step feeds at most the last ``context_size`` tokens to the model and appends the
    token with the highest logit at the last position.
    """
    _check_generation_args(idx, max_new_tokens, context_size)
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # (B, <= context_size): crop to what the model supports
        with torch.no_grad():
            logits = model(idx_cond)  # (B, T, vocab_size)
        logits = logits[:, -1, :]  # (B, vocab_size): only the last position predicts a new token
        idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
        idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
    return idx


def generate_text(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_id: int | None = None,
) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` tokens after ``idx`` with the seed's options.

    ``top_k`` keeps only the k largest logits; ``temperature > 0`` divides the logits by it
    and samples from the softmax (below 1: more predictable, above 1: more varied);
    ``temperature=0`` picks the most likely token. Stops early when every sequence's next
    token is ``eos_id``. Returns the ``(batch, num_tokens)`` tensor of prompt plus new tokens.
    """
    _check_generation_args(idx, max_new_tokens, context_size)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy); got {temperature}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}.")
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]
        with torch.no_grad():
            logits = model(idx_cond)
        logits = logits[:, -1, :]  # (B, vocab_size)
        if top_k is not None:
            top_logits, _ = torch.topk(logits, min(top_k, logits.shape[-1]))
            min_val = top_logits[:, -1:]  # (B, 1): the k-th largest logit of each row
            logits = torch.where(logits < min_val, torch.tensor(float("-inf"), device=logits.device), logits)
        if temperature > 0.0:
            probs = torch.softmax(logits / temperature, dim=-1)  # (B, vocab_size)
            idx_next = torch.multinomial(probs, num_samples=1)  # (B, 1)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
        if eos_id is not None and bool((idx_next == eos_id).all()):
            break  # stop before appending the end-of-text token, as the seed does
        idx = torch.cat((idx, idx_next), dim=1)
    return idx
