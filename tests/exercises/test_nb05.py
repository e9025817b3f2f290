"""Notebook 05's exercises beyond the generic tests: the ways of drawing that 05.1 accepts, that the
checks leave the student's random state alone, typical slips of the book's code, and that the
claims of 05.6's explanations hold for gptedu's generate_text."""

import torch

from gptedu import generate_text, generate_text_simple, softmax_with_temperature
from gptedu.exercises import check
from gptedu.exercises.core import ERROR, FAILED, PASSED
from gptedu.exercises.nb05 import TEMPERATURES, _tiny_model, _toy_logits, vocab


def _book_way(reseed=True):
    """The book's print_sampled_tokens, counting pizza, with the global random state."""
    counts = []
    torch.manual_seed(123)
    for temperature in TEMPERATURES:
        if reseed:
            torch.manual_seed(123)
        probas = softmax_with_temperature(_toy_logits(), temperature)
        sample = [torch.multinomial(probas, num_samples=1).item() for _ in range(1_000)]
        counts.append(sample.count(vocab["pizza"]))
    return tuple(counts)


def _count_draws_way():
    """Section 3's count_draws: 1,000 draws in one call with a generator seeded 123."""
    counts = []
    for temperature in TEMPERATURES:
        probas = softmax_with_temperature(_toy_logits(), temperature)
        draws = torch.multinomial(probas, 1_000, replacement=True, generator=torch.Generator().manual_seed(123))
        counts.append(int(torch.bincount(draws, minlength=9)[vocab["pizza"]]))
    return counts


def test_05_1_accepts_the_book_way_and_the_notebook_way_as_tuple_list_or_tensor():
    assert check("05.1", _book_way()).status == PASSED
    assert check("05.1", _count_draws_way()).status == PASSED
    assert check("05.1", torch.tensor(_book_way())).status == PASSED


def test_05_1_names_seeding_once_and_the_swapped_order():
    result = check("05.1", _book_way(reseed=False))
    assert result.status == FAILED and "seeded once" in result.message
    counts = _book_way()
    assert check("05.1", counts[::-1]).status == FAILED  # (T=5, T=0.1, T=1): the order matters


def test_checks_leave_the_global_random_state_alone():
    from gptedu.exercises.nb05 import generate, top_k_by_hand

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check("05.1", (1, 2, 3))
    check("05.2", top_k_by_hand)
    check("05.4", generate)
    assert torch.equal(torch.rand(3), expected)


def _book_generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None, generator=None):
    """The book's listing 5.4 as printed: its top-k threshold ``top_logits[:, -1]`` has shape (batch,)."""
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(idx[:, -context_size:])[:, -1, :]
        if top_k is not None:
            top_logits, _ = torch.topk(logits, top_k)
            min_val = top_logits[:, -1]
            logits = torch.where(logits < min_val, torch.tensor(float("-inf")), logits)
        if temperature > 0.0:
            idx_next = torch.multinomial(torch.softmax(logits / temperature, dim=-1), num_samples=1, generator=generator)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)
        if idx_next == eos_id:
            break
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def test_05_4_the_books_batch_of_one_threshold_is_caught_on_the_batch_case():
    result = check("05.4", _book_generate)
    assert result.status == ERROR and "batch of 2" in result.message


def test_05_4_sampling_without_the_generator_fails():
    from gptedu.exercises.nb05 import generate

    def unseeded(*args, generator=None, **kwargs):
        return generate(*args, generator=None, **kwargs)

    assert check("05.4", unseeded).status == FAILED


def test_05_4_generate_text_with_its_cache_passes():
    def with_cache(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None, generator=None):
        return generate_text(model, idx, max_new_tokens, context_size, temperature=temperature, top_k=top_k,
                             eos_id=eos_id, generator=generator)

    assert check("05.4", with_cache).status == PASSED


def test_05_3_the_transformers_style_ascending_filter_passes():
    def ascending(logits, top_p):  # TopPLogitsWarper's recipe
        sorted_logits, order = torch.sort(logits, dim=-1)
        drop_sorted = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1) <= 1 - top_p
        drop_sorted[..., -1] = False
        return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))

    assert check("05.3", ascending).status == PASSED


def test_05_6_explanations_hold_for_generate_text():
    model = _tiny_model()
    prompt = torch.tensor([[1, 2, 3]])
    greedy = generate_text_simple(model, prompt, 10, 8)

    def run(seed, **settings):
        return generate_text(model, prompt, 10, 8, generator=torch.Generator().manual_seed(seed), **settings)

    for seed in (1, 2, 3):  # (a): deterministic, and the greedy tokens
        assert torch.equal(run(seed, temperature=0, top_k=5), greedy)
        assert torch.equal(run(seed, temperature=1.5, top_k=1), greedy)
    seeded = [run(seed, temperature=1.0) for seed in (1, 2)]  # (b): reproducible, but random and not greedy
    assert torch.equal(seeded[0], run(1, temperature=1.0)) and not torch.equal(seeded[0], seeded[1])
    assert not torch.equal(seeded[0], greedy)
    assert not torch.equal(run(1, temperature=1.0, top_p=1.0), run(2, temperature=1.0, top_p=1.0))  # (c)
    assert not torch.equal(run(1, temperature=1.0, top_p=0.5), run(2, temperature=1.0, top_p=0.5))  # (d)
