"""Logits transforms: temperature, top-k and top-p (nucleus) filtering, and sampling (notebook 05).

Each transform is a small pure function from logits to logits (or probabilities), so the
notebook can show and plot them one at a time. ``sample_next_token`` chains them in the
order ``generate_text`` uses: top-k, then temperature, then top-p on the tempered
distribution (the order of Hugging Face ``transformers``; top-k gives the same set before or
after dividing by a positive temperature). tests/test_sampling.py checks ``top_k_filter`` and
``top_p_filter`` against ``transformers``' ``TopKLogitsWarper`` and ``TopPLogitsWarper``.
"""

from __future__ import annotations

import torch


def check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ``ValueError`` for a temperature, ``top_k`` or ``top_p`` that cannot work."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy); got {temperature}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}.")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(
            f"top_p must lie in (0, 1] (1 keeps every token) or be None; got {top_p!r}. "
            "Try 0.9: sample among the most likely tokens that together hold 90% of the probability."
        )


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature`` (> 0): below 1 sharpens the distribution, above 1 flattens it."""
    if not temperature > 0:
        raise ValueError(f"apply_temperature needs a temperature > 0; got {temperature}. Use argmax for temperature 0.")
    return logits / temperature


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The book's ``softmax_with_temperature``: probabilities ``softmax(logits / temperature)`` over the last dimension."""
    return torch.softmax(apply_temperature(logits, temperature), dim=-1)


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep each row's ``top_k`` largest logits and set the others to -inf.

    Tokens tied with the k-th largest logit are all kept; ``top_k`` at or above the
    vocabulary size keeps everything. Works on ``(vocab,)`` or ``(batch, vocab)`` logits.
    """
    k = min(top_k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): each row's own threshold
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filter: keep the most likely tokens that together hold ``top_p`` of the probability.

    Sorting from least to most likely, tokens are dropped while the probability they hold
    together stays at or below ``1 - top_p``; the most likely token is always kept. Dropped
    logits become -inf. Works on ``(vocab,)`` or ``(batch, vocab)`` logits.
    """
    sorted_logits, order = torch.sort(logits, dim=-1)  # ascending: least likely first
    mass_from_bottom = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)  # probability of this token and all below it
    drop_sorted = mass_from_bottom <= 1 - top_p
    drop_sorted[..., -1] = False  # never drop the most likely token
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def next_token_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Probabilities of the next token after top-k, temperature and top-p; ``temperature=0`` puts all mass on the argmax."""
    check_sampling_args(temperature, top_k, top_p)
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    logits = apply_temperature(logits, temperature)
    if top_p is not None and top_p < 1:
        logits = top_p_filter(logits, top_p)
    return torch.softmax(logits, dim=-1)


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose one next token per row of ``(batch, vocab)`` logits; returns ``(batch, 1)`` token IDs.

    ``temperature=0`` is greedy (argmax, after top-k as in the seed). Otherwise top-k, then
    temperature, then top-p, then one draw from the softmax with ``torch.multinomial``, using
    ``generator`` when given (for reproducible samples) or PyTorch's global random state.
    """
    check_sampling_args(temperature, top_k, top_p)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if temperature == 0:
        return torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
    logits = apply_temperature(logits, temperature)
    if top_p is not None and top_p < 1:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # (B, vocab)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
