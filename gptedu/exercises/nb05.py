"""Exercises of notebook 05 · Sampling strategies.

The book's exercises 5.1 (how often is "pizza" drawn at each temperature), 5.2 (play with
temperature and top-k) and 5.3 (which settings make generation deterministic), and three
implement-its checked against gptedu's own functions: ``top_k_filter`` and ``top_p_filter``
on small logits tensors (the book's 9-word toy vocabulary and seeded random rows), and the
book's ``generate`` loop with temperature, top-k and an end token, on a 2-layer GPT of width
16 and context 8, against ``generate_text(use_cache=False)`` with the same seeded generator.
"""

from __future__ import annotations

import functools
import math

import torch

from ..generation import generate_text
from ..model import GPTModel
from ..sampling import softmax_with_temperature, top_k_filter, top_p_filter
from .core import Case, Exercise, Mistake, answer_hash, describe, register

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import torch

from gptedu import GPTModel, generate_text, sample_next_token, show_source, softmax_with_temperature
from gptedu.exercises import check, hint, list_exercises, solution

# The book's toy vocabulary and next-token logits (section 3)
vocab = {"closer": 0, "every": 1, "effort": 2, "forward": 3, "inches": 4,
         "moves": 5, "pizza": 6, "toward": 7, "you": 8}
inverse_vocab = {i: word for word, i in vocab.items()}
next_token_logits = torch.tensor([4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79])

list_exercises("05")"""

#: The same toy vocabulary and logits as SETUP's (the book's, section 3 of the notebook): the worked answers use them.
vocab = {"closer": 0, "every": 1, "effort": 2, "forward": 3, "inches": 4, "moves": 5, "pizza": 6, "toward": 7, "you": 8}
TOY_LOGITS = (4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79)
next_token_logits = torch.tensor(TOY_LOGITS)
PIZZA = vocab["pizza"]
TEMPERATURES = (1, 0.1, 5)


def _toy_logits() -> torch.Tensor:
    """A fresh copy of the toy logits (a student's function may change its input in place)."""
    return torch.tensor(TOY_LOGITS)


# ---------------------------------------------------------------- 05.1 how often pizza is drawn (book 5.1)

#: For each count tuple drawn the book's way (1,000 single draws), the counts of the other way
#: (section 3's ``count_draws``: 1,000 draws in one ``torch.multinomial`` call); both are accepted.
_ONE_CALL_WAY: dict[tuple, tuple] = {}


@functools.cache
def _pizza_counts(temperatures: tuple, reseed: bool = True) -> tuple[int, ...]:
    """Pizza's count in 1,000 draws at each temperature, seeded with 123 as the book's ``print_sampled_tokens``.

    ``reseed=False`` seeds once before the first temperature only (a common slip). A fresh
    ``torch.Generator`` seeded 123 draws what ``torch.manual_seed(123)`` would, without
    touching the student's global random state. Also records the one-call way's counts.
    """
    book, one_call = [], []
    book_generator, one_call_generator = torch.Generator().manual_seed(123), torch.Generator().manual_seed(123)
    for temperature in temperatures:
        if reseed:
            book_generator.manual_seed(123)
            one_call_generator.manual_seed(123)
        probas = softmax_with_temperature(_toy_logits(), temperature)
        draws = [torch.multinomial(probas, num_samples=1, generator=book_generator).item() for _ in range(1_000)]
        book.append(draws.count(PIZZA))
        many = torch.multinomial(probas, 1_000, replacement=True, generator=one_call_generator)
        one_call.append(int((many == PIZZA).sum()))
    _ONE_CALL_WAY[tuple(book)] = tuple(one_call)
    _ONE_CALL_WAY[tuple(c / 1_000 for c in book)] = tuple(c / 1_000 for c in one_call)  # the same, as fractions
    return tuple(book)


def _pizza_probabilities() -> tuple[float, ...]:
    return tuple(softmax_with_temperature(_toy_logits(), t)[PIZZA].item() for t in TEMPERATURES)


def _as_tuple(value):
    if isinstance(value, torch.Tensor):
        return tuple(value.tolist()) if value.dim() > 0 else value.item()
    return tuple(value) if isinstance(value, list) else value


def _compare_one(expected: tuple, got: tuple) -> str | None:
    """Counts (ints) must be equal; fractions and probabilities within 1% (or 1e-4)."""
    if not isinstance(got, tuple) or len(got) != len(expected):
        return f"expected a tuple of {len(expected)} numbers (one per temperature), got {describe(got)}"
    for temperature, e, g in zip(TEMPERATURES, expected, got, strict=True):
        if isinstance(g, bool) or not isinstance(g, (int, float)):
            return f"expected numbers, got {describe(g)} for temperature {temperature}"
        close = g == e if isinstance(e, int) else math.isclose(g, e, rel_tol=1e-2, abs_tol=1e-4)
        if not close:
            return f"at temperature {temperature} your value {describe(g)} is off"
    return None


def _compare_counts(expected, got) -> str | None:
    """Accept the book's way (1,000 single draws) and the one-call way (section 3's count_draws)."""
    got = _as_tuple(got)
    difference = _compare_one(expected, got)
    if difference and expected in _ONE_CALL_WAY and _compare_one(_ONE_CALL_WAY[expected], got) is None:
        return None
    return difference


def solve_05_1():
    counts = []
    for temperature in (1, 0.1, 5):
        probas = softmax_with_temperature(next_token_logits, temperature)
        torch.manual_seed(123)  # as the book's print_sampled_tokens: the same seed at each temperature
        sample = [torch.multinomial(probas, num_samples=1).item() for _ in range(1_000)]
        counts.append(sample.count(vocab["pizza"]))
        # The faster, exact way: 1_000 * probas[vocab["pizza"]] is the expected count, free of sampling noise
    return tuple(counts)


register(Exercise(
    id="05.1",
    title="How often is pizza drawn?",
    kind="numeric",
    minutes=8,
    book="5.1",
    statement=(
        "Draw the next word of the toy example 1,000 times at each of the temperatures 1, 0.1 and 5, the book's\n"
        "way (its `print_sampled_tokens`): for each temperature, `probas = softmax_with_temperature(next_token_logits,\n"
        "temperature)`, then `torch.manual_seed(123)`, then 1,000 draws `torch.multinomial(probas, num_samples=1)`.\n"
        "(Section 3's `count_draws`, which draws the 1,000 in one call with a generator seeded 123, is accepted too.)\n"
        "How often is *pizza* drawn? Put the three counts in `answer` as a tuple `(at T=1, at T=0.1, at T=5)`.\n\n"
        "Then the book's second question: is there a faster, exact way to say how often *pizza* would be drawn?\n"
        "Compare your counts with `1_000 * probas[vocab[\"pizza\"]]`."
    ),
    hints=(
        "`next_token_logits`, `vocab` and `softmax_with_temperature` are in the first cell of this section. "
        "Count with `sample.count(vocab[\"pizza\"])` or `torch.bincount`.",
        "Seed again before *each* temperature, as `print_sampled_tokens` does: seeding once before the loop gives "
        "other draws at 0.1 and 5.",
        "The temperature divides the logits: `softmax_with_temperature(logits, 5)` is `softmax(logits / 5)`, the "
        "flat distribution. The answer is three whole counts, not probabilities.",
    ),
    name="answer",
    stub="answer = None  # a tuple of three counts: (at T=1, at T=0.1, at T=5)",
    reference=lambda: _pizza_counts(TEMPERATURES),
    compare=_compare_counts,
    mistakes=(
        Mistake("You multiplied the logits by the temperature; divide them by it (temperature 5 flattens the "
                "distribution, 0.1 sharpens it).", lambda expected: _pizza_counts((1, 10, 0.2))),
        Mistake("You seeded once before all three temperatures; the book's print_sampled_tokens calls "
                "torch.manual_seed(123) again before each one.", lambda expected: _pizza_counts(TEMPERATURES, reseed=False)),
        Mistake("Those are the exact probabilities of pizza; the question asks how many of the 1,000 seeded draws "
                "are pizza (whole counts).", lambda expected: _pizza_probabilities()),
        Mistake("Those are fractions of the 1,000 draws; give the counts themselves (multiply by 1,000).",
                lambda expected: tuple(c / 1_000 for c in expected)),
        Mistake("That is 1,000 times pizza's probability: the expected count, the book's faster exact answer. The "
                "question first asks what the seeded draws gave: count them.",
                lambda expected: tuple(1_000 * p for p in _pizza_probabilities())),
    ),
    solution=solve_05_1,
    observe=("Measured here (torch 2.13 CPU), the book's way: pizza is drawn 0, 0 and 32 times at temperatures 1, 0.1 "
             "and 5 (the one-call way of section 3 gives 0, 0 and 41). The exact expected counts are 1,000 x p: "
             "0.1, 0.0 (about 1e-35) and 43.0, faster to compute and free of sampling noise."),
))


# ---------------------------------------------------------------- 05.2 top-k by hand


def _top_k_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(5)
    return [
        Case("the toy logits of 9 words with top_k=3", (_toy_logits(), 3)),
        Case("2 rows of random logits over 10 tokens with top_k=2", (torch.randn(2, 10, generator=generator) * 2, 2)),
        Case("3 rows of random logits over 50 tokens with top_k=5", (torch.randn(3, 50, generator=generator) * 3, 5)),
        Case("1 row of random logits over 6 tokens with top_k=1", (torch.randn(1, 6, generator=generator), 1)),
    ]


def top_k_by_hand(logits, top_k):
    top_logits, _ = torch.topk(logits, top_k, dim=-1)  # (..., top_k): each row's largest, in descending order
    min_val = top_logits[..., -1:]  # (..., 1): each row's k-th largest, kept as a column to compare with its row
    return torch.where(logits < min_val, torch.tensor(float("-inf")), logits)


def _kth_largest(logits: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(logits, k, dim=-1).values[..., -1:]


register(Exercise(
    id="05.2",
    title="Top-k filtering by hand",
    kind="implement",
    minutes=8,
    statement=(
        "Write `top_k_by_hand(logits, top_k)` without `top_k_filter`: `logits` has shape `(vocab,)` or\n"
        "`(batch, vocab)`, and `1 <= top_k <= vocab`. Keep each row's `top_k` largest logits unchanged, set all\n"
        "the others to `-inf`, and return a tensor of the same shape (as section 4's `top_k_filter`)."
    ),
    hints=(
        "`torch.topk(logits, top_k, dim=-1)` returns each row's `top_k` largest values, largest first; the last "
        "of them is the row's threshold.",
        "Compare every logit with its own row's threshold: keep the threshold's last dimension (`[..., -1:]`) so "
        "that it broadcasts along the row.",
        "`torch.where(logits < threshold, torch.tensor(float(\"-inf\")), logits)`: a logit equal to the threshold "
        "is the k-th and is kept; -inf, not 0, is what gets probability 0 after softmax.",
    ),
    name="top_k_by_hand",
    stub=(
        "def top_k_by_hand(logits, top_k):\n"
        "    \"\"\"logits: (vocab,) or (batch, vocab). Keep each row's top_k largest logits, the others become -inf.\"\"\"\n"
        "    # Your code here: torch.topk for each row's threshold, then torch.where\n"
        "    raise NotImplementedError"
    ),
    reference=top_k_filter,
    cases=_top_k_cases,
    mistakes=(
        Mistake("You kept only top_k - 1 logits per row: the k-th largest itself must stay (drop logits < it, "
                "not <= it).", lambda logits, k: logits.masked_fill(logits <= _kth_largest(logits, k), float("-inf"))),
        Mistake("You kept top_k + 1 logits per row: the threshold is the k-th largest logit, the last of "
                "torch.topk(logits, top_k).", lambda logits, k: top_k_filter(logits, k + 1)),
        Mistake("The dropped logits must become -inf, not 0: a logit of 0 still gets a share of the probability "
                "after softmax.", lambda logits, k: logits.masked_fill(logits < _kth_largest(logits, k), 0.0)),
        Mistake("You used one threshold for the whole batch; each row keeps its own top_k largest logits (topk "
                "along dim=-1, threshold [..., -1:]).",
                lambda logits, k: logits.masked_fill(logits < torch.topk(logits.flatten(), k).values[-1], float("-inf"))),
    ),
    solution=top_k_by_hand,
))


# ---------------------------------------------------------------- 05.3 top-p (nucleus) by hand


def _top_p_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(7)
    return [
        Case("the toy logits with top_p=0.5 (forward alone holds 57%)", (_toy_logits(), 0.5)),
        Case("2 rows of random logits over 10 tokens with top_p=0.8", (torch.randn(2, 10, generator=generator) * 2, 0.8)),
        Case("3 rows of random logits over 20 tokens with top_p=0.6", (torch.randn(3, 20, generator=generator) * 1.5, 0.6)),
        Case("the toy logits with top_p=0.9", (_toy_logits(), 0.9)),
    ]


def top_p_by_hand(logits, top_p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # most likely first
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability held by the tokens ranked above each token
    drop_sorted = mass_before >= top_p  # the tokens above already hold top_p: this one is not needed
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def _top_p_dropping_the_crossing_token(logits, top_p, keep_first=True):
    """The slip of thresholding the cumulative sum itself: the token that crosses top_p is dropped."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    drop_sorted = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1) > top_p
    if keep_first:
        drop_sorted[..., 0] = False
    return logits.masked_fill(torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted), float("-inf"))


def _top_p_unsorted(logits, top_p):
    """The slip of accumulating probabilities in vocabulary order, without sorting."""
    probs = torch.softmax(logits, dim=-1)
    return logits.masked_fill(probs.cumsum(dim=-1) - probs >= top_p, float("-inf"))


register(Exercise(
    id="05.3",
    title="Top-p (nucleus) filtering by hand",
    kind="implement",
    minutes=12,
    statement=(
        "Write `top_p_by_hand(logits, top_p)` without `top_p_filter`: `logits` has shape `(vocab,)` or\n"
        "`(batch, vocab)`, and `0 < top_p < 1`. In each row, keep the smallest set of most likely tokens whose\n"
        "probabilities (the softmax of the row) add up to at least `top_p`, and set the other logits to `-inf`.\n"
        "The most likely token is always kept. Return a tensor of the same shape (as section 5's `top_p_filter`)."
    ),
    hints=(
        "Sort each row from most to least likely (`torch.sort(..., descending=True)` also returns the order), take "
        "the softmax and its cumulative sum.",
        "A token is needed as long as the tokens ranked *above* it hold less than `top_p`: compare `cumsum - probs` "
        "with `top_p`, not the cumulative sum itself (that drops the token that crosses `top_p`).",
        "Put the sorted decisions back in vocabulary order with `torch.zeros_like(mask).scatter(-1, order, mask)`, "
        "then `logits.masked_fill(drop, float(\"-inf\"))`.",
    ),
    name="top_p_by_hand",
    stub=(
        "def top_p_by_hand(logits, top_p):\n"
        "    \"\"\"logits: (vocab,) or (batch, vocab). Keep each row's most likely tokens that together hold top_p; others -inf.\"\"\"\n"
        "    # Your code here: sort, softmax, cumulative sum, mask, back to vocabulary order\n"
        "    raise NotImplementedError"
    ),
    reference=top_p_filter,
    cases=_top_p_cases,
    mistakes=(
        Mistake("You kept one token too few: the token whose probability makes the sum cross top_p belongs to the set. "
                "Drop a token only when the tokens above it already hold top_p (cumsum - probs >= top_p).",
                _top_p_dropping_the_crossing_token),
        Mistake("You dropped a row's most likely token: when it alone holds more than top_p it must still be kept "
                "(the set is never empty).",
                lambda logits, top_p: _top_p_dropping_the_crossing_token(logits, top_p, keep_first=False)),
        Mistake("The dropped logits must become -inf, not 0: a logit of 0 still gets a share of the probability "
                "after softmax.", lambda logits, top_p: top_p_filter(logits, top_p).nan_to_num(neginf=0.0)),
        Mistake("You added the probabilities up in vocabulary order: sort each row from most to least likely first.",
                _top_p_unsorted),
    ),
    solution=top_p_by_hand,
))


# ---------------------------------------------------------------- 05.4 the book's generate with temperature and top-k

TINY_CONFIG = {"vocab_size": 30, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
               "qkv_bias": False}


def _reseed(generator: torch.Generator | None) -> None:
    if generator is not None:
        generator.manual_seed(generator.initial_seed())


@functools.cache
def _tiny_model() -> GPTModel:
    with torch.random.fork_rng():  # leave the student's global random state alone
        torch.manual_seed(5)
        model = GPTModel(TINY_CONFIG).eval()
    with torch.no_grad():  # a random model's logits are nearly flat; sharper ones make temperature slips visible
        model.out_head.weight.mul_(4)
    return model


def _generate_cases() -> list[Case]:
    model = _tiny_model()
    generator = torch.Generator().manual_seed(11)
    prompt = torch.randint(0, 30, (1, 5), generator=generator)
    batch_prompt = torch.randint(0, 30, (2, 3), generator=generator)
    new_tokens = generate_text(model, prompt, 6, 8, use_cache=False)[0, 5:].tolist()
    eos_id = next(t for i, t in enumerate(new_tokens) if i >= 2 and t not in new_tokens[:i])  # first made at step 3 or later
    return [
        Case("greedy decoding (temperature 0) of 6 tokens after 5, past the context of 8", (model, prompt, 6, 8)),
        Case("temperature 1.5 with top_k=5, 10 tokens after 5 (a generator seeded 123)", (model, prompt, 10, 8),
             {"temperature": 1.5, "top_k": 5, "generator": torch.Generator().manual_seed(123)}),
        Case("a batch of 2 prompts at temperature 0.7 with top_k=8, 6 tokens (a generator seeded 7)",
             (model, batch_prompt, 6, 8), {"temperature": 0.7, "top_k": 8, "generator": torch.Generator().manual_seed(7)}),
        Case(f"greedy decoding of up to 6 tokens with eos_id={eos_id}, a token the model produces after a few steps",
             (model, prompt, 6, 8), {"eos_id": eos_id}),
    ]


def _generate_reference(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None,
                        generator=None):
    """gptedu's ``generate_text`` (the seed's full-recompute loop), leaving the generator seeded for the next run."""
    _reseed(generator)
    out = generate_text(model, idx, max_new_tokens, context_size, temperature=temperature, top_k=top_k, eos_id=eos_id,
                        generator=generator, use_cache=False)
    _reseed(generator)  # the student's function, called next, draws the same random numbers
    return out


def _generate_with_slip(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None,
                        generator=None, position=-1, multiply=False, append_eos=False):
    """The book's loop with one slip: logits of another position, temperature multiplied, or the end token kept."""
    _reseed(generator)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(idx[:, -context_size:])[:, position, :]
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if temperature > 0:
            logits = logits * temperature if multiply else logits / temperature
            idx_next = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1, generator=generator)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)
        if eos_id is not None and bool((idx_next == eos_id).all()):
            if append_eos:
                idx = torch.cat((idx, idx_next), dim=1)
            break
        idx = torch.cat((idx, idx_next), dim=1)
    _reseed(generator)
    return idx


def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None, generator=None):
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # (B, <= context_size): crop to what the model supports
        with torch.no_grad():
            logits = model(idx_cond)  # (B, T, vocab_size)
        logits = logits[:, -1, :]  # (B, vocab_size): the last position predicts the next token
        if top_k is not None:
            top_logits, _ = torch.topk(logits, top_k)
            min_val = top_logits[:, -1:]  # (B, 1): each row's k-th largest logit
            logits = torch.where(logits < min_val, torch.tensor(float("-inf")), logits)
        if temperature > 0.0:
            logits = logits / temperature
            probs = torch.softmax(logits, dim=-1)  # (B, vocab_size)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
        if idx_next == eos_id:  # stop at the end token, without appending it (eos_id is used with a batch of 1)
            break
        idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
    return idx


register(Exercise(
    id="05.4",
    title="The book's generate: temperature, top-k and an end token",
    kind="implement",
    minutes=15,
    statement=(
        "Write the book's generation loop with sampling, `generate(model, idx, max_new_tokens, context_size,\n"
        "temperature=0.0, top_k=None, eos_id=None, generator=None)`, without `generate_text`. `idx` is a\n"
        "`(batch, num_tokens)` tensor of token IDs, one prompt per row; return it with up to `max_new_tokens` new\n"
        "tokens appended. At each step: feed the model at most the last `context_size` tokens and take the logits\n"
        "of the last position; with `top_k`, keep only each row's `top_k` largest logits (the others `-inf`); with\n"
        "`temperature > 0`, divide the logits by it and draw from the softmax with\n"
        "`torch.multinomial(probs, num_samples=1, generator=generator)` (pass the generator: the check seeds it);\n"
        "with `temperature == 0`, take the argmax. When the new token is `eos_id`, stop without appending it (the\n"
        "checks use `eos_id` with a batch of 1 only).\n\n"
        "The check runs it on a random 2-layer GPT with a vocabulary of 30 and a context of 8 tokens."
    ),
    hints=(
        "The loop of `generate_text_simple` (notebook 04) is the skeleton: crop with `idx[:, -context_size:]`, "
        "run the model under `torch.no_grad()`, keep `logits[:, -1, :]`, append with `torch.cat(..., dim=1)`.",
        "Top-k first (05.2, with the threshold as a `(batch, 1)` column), then `if temperature > 0.0:` divide and "
        "sample, `else:` argmax with `keepdim=True` so that the new token has shape `(batch, 1)`.",
        "The end token is checked before it is appended: `if idx_next == eos_id: break`.",
    ),
    name="generate",
    stub=(
        "def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None, generator=None):\n"
        "    \"\"\"Append up to max_new_tokens tokens to idx (batch, num_tokens): top-k, temperature, sampling, eos_id.\"\"\"\n"
        "    # Your code here: the loop of generate_text_simple, plus top-k, temperature and the end token\n"
        "    raise NotImplementedError"
    ),
    reference=_generate_reference,
    cases=_generate_cases,
    mistakes=(
        Mistake("You took the logits of the first position (logits[:, 0, :]); the next token is predicted by the last "
                "position: logits[:, -1, :].", functools.partial(_generate_with_slip, position=0)),
        Mistake("You multiplied the logits by the temperature; divide them by it (below 1 sharpens, above 1 flattens).",
                functools.partial(_generate_with_slip, multiply=True)),
        Mistake("You appended the end token before stopping; the book stops without appending it: check idx_next "
                "== eos_id before torch.cat.", functools.partial(_generate_with_slip, append_eos=True)),
    ),
    solution=generate,
    cpu_seconds=1,
))


# ---------------------------------------------------------------- 05.5 temperature and top-k, played with (book 5.2)

register(Exercise(
    id="05.5",
    title="Play with temperature and top-k",
    kind="experiment",
    minutes=15,
    book="5.2",
    cpu_seconds=10,
    statement=(
        "With the model trained in section 1 (run sections 1 and 2 again if you restarted the kernel), generate 30\n"
        "tokens after `\"Every effort moves you\"` with several settings, for example `temperature` 0.1, 0.7, 1.0 and\n"
        "3.0 without top-k, and 1.0 with `top_k=3`, and 1.4 with `top_k=25` (the book's), each with 5 seeds\n"
        "(`generator=torch.Generator().manual_seed(seed)`). Read the texts, and count for each setting how many of\n"
        "the 5 texts differ and how many distinct tokens they use. On the toy logits, count how many different words\n"
        "1,000 draws give at temperature 5 with and without `top_k_filter(next_token_logits, 3)`.\n\n"
        "The book's question: for which applications would you want a low temperature and a small top-k, and for\n"
        "which a high temperature and a larger top-k?"
    ),
    hints=(
        "`generate_text(model, prompt, 30, 256, temperature=t, top_k=k, generator=...)`, then "
        "`token_ids_to_text`; `len(set(tokens))` counts distinct tokens.",
        "Look at two things: how much the texts vary from seed to seed, and how often they stop making sense.",
    ),
    observe=(
        "Measured here (2-core AMD EPYC, torch 2.13 CPU; the model of section 1, 5 seeds of 30 tokens each):\n"
        "- temperature 0.1: 4 of the 5 texts differ, but only a little: 45 distinct tokens, and 32% of their "
        "4-token runs are copied from The Verdict. The model replays its training text.\n"
        "- temperature 0.7: 5 of 5 differ, 78 distinct tokens, 8% copied; 1.0: 112 tokens, 2%; 3.0: 150 tokens, 0%, "
        "and the text is noise from all over the vocabulary (\"upset Woo FPSropy rightfully principal ...\").\n"
        "- temperature 1.0 with top_k=3: 67 distinct tokens, 13% copied: varied yet readable; 1.4 with top_k=25 "
        "(the book's): 82 tokens, 1% copied.\n"
        "- The toy logits at temperature 5: 1,000 draws give all 9 words; after top_k_filter(..., 3) only 3 "
        "(closer, forward, toward): top-k caps what a high temperature can reach.\n"
        "Low temperature and a small top-k suit tasks with one right answer that should come out the same every "
        "time: factual questions, code completion, extracting or classifying, translation. A higher temperature and "
        "a larger top-k suit tasks that want variety: stories, brainstorming, several different drafts to choose "
        "from. With the real GPT-2 weights (notebook 07) the same settings give fluent text, and the trade-off "
        "between sense and variety is easier to see."
    ),
))


# ---------------------------------------------------------------- 05.6 deterministic generation (book 5.3)

register(Exercise(
    id="05.6",
    title="Which settings make generation deterministic?",
    kind="choice",
    minutes=5,
    book="5.3",
    statement=(
        "Which settings of `generate_text` switch random sampling off, so that for any model and prompt it returns\n"
        "the same tokens as `generate_text_simple` (greedy decoding), whatever the random state? Read\n"
        "`sample_next_token`, which `generate_text` calls at each step (`show_source(sample_next_token)`), before\n"
        "you answer.\n\n"
        "- **a**: `temperature=0` (with or without `top_k`), or `top_k=1` at any temperature\n"
        "- **b**: `temperature=1.0` with `generator=torch.Generator().manual_seed(123)`\n"
        "- **c**: `top_p=1.0`, at any temperature above 0\n"
        "- **d**: `temperature=1.0` with `top_p=0.5`"
    ),
    hints=(
        "Deterministic here means: no draw left to chance, and the greedy token every time. When does "
        "`torch.multinomial` have only one token to choose from?",
        "Count the finite logits left after each filter: a seed fixes which random numbers are used, it does not "
        "remove the randomness of the choice.",
    ),
    name="answer",
    options={"a": "temperature=0, or top_k=1", "b": "temperature 1 with a seeded generator",
             "c": "top_p=1.0", "d": "temperature 1 with top_p=0.5"},
    answer_hash=answer_hash("05.6", "a"),
    explanations={
        "a": "temperature=0 takes the argmax, and top-k never removes the largest logit; top_k=1 leaves one finite "
             "logit, so the softmax gives it probability 1 and multinomial can only draw it. Both give "
             "generate_text_simple's tokens (as long as the largest logit is not tied exactly).",
        "b": "A seeded generator makes a run reproducible: the same seed gives the same text again. But the tokens "
             "are still drawn at random from the distribution, so another seed gives another text, and neither is "
             "the greedy one in general.",
        "c": "top_p=1 keeps every token (generate_text skips the filter when top_p is 1), so this is plain sampling "
             "from the whole distribution.",
        "d": "top_p=0.5 keeps a single token only when the most likely one holds at least half of the probability; "
             "when the model is unsure it keeps several, and the draw among them is random.",
    },
))
