"""gptedu.generation: greedy decoding, temperature, top-k and eos, checked against the seed's generate_text."""

import pytest
import seed_reference as seed
import torch

from gptedu import ArgumentTypeError, ConfigError, generate_text, generate_text_simple, text_to_token_ids
from gptedu.errors import InvalidInputError


@pytest.fixture
def prompt(tokenizer):
    return text_to_token_ids("Every effort moves you", tokenizer)  # (1, 4)


def test_generate_text_simple_equals_the_seeds_greedy_generate_text(small_model, prompt):
    ours = generate_text_simple(small_model, prompt, max_new_tokens=10, context_size=32)
    assert torch.equal(ours, seed.generate_text(small_model, prompt, max_new_tokens=10, context_size=32))


def test_generate_text_at_temperature_0_equals_the_seeds(small_model, prompt):
    ours = generate_text(small_model, prompt, max_new_tokens=10, context_size=32, temperature=0.0)
    assert torch.equal(ours, seed.generate_text(small_model, prompt, max_new_tokens=10, context_size=32, temperature=0.0))


def test_generate_text_appends_max_new_tokens_after_the_prompt(small_model, prompt):
    out = generate_text(small_model, prompt, max_new_tokens=7, context_size=32)
    assert out.shape == (1, 4 + 7)
    assert torch.equal(out[:, :4], prompt)


def test_zero_new_tokens_returns_the_prompt(small_model, prompt):
    assert torch.equal(generate_text_simple(small_model, prompt, max_new_tokens=0, context_size=32), prompt)


def test_sampling_with_temperature_and_top_k_equals_the_seeds_with_the_same_seed(small_model, prompt):
    torch.manual_seed(42)
    ours = generate_text(small_model, prompt, max_new_tokens=10, context_size=32, temperature=1.4, top_k=25)
    torch.manual_seed(42)
    reference = seed.generate_text(small_model, prompt, max_new_tokens=10, context_size=32, temperature=1.4, top_k=25)
    assert torch.equal(ours, reference)


def test_prompt_longer_than_the_context_is_cropped_to_its_last_tokens(small_model):
    long_prompt = torch.randint(0, 50257, (1, 40), generator=torch.Generator().manual_seed(0))  # 40 > context 32
    out = generate_text_simple(small_model, long_prompt, max_new_tokens=5, context_size=32)
    from_last_32 = generate_text_simple(small_model, long_prompt[:, -32:], max_new_tokens=5, context_size=32)
    assert torch.equal(out[:, :40], long_prompt)
    assert torch.equal(out[:, 40:], from_last_32[:, 32:])


def test_generate_text_crops_like_the_seed(small_model):
    long_prompt = torch.randint(0, 50257, (1, 40), generator=torch.Generator().manual_seed(0))
    ours = generate_text(small_model, long_prompt, max_new_tokens=5, context_size=32)
    assert torch.equal(ours, seed.generate_text(small_model, long_prompt, max_new_tokens=5, context_size=32))


def test_top_k_1_with_temperature_is_greedy(small_model, prompt):
    torch.manual_seed(0)
    sampled = generate_text(small_model, prompt, max_new_tokens=10, context_size=32, temperature=5.0, top_k=1)
    assert torch.equal(sampled, generate_text_simple(small_model, prompt, max_new_tokens=10, context_size=32))


def test_top_k_samples_only_among_the_k_most_likely_tokens(small_model, prompt):
    with torch.no_grad():
        top3 = set(small_model(prompt)[0, -1].topk(3).indices.tolist())
    torch.manual_seed(0)
    out = generate_text(small_model, prompt.repeat(200, 1), max_new_tokens=1, context_size=32, temperature=10.0, top_k=3)
    next_tokens = set(out[:, -1].tolist())
    assert next_tokens <= top3
    assert len(next_tokens) > 1  # it did sample, not just take the argmax


def test_top_k_keeps_each_rows_own_k_most_likely_tokens(small_model):
    # The seed's top_logits[:, -1] has shape (batch,), which does not broadcast against (batch, vocab)
    # logits for batch > 1; gptedu keeps a (batch, 1) column, so each prompt keeps its own top k.
    prompts = torch.randint(0, 50257, (2, 6), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        top3 = [set(row.topk(3).indices.tolist()) for row in small_model(prompts)[:, -1]]
    torch.manual_seed(0)
    out = generate_text(small_model, prompts.repeat_interleave(100, dim=0), max_new_tokens=1, context_size=32, temperature=10.0,
                        top_k=3)
    assert set(out[:100, -1].tolist()) <= top3[0]
    assert set(out[100:, -1].tolist()) <= top3[1]


def test_sampling_with_the_same_seed_is_reproducible(small_model, prompt):
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append(generate_text(small_model, prompt, max_new_tokens=15, context_size=32, temperature=1.0))
    assert torch.equal(runs[0], runs[1])


def test_sampling_with_another_seed_gives_another_text(small_model, prompt):
    torch.manual_seed(1)
    first = generate_text(small_model, prompt, max_new_tokens=15, context_size=32, temperature=1.0)
    torch.manual_seed(2)
    second = generate_text(small_model, prompt, max_new_tokens=15, context_size=32, temperature=1.0)
    assert not torch.equal(first, second)


def test_eos_id_stops_before_appending_the_end_token(small_model, prompt):
    greedy = generate_text_simple(small_model, prompt, max_new_tokens=10, context_size=32)
    eos = greedy[0, 6].item()  # the third generated token, used as end-of-text
    first_eos = (greedy[0, 4:] == eos).nonzero()[0].item() + 4
    out = generate_text(small_model, prompt, max_new_tokens=10, context_size=32, eos_id=eos)
    assert torch.equal(out, greedy[:, :first_eos])


def test_eos_id_stops_like_the_seed(small_model, prompt):
    eos = generate_text_simple(small_model, prompt, max_new_tokens=3, context_size=32)[0, -1].item()
    ours = generate_text(small_model, prompt, max_new_tokens=10, context_size=32, eos_id=eos)
    assert torch.equal(ours, seed.generate_text(small_model, prompt, max_new_tokens=10, context_size=32, eos_id=eos))


def test_an_eos_id_never_generated_changes_nothing(small_model, prompt):
    greedy = generate_text_simple(small_model, prompt, max_new_tokens=10, context_size=32)
    unused = next(i for i in range(50257) if i not in greedy[0, 4:].tolist())
    assert torch.equal(generate_text(small_model, prompt, max_new_tokens=10, context_size=32, eos_id=unused), greedy)


def test_generation_leaves_the_model_in_its_mode(small_model, prompt):
    small_model.train()
    generate_text(small_model, prompt, max_new_tokens=2, context_size=32)
    assert small_model.training


# --- Arguments that cannot work ---------------------------------------------------------------


def test_negative_temperature_is_rejected(small_model, prompt):
    with pytest.raises(ConfigError, match=r"temperature must be 0 \(greedy\) or a number from 0.001 to 1000; got -0.5"):
        generate_text(small_model, prompt, max_new_tokens=5, context_size=32, temperature=-0.5)


@pytest.mark.parametrize(("top_k", "error"), [(0, ConfigError), (-3, ConfigError), (2.5, ArgumentTypeError)])
def test_top_k_must_be_a_positive_integer(small_model, prompt, top_k, error):
    with pytest.raises(error, match=f"top_k must be .*integer; got {top_k}") as excinfo:
        generate_text(small_model, prompt, max_new_tokens=5, context_size=32, top_k=top_k)
    assert "None" in str(excinfo.value)  # says how to switch top-k off


@pytest.mark.parametrize("function", [generate_text, generate_text_simple])
def test_negative_max_new_tokens_is_rejected(small_model, prompt, function):
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 0; got -1"):
        function(small_model, prompt, max_new_tokens=-1, context_size=32)


@pytest.mark.parametrize("function", [generate_text, generate_text_simple])
def test_empty_prompt_is_rejected(small_model, tokenizer, function):
    empty = text_to_token_ids("", tokenizer)  # shape (1, 0)
    with pytest.raises(InvalidInputError, match="at least one token") as excinfo:
        function(small_model, empty, max_new_tokens=5, context_size=32)
    assert "non-empty prompt" in str(excinfo.value)


def test_prompt_without_batch_dimension_is_rejected(small_model):
    with pytest.raises(ValueError, match=r"\(batch, num_tokens\) tensor"):
        generate_text_simple(small_model, torch.tensor([6109, 3626]), max_new_tokens=5, context_size=32)


@pytest.mark.parametrize(("context_size", "error"), [(0, ConfigError), (-1, ConfigError), (None, ArgumentTypeError)])
def test_context_size_must_be_a_positive_integer(small_model, prompt, context_size, error):
    with pytest.raises(error, match=f"context_size must be .*integer; got {context_size}"):
        generate_text(small_model, prompt, max_new_tokens=5, context_size=context_size)
