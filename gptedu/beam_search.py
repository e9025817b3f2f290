"""Beam search: keep the ``num_beams`` most likely partial texts instead of one (notebook 05).

Greedy decoding commits to the single most likely token at each step; beam search keeps
``num_beams`` candidate sequences ("beams") and, at each step, extends every beam by every
token and keeps the best ``num_beams`` extensions by total log-probability. A beam that
produces ``eos_id`` (or reaches ``max_new_tokens``) is finished; its score is its total
log-probability divided by ``length ** length_penalty`` (the number of generated tokens,
end token included), so ``length_penalty > 0`` favours longer texts.

The bookkeeping follows Hugging Face ``transformers``' ``generate(num_beams=k,
do_sample=False)`` step for step (2k candidates per step, when to stop), and
tests/test_beam_search.py checks that both return the same sequences for the same weights.
Unlike ``generate_text``, a finished beam keeps its end token, as in ``transformers``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import ConfigError
from .generation import NextTokenLogits, _check_generation_args
from .model import model_vocab_size
from .sampling import check_finite_logits
from .validation import check_bool, check_float, check_int


@dataclass
class Beam:
    """A finished beam: the prompt plus its generated tokens, and its length-normalised score."""

    tokens: torch.Tensor  # (num_tokens,)
    score: float


def beam_search(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    num_beams: int = 3,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    eos_id: int | None = None,
    use_cache: bool = True,
    return_beams: bool = False,
) -> torch.Tensor | list[list[Beam]]:
    """Beam search after each prompt of ``idx`` (``(batch, num_tokens)``).

    Returns the best sequence per prompt, ``(batch, num_tokens)`` (shorter ones padded with
    ``eos_id``); with ``return_beams=True``, for each prompt the list of its ``num_beams``
    finished ``Beam``s, best first. ``early_stopping=True`` stops as soon as ``num_beams``
    beams have finished; ``False`` (the default) stops when no running beam can plausibly beat
    the finished ones; ``"never"`` assumes the running beams may grow to ``max_new_tokens``.
    """
    _check_generation_args(model, idx, max_new_tokens, context_size, eos_id)
    _check_beam_args(model, num_beams, length_penalty, early_stopping, use_cache, return_beams)
    all_beams = [
        _beam_search_one(model, idx[row:row + 1], max_new_tokens, context_size, num_beams, length_penalty,
                         early_stopping, eos_id, use_cache)
        for row in range(idx.shape[0])
    ]
    if return_beams:
        return all_beams
    best = [beams[0].tokens for beams in all_beams]
    pad = eos_id if eos_id is not None else 0
    return nn.utils.rnn.pad_sequence(best, batch_first=True, padding_value=pad)


def _check_beam_args(model, num_beams, length_penalty, early_stopping, use_cache, return_beams) -> None:
    check_int("num_beams", num_beams, 1, hint="3 to 5 beams are usual; 1 is greedy decoding.")
    vocab_size = model_vocab_size(model)
    if vocab_size is not None and 2 * num_beams > vocab_size:
        raise ConfigError(f"num_beams={num_beams} is too many for a vocabulary of {vocab_size} tokens: each step ranks "
                          f"2 * num_beams candidates. Use num_beams <= {vocab_size // 2}.")
    check_float("length_penalty", length_penalty, hint="1.0 divides by the length; 0 compares total log-probabilities.")
    # `in (True, False, "never")` would let 1 and 0 through (1 == True): compare by identity
    if not (early_stopping is True or early_stopping is False or early_stopping == "never"):
        raise ConfigError(f"early_stopping must be True, False or 'never'; got {early_stopping!r}.")
    check_bool("use_cache", use_cache)
    check_bool("return_beams", return_beams)


def _beam_search_one(model, prompt, max_new_tokens, context_size, num_beams, length_penalty, early_stopping, eos_id,
                     use_cache) -> list[Beam]:
    """Beam search for one prompt ``(1, T)``; returns its finished beams, best first."""
    if max_new_tokens == 0:
        return [Beam(prompt[0], 0.0)]
    next_logits = NextTokenLogits(model, context_size, use_cache)
    beams = prompt.repeat(num_beams, 1)  # (k, T): all beams start as the prompt ...
    beam_scores = torch.full((num_beams,), -1e9)  # (k,) total log-probabilities
    beam_scores[0] = 0.0  # ... but only the first one counts at the first step (no k identical beams)
    finished: list[Beam] = []
    for step in range(max_new_tokens):
        log_probs = torch.log_softmax(check_finite_logits(next_logits(beams)).float(), dim=-1)  # (k, vocab)
        vocab_size = log_probs.shape[-1]
        totals = (log_probs + beam_scores[:, None]).view(-1)  # (k * vocab,): every beam extended by every token
        # 2k candidates: even if k of them end here, k others remain to continue with.
        cand_scores, flat = torch.topk(totals, 2 * num_beams)
        cand_beam, cand_token = flat // vocab_size, flat % vocab_size  # which beam, which next token
        candidates = torch.cat((beams[cand_beam], cand_token[:, None]), dim=1)  # (2k, T + 1)
        ends = torch.zeros(2 * num_beams, dtype=torch.bool) if eos_id is None else (cand_token == eos_id).cpu()
        if step == max_new_tokens - 1:
            ends[:] = True  # the last step finishes every beam

        # Finish the ending candidates among the best k (if they may still enter the top k).
        num_generated = step + 1
        full = early_stopping is True and len(finished) == num_beams
        for i in range(num_beams):
            if ends[i] and not full:
                finished.append(Beam(candidates[i], float(cand_scores[i] / num_generated**length_penalty)))
        finished = sorted(finished, key=lambda beam: -beam.score)[:num_beams]  # stable: earlier beams win ties

        # Continue with the best k candidates that did not end.
        keep = torch.topk(cand_scores + ends.float() * -1e9, num_beams).indices  # (k,)
        beams, beam_scores = candidates[keep], cand_scores[keep]
        next_logits.reorder(cand_beam[keep])  # the cache follows the beams it came from

        if bool(ends.all()) or (early_stopping is True and len(finished) == num_beams):
            break
        if not _may_improve(beam_scores[0], finished, num_beams, num_generated, max_new_tokens, length_penalty,
                            early_stopping):
            break
    return finished


def _may_improve(best_running_score, finished, num_beams, num_generated, max_new_tokens, length_penalty,
                 early_stopping) -> bool:
    """Can the best running beam still beat the worst finished one? (``transformers``' stopping heuristic)."""
    if len(finished) < num_beams:
        return True  # free places left among the finished beams
    length = max_new_tokens if early_stopping == "never" and length_penalty > 0 else num_generated
    best_possible = best_running_score / length**length_penalty
    return bool(best_possible > finished[-1].score)
