"""Turning a model's logits into new tokens: greedy decoding, sampling, beam search (notebooks 04, 05).

``generate_text_simple`` always takes the most likely next token, recomputing the whole
sequence at every step: the seed's loop, kept as the readable reference. ``generate_text``
is the seed's function with more options: ``top_k``, ``temperature`` and ``top_p`` (the
transforms live in ``sampling``), a ``generator`` for reproducible samples, per-sequence
stopping at ``eos_id``, a key/value cache (``use_cache=True``, the default) that feeds only the
new token at each step, ``num_beams`` for beam search (``beam_search``) and ``stream=True`` to
get the tokens one step at a time. With ``use_cache=False`` it is the seed's full-recompute
loop; both give the same tokens (tests/test_kv_cache.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn as nn

from .errors import ConfigError, InvalidInputError
from .model import GPTModel, model_context_length, model_vocab_size
from .sampling import check_finite_logits, check_sampling_args, sample_next_token
from .validation import check_bool, check_instance, check_int, check_int_or_none


def _check_generation_args(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int,
                           eos_id: int | None = None) -> None:
    """The checks every generation function shares: the model, the prompt, the lengths and the end token."""
    check_instance("model", model, nn.Module, "a torch model such as GPTModel(cfg)")
    check_instance("idx", idx, torch.Tensor, "a (batch, num_tokens) tensor of token IDs",
                   hint="Use text_to_token_ids(prompt, tokenizer) on a non-empty prompt.")
    if idx.dim() != 2 or idx.shape[0] == 0 or idx.shape[1] == 0:
        raise InvalidInputError(
            f"idx must be a (batch, num_tokens) tensor with at least one token (and at least one row); got {tuple(idx.shape)}. "
            "Use text_to_token_ids(prompt, tokenizer) on a non-empty prompt."
        )
    check_int("max_new_tokens", max_new_tokens, 0)
    check_int("context_size", context_size, 1, hint="Pass the model's context_length: model.cfg['context_length'].")
    context_length = model_context_length(model)
    if context_length is not None and context_size > context_length:
        raise ConfigError(
            f"context_size={context_size} exceeds the model's context_length {context_length} (the positions "
            f"model.pos_emb has), so the model could not read that many tokens. Pass context_size={context_length}, "
            "i.e. model.cfg['context_length'], or less."
        )
    check_int_or_none("eos_id", eos_id, 0, hint="Use the tokenizer's end-of-text token (tokenizer.eot_token, 50256 "
                                               "for GPT-2), or None to always generate max_new_tokens tokens.")
    vocab_size = model_vocab_size(model)
    if eos_id is not None and vocab_size is not None and eos_id >= vocab_size:
        raise ConfigError(
            f"eos_id={eos_id} is outside the model's vocabulary of {vocab_size} tokens (IDs 0 to {vocab_size - 1}), "
            "so the model could never produce it and generation would never stop early. Use the tokenizer's "
            "end-of-text token (tokenizer.eot_token, 50256 for GPT-2), or None."
        )


def generate_text_simple(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> torch.Tensor:
    """Append ``max_new_tokens`` greedily chosen tokens to ``idx`` (``(batch, num_tokens)``) and return it.

    Each step feeds at most the last ``context_size`` tokens to the model and appends the
    token with the highest logit at the last position.
    """
    _check_generation_args(model, idx, max_new_tokens, context_size)
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # (B, <= context_size): crop to what the model supports
        with torch.no_grad():
            logits = model(idx_cond)  # (B, T, vocab_size)
        logits = logits[:, -1, :]  # (B, vocab_size): only the last position predicts a new token
        check_finite_logits(logits)  # broken (NaN) weights: a clear error, not a text of "!" (token 0)
        idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
        idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
    return idx


class NextTokenLogits:
    """Last-position logits of a growing sequence, from a key/value cache or by full recomputation.

    Call it with the whole sequence so far, ``(B, T)``; it returns ``(B, vocab_size)``. With the
    cache, a call after the previous one (one token longer) feeds only the newest token. The
    model's position embeddings are absolute, so once the sequence is longer than
    ``context_size`` every position of the cropped window shifts at each step: the cache is then
    started again from the window (which costs as much as the full recomputation).
    """

    def __init__(self, model: nn.Module, context_size: int, use_cache: bool = True) -> None:
        self.model = model
        self.context_size = context_size
        # The cache needs GPTModel's forward(idx, kv_cache); in training mode (dropout) recompute as the seed does.
        self.use_cache = use_cache and isinstance(model, GPTModel) and not model.training
        self.cache = None
        self.num_seen = 0  # tokens of the sequence the cache holds

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        num_tokens = idx.shape[1]
        with torch.no_grad():
            if not self.use_cache:
                return self.model(idx[:, -self.context_size:])[:, -1, :]  # the seed's step
            if self.cache is not None and num_tokens == self.num_seen + 1 and num_tokens <= self.context_size:
                logits = self.model(idx[:, -1:], self.cache)  # (B, 1, vocab): only the new token
            else:  # first step, or the window slid: positions changed, so build a new cache
                self.cache = self.model.new_kv_cache()
                logits = self.model(idx[:, -self.context_size:], self.cache)
        self.num_seen = num_tokens
        return logits[:, -1, :]  # (B, vocab_size)

    def reorder(self, rows: torch.Tensor) -> None:
        """Follow a reordering of the batch rows (beam search keeps, drops and copies beams)."""
        if self.cache is not None:
            self.cache.reorder(rows)


def generate_text(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_id: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    num_beams: int = 1,
    stream: bool = False,
) -> torch.Tensor | Iterator[torch.Tensor]:
    """Generate up to ``max_new_tokens`` tokens after ``idx`` (``(batch, num_tokens)``).

    ``top_k`` keeps only the k largest logits; ``temperature > 0`` divides the logits by it
    and samples from the softmax (below 1: more predictable, above 1: more varied);
    ``temperature=0`` picks the most likely token; ``top_p`` keeps the smallest set of likely
    tokens holding that much probability; ``generator`` (a seeded ``torch.Generator``) makes
    the samples reproducible. A sequence that produces ``eos_id`` is finished: generation
    stops when all are (before appending their end tokens, as the seed does); in a batch, the
    rows that finished earlier are padded with ``eos_id``. Returns the prompt plus new tokens.
    The end token is never part of the returned text, with ``num_beams > 1`` too (where
    ``beam_search`` itself keeps it, as ``transformers`` does).

    ``use_cache=False`` recomputes the whole window at each step (the seed's loop);
    ``num_beams > 1`` runs ``beam_search`` and returns its best sequence; ``stream=True``
    returns an iterator that yields each step's new tokens, ``(batch, 1)``, as they are made.
    """
    _check_generation_args(model, idx, max_new_tokens, context_size, eos_id)
    check_sampling_args(temperature, top_k, top_p)
    _check_run_args(idx, generator, use_cache, num_beams, stream)
    if num_beams > 1:
        if temperature != 0 or top_k is not None or top_p is not None or stream:
            raise ConfigError("Beam search is deterministic: use num_beams > 1 with temperature=0, no top_k or top_p, "
                              "and stream=False.")
        from .beam_search import beam_search  # noqa: PLC0415 (beam_search imports this module)

        best = beam_search(model, idx, max_new_tokens, context_size, num_beams=num_beams, eos_id=eos_id,
                           use_cache=use_cache, return_beams=True)
        return _texts_without_end_token([beams[0].tokens for beams in best], idx.shape[1], eos_id)
    steps = _generate_steps(model, idx, max_new_tokens, context_size, temperature, top_k, top_p, eos_id,
                            generator, use_cache)
    if stream:
        return steps
    new_tokens = list(steps)  # each (B, 1)
    return torch.cat([idx, *new_tokens], dim=1)


def _check_run_args(idx: torch.Tensor, generator: torch.Generator | None, use_cache: bool, num_beams: int,
                    stream: bool) -> None:
    if generator is not None:
        check_instance("generator", generator, torch.Generator, "a torch.Generator or None",
                       hint="Make one with torch.Generator().manual_seed(123).")
        if generator.device.type != idx.device.type:
            raise ConfigError(
                f"generator is on the {generator.device.type} device but idx (and so the model's logits) on "
                f"{idx.device.type}; torch draws on the logits' device. Make it there: "
                f"torch.Generator(device={str(idx.device)!r}).manual_seed(123)."
            )
    check_bool("use_cache", use_cache)
    check_bool("stream", stream)
    check_int("num_beams", num_beams, 1, hint="1 means no beam search.")


def _generate_steps(model, idx, max_new_tokens, context_size, temperature, top_k, top_p, eos_id, generator,
                    use_cache) -> Iterator[torch.Tensor]:
    """Yield the ``(B, 1)`` new tokens of each step of ``generate_text``."""
    next_logits = NextTokenLogits(model, context_size, use_cache)
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)  # (B, 1)
    for _ in range(max_new_tokens):
        logits = next_logits(idx)  # (B, vocab_size)
        idx_next = sample_next_token(logits, temperature, top_k, top_p, generator)  # (B, 1)
        if eos_id is not None:
            finished = finished | (idx_next == eos_id)
            if bool(finished.all()):
                break  # stop before appending the end-of-text tokens, as the seed does
            idx_next = idx_next.masked_fill(finished, eos_id)  # finished rows only pad
        idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
        yield idx_next


def _texts_without_end_token(sequences: list[torch.Tensor], prompt_length: int, eos_id: int | None) -> torch.Tensor:
    """Drop each sequence's generated end token, then pad the rows to one length with ``eos_id`` (as sampling does)."""
    if eos_id is not None:
        sequences = [seq[:-1] if len(seq) > prompt_length and seq[-1] == eos_id else seq for seq in sequences]
    pad = eos_id if eos_id is not None else 0
    return torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=pad)  # (B, longest)
