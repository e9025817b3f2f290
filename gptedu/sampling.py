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

from .errors import ArgumentTypeError, ConfigError, InvalidInputError
from .validation import check_instance, check_int, check_int_or_none, check_interval, short_repr

#: The temperatures that work besides 0 (greedy). Below MIN_TEMPERATURE sampling is greedy in effect, and
#: far below it logits / temperature overflow (1e-45 turns every logit into +-inf, and softmax into NaN);
#: above MAX_TEMPERATURE every token is about equally likely (and past float32's 3.4e38 the division gives NaN).
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3

_TOP_P_HINT = "1 keeps every token; try 0.9: sample among the most likely tokens that together hold 90% of the probability."


def check_temperature(temperature: float, allow_zero: bool = True) -> float:
    """Return ``temperature`` as a float if it is 0 (greedy; only with ``allow_zero``) or in [0.001, 1000].

    Raises ``ArgumentTypeError`` for a non-number and ``ConfigError`` for a negative, non-finite,
    absurdly small or huge temperature, saying which range works.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ArgumentTypeError(f"temperature must be a number (0 means greedy, 1.0 the model's own distribution); "
                                f"got {short_repr(temperature)} ({type(temperature).__name__}).")
    value = float(temperature)
    if value == 0 and allow_zero:
        return value
    if MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:  # False for NaN too
        return value
    if value == 0:
        why = "Dividing by 0 is greedy decoding: take the argmax of the logits instead."
    elif value < 0:
        why = "A negative temperature would make the least likely tokens the most likely."
    elif value < MIN_TEMPERATURE:
        why = (f"Below {MIN_TEMPERATURE:g} sampling is greedy in effect, and logits / temperature can overflow to "
               "inf, which makes the probabilities NaN: use temperature=0 for greedy decoding.")
    else:
        why = f"Above {MAX_TEMPERATURE:g} (or infinite) every token is about equally likely: try 1.0 to 2.0."
    works = f"from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}"
    works = f"0 (greedy) or a number {works}" if allow_zero else f"a number {works} (> 0)"
    raise ConfigError(f"temperature must be {works}; got {temperature!r}. {why}")


def check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise a clear gptedu error for a temperature, ``top_k`` or ``top_p`` that cannot work.

    ``temperature``: 0 (greedy) or in [0.001, 1000]; ``top_k``: ``None`` or an integer >= 1;
    ``top_p``: ``None`` or a number in (0, 1]. Type errors raise ``ArgumentTypeError``, values
    out of range ``ConfigError`` (a ``ValueError``).
    """
    check_temperature(temperature)
    check_int_or_none("top_k", top_k, 1, hint="Use None to keep every token, or a number such as 50.")
    if top_p is not None:
        check_interval("top_p", top_p, 0, 1, low_open=True, hint=_TOP_P_HINT)


def check_logits(logits: torch.Tensor, name: str = "logits") -> torch.Tensor:
    """Return ``logits`` if it is a floating-point tensor with a vocabulary dimension; raise a clear error otherwise."""
    check_instance(name, logits, torch.Tensor, "a tensor of logits, shape (vocab_size,) or (batch, vocab_size)")
    if not logits.is_floating_point() or logits.dim() == 0 or logits.shape[-1] == 0:
        raise InvalidInputError(
            f"{name} must be a float tensor of shape (vocab_size,) or (batch, vocab_size); got shape "
            f"{tuple(logits.shape)} and dtype {logits.dtype}. Pass the model's output for the last position: "
            "model(idx)[:, -1, :]."
        )
    return logits


def check_finite_logits(logits: torch.Tensor) -> torch.Tensor:
    """Return ``logits`` if no value is NaN or +inf and every row keeps a finite logit; raise a clear error otherwise.

    NaN logits come from broken weights (a run that diverged, a damaged file); without this check
    greedy decoding silently picks token 0 (``"!"``) and sampling fails inside ``torch.multinomial``.
    ``-inf`` is fine: it is how ``top_k_filter`` and ``top_p_filter`` remove tokens.
    """
    check_logits(logits)
    if bool(torch.isfinite(logits.sum())):
        return logits  # the usual case, in one pass: a sum is finite only if every value is
    bad = torch.isnan(logits) | torch.isposinf(logits)
    if bool(bad.any()):
        raise InvalidInputError(
            f"The model's logits hold {int(bad.sum()):,} NaN or +inf values (of {logits.numel():,}): its weights are broken, "
            "for example by a training run that diverged or a damaged file. Load the last good checkpoint "
            "(load_checkpoint / load_model), or train again with a lower learning rate."
        )
    if logits.dim() > 0 and bool(torch.isneginf(logits).all(dim=-1).any()):
        raise InvalidInputError("Every logit of a row is -inf, so no token is left to choose. Loosen top_k / top_p.")
    return logits


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature`` (0.001 to 1000): below 1 sharpens the distribution, above 1 flattens it.

    Raises ``ConfigError`` for a temperature outside that range (0 included: take the argmax
    for greedy decoding) instead of returning infinite or NaN values.
    """
    return check_logits(logits) / check_temperature(temperature, allow_zero=False)


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The book's ``softmax_with_temperature``: probabilities ``softmax(logits / temperature)`` over the last dimension."""
    return torch.softmax(apply_temperature(logits, temperature), dim=-1)


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep each row's ``top_k`` largest logits and set the others to -inf.

    Tokens tied with the k-th largest logit are all kept; ``top_k`` at or above the
    vocabulary size keeps everything. Works on ``(vocab,)`` or ``(batch, vocab)`` logits.
    """
    check_logits(logits)
    check_int("top_k", top_k, 1, hint="Pass a number such as 50, or skip the filter to keep every token.")
    k = min(top_k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): each row's own threshold
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filter: keep the most likely tokens that together hold ``top_p`` of the probability.

    Sorting from least to most likely, tokens are dropped while the probability they hold
    together stays at or below ``1 - top_p``; the most likely token is always kept. Dropped
    logits become -inf. Works on ``(vocab,)`` or ``(batch, vocab)`` logits.
    """
    check_logits(logits)
    check_interval("top_p", top_p, 0, 1, low_open=True, hint=_TOP_P_HINT)
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
    check_logits(logits)
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
    check_finite_logits(logits)  # broken weights: a clear error, not "!!!!" or a torch.multinomial traceback
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if temperature == 0:
        return torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
    logits = apply_temperature(logits, temperature)
    if top_p is not None and top_p < 1:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # (B, vocab)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
