"""gptedu.sampling and generate_text's new options: top-p, a seeded generator, per-sequence eos, streaming.

The filters are checked against Hugging Face ``transformers``' ``TopKLogitsWarper`` and
``TopPLogitsWarper`` (the logits processors ``generate`` uses): same kept tokens, same
renormalised probabilities, on random logits, ties and edge values.
"""

import pytest
import torch

from gptedu import ArgumentTypeError, ConfigError, generate_text, generate_text_simple, text_to_token_ids
from gptedu.sampling import (
    apply_temperature,
    next_token_probs,
    sample_next_token,
    softmax_with_temperature,
    top_k_filter,
    top_p_filter,
)

transformers = pytest.importorskip("transformers")
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper  # noqa: E402

#: The book's toy next-token logits over a 9-word vocabulary.
TOY_LOGITS = torch.tensor([4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79])


def logits_cases():
    g = torch.Generator().manual_seed(0)
    return {
        "random": torch.randn(4, 50, generator=g) * 3,
        "ties": torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [2.0, 2.0, 1.0, 1.0, 1.0, -1.0]]),
        "all equal": torch.zeros(2, 8),
        "one dominant": torch.tensor([[30.0, 0.0, 0.0, 0.0, -5.0]]),
        "with -inf": torch.tensor([[2.0, float("-inf"), 1.0, 0.5, float("-inf")]]),
        "toy vocabulary": TOY_LOGITS[None, :],
    }


def assert_same_filter(ours, reference):
    assert torch.equal(torch.isinf(ours), torch.isinf(reference))  # the same kept set
    torch.testing.assert_close(torch.softmax(ours, -1), torch.softmax(reference, -1), rtol=0, atol=1e-7)


@pytest.mark.parametrize("case", list(logits_cases()))
@pytest.mark.parametrize("top_k", [1, 2, 3, 5, 8, 1000])
def test_top_k_filter_matches_transformers_top_k_warper(case, top_k):
    logits = logits_cases()[case]
    assert_same_filter(top_k_filter(logits, top_k), TopKLogitsWarper(top_k)(None, logits.clone()))


@pytest.mark.parametrize("case", list(logits_cases()))
@pytest.mark.parametrize("top_p", [1.0, 0.95, 0.9, 0.75, 0.5, 0.25, 0.1, 1e-4])
def test_top_p_filter_matches_transformers_top_p_warper(case, top_p):
    logits = logits_cases()[case]
    assert_same_filter(top_p_filter(logits, top_p), TopPLogitsWarper(top_p)(None, logits.clone()))


def test_top_k_1_keeps_only_the_largest_logit():
    kept = ~torch.isinf(top_k_filter(TOY_LOGITS, 1))
    assert kept.nonzero().flatten().tolist() == [3]  # "forward"


def test_top_k_at_least_the_vocabulary_keeps_everything():
    assert torch.equal(top_k_filter(TOY_LOGITS, 9), TOY_LOGITS)
    assert torch.equal(top_k_filter(TOY_LOGITS, 50), TOY_LOGITS)


def test_top_p_1_keeps_every_token():
    assert torch.equal(top_p_filter(TOY_LOGITS, 1.0), TOY_LOGITS)


def test_a_tiny_top_p_keeps_only_the_most_likely_token():
    kept = ~torch.isinf(top_p_filter(TOY_LOGITS, 1e-6))
    assert kept.nonzero().flatten().tolist() == [3]


def test_top_p_keeps_the_smallest_set_holding_p():
    probs = torch.softmax(TOY_LOGITS, -1)  # forward 0.572, toward 0.358, closer 0.061, ...
    kept = ~torch.isinf(top_p_filter(TOY_LOGITS, 0.95))
    assert kept.nonzero().flatten().tolist() == [0, 3, 7]  # closer, forward, toward
    assert probs[[3, 7]].sum() < 0.95 <= probs[[0, 3, 7]].sum()


def test_softmax_with_temperature_is_the_books_formula():
    for temperature in (0.1, 1.0, 5.0):
        expected = torch.softmax(TOY_LOGITS / temperature, dim=0)
        assert torch.equal(softmax_with_temperature(TOY_LOGITS, temperature), expected)


def test_low_temperature_sharpens_and_high_temperature_flattens():
    cold, hot = softmax_with_temperature(TOY_LOGITS, 0.1), softmax_with_temperature(TOY_LOGITS, 5.0)
    plain = softmax_with_temperature(TOY_LOGITS, 1.0)
    assert cold.max() > plain.max() > hot.max()


def test_apply_temperature_rejects_zero():
    with pytest.raises(ConfigError, match=r"temperature must be a number from 0.001 to 1000 \(> 0\); got 0.0") as excinfo:
        apply_temperature(TOY_LOGITS, 0.0)
    assert "argmax" in str(excinfo.value)  # what to do for greedy decoding


def test_next_token_probs_at_temperature_0_is_one_hot_on_the_argmax():
    probs = next_token_probs(TOY_LOGITS, temperature=0.0)
    assert probs[3] == 1 and probs.sum() == 1


def test_next_token_probs_renormalise_over_the_kept_tokens():
    probs = next_token_probs(TOY_LOGITS, temperature=1.0, top_k=3)
    assert (probs > 0).sum() == 3
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0))


def test_sampling_with_a_seeded_generator_is_reproducible_and_ignores_the_global_seed():
    logits = TOY_LOGITS.repeat(50, 1)
    torch.manual_seed(1)
    first = sample_next_token(logits, 1.0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    second = sample_next_token(logits, 1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


def test_samples_with_top_p_stay_in_the_nucleus():
    logits = TOY_LOGITS.repeat(500, 1)
    tokens = sample_next_token(logits, 1.0, top_p=0.95, generator=torch.Generator().manual_seed(0))
    assert set(tokens.flatten().tolist()) == {0, 3, 7}


# --- generate_text's new options --------------------------------------------------------------


@pytest.fixture
def prompt(tokenizer):
    return text_to_token_ids("Every effort moves you", tokenizer)  # (1, 4)


def test_generate_text_with_a_generator_is_reproducible(small_model, prompt):
    runs = [generate_text(small_model, prompt, 10, 32, temperature=1.0, top_p=0.9,
                          generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_generate_text_top_p_samples_only_inside_the_nucleus(small_model, prompt):
    with torch.no_grad():
        logits = small_model(prompt)[:, -1]
    nucleus = set((~torch.isinf(top_p_filter(logits / 2.0, 0.5))).nonzero()[:, 1].tolist())
    out = generate_text(small_model, prompt.repeat(100, 1), 1, 32, temperature=2.0, top_p=0.5,
                        generator=torch.Generator().manual_seed(0))
    assert set(out[:, -1].tolist()) <= nucleus


def test_each_sequence_of_a_batch_stops_at_its_own_eos(small_model, tokenizer):
    prompts = torch.randint(0, 50257, (2, 5), generator=torch.Generator().manual_seed(3))
    greedy = generate_text_simple(small_model, prompts, 8, 32)
    eos = greedy[0, 7].item()  # row 0's third new token; assume row 1 produces it later or never
    assert eos not in greedy[0, 5:7].tolist()
    out = generate_text(small_model, prompts, 8, 32, eos_id=eos)
    row1_new = greedy[1, 5:].tolist()
    row1_end = row1_new.index(eos) if eos in row1_new else 8
    assert row1_end > 2
    assert out.shape[1] == 5 + row1_end  # runs until the last row finishes
    assert out[0, 7:].tolist() == [eos] * (row1_end - 2)  # row 0 finished: padded with eos_id
    assert torch.equal(out[1], greedy[1, :5 + row1_end])  # row 1 unaffected


def test_streaming_yields_the_same_tokens_one_step_at_a_time(small_model, prompt):
    steps = list(generate_text(small_model, prompt, 6, 32, stream=True))
    assert len(steps) == 6 and all(step.shape == (1, 1) for step in steps)
    assert torch.equal(torch.cat([prompt, *steps], dim=1), generate_text(small_model, prompt, 6, 32))


def test_streaming_stops_before_the_eos_token(small_model, prompt):
    greedy = generate_text(small_model, prompt, 6, 32)
    eos = greedy[0, 6].item()
    steps = list(generate_text(small_model, prompt, 6, 32, eos_id=eos, stream=True))
    assert torch.equal(torch.cat([prompt, *steps], dim=1), generate_text(small_model, prompt, 6, 32, eos_id=eos))


# --- Arguments that cannot work ---------------------------------------------------------------


@pytest.mark.parametrize(("top_p", "error"), [(0, ConfigError), (-0.1, ConfigError), (1.5, ConfigError),
                                              (True, ArgumentTypeError)])
def test_top_p_must_lie_in_0_1(small_model, prompt, top_p, error):
    with pytest.raises(error, match="top_p must be a number"):
        generate_text(small_model, prompt, 5, 32, temperature=1.0, top_p=top_p)


@pytest.mark.parametrize(("num_beams", "error"), [(0, ConfigError), (-2, ConfigError), (1.5, ArgumentTypeError)])
def test_num_beams_must_be_a_positive_integer(small_model, prompt, num_beams, error):
    with pytest.raises(error, match=f"num_beams must be .*integer; got {num_beams}"):
        generate_text(small_model, prompt, 5, 32, num_beams=num_beams)


def test_beam_search_with_sampling_options_is_rejected(small_model, prompt):
    with pytest.raises(ValueError, match="Beam search is deterministic"):
        generate_text(small_model, prompt, 5, 32, num_beams=3, temperature=1.0)


def test_sample_next_token_checks_its_arguments():
    with pytest.raises(ConfigError, match="temperature must be 0 .greedy. or a number from 0.001 to 1000; got -1.0"):
        sample_next_token(TOY_LOGITS[None], temperature=-1.0)
    with pytest.raises(ConfigError, match="top_k must be a positive integer; got 0"):
        sample_next_token(TOY_LOGITS[None], temperature=1.0, top_k=0)
