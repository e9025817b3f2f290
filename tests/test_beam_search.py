"""gptedu.beam_search, checked against Hugging Face ``transformers``' ``generate(num_beams=k, do_sample=False)``.

A randomly initialised ``GPT2LMHeadModel`` (small, GPT-2 layout) is saved with
``save_pretrained`` and loaded into a ``GPTModel``; both must return the same sequences for
several beam widths, length penalties and early-stopping modes, with and without an end token.
"""

import pytest
import torch

from gptedu import ArgumentTypeError, ConfigError, generate_text, generate_text_simple
from gptedu.beam_search import Beam, beam_search
from gptedu.pretrained import load_gpt2

transformers = pytest.importorskip("transformers")

#: Small GPT-2 layout; a wide initialisation makes the next-token distributions peaked, so no
#: two candidates are within float rounding of each other.
HF_CFG = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64, "vocab_size": 100, "initializer_range": 0.3}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    transformers.logging.set_verbosity_error()
    folder = tmp_path_factory.mktemp("hf-beam")
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config(**HF_CFG)).save_pretrained(folder)
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    return hf_model, load_gpt2(None, source=folder)


def prompt(seed=0, length=5):
    return torch.randint(0, 100, (1, length), generator=torch.Generator().manual_seed(seed))


def hf_beam_search(hf_model, idx, max_new_tokens, num_beams, eos_id=None, **kwargs):
    hf_model.generation_config.eos_token_id = eos_id  # GPT-2's config would otherwise stop at 50256
    return hf_model.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=max_new_tokens, num_beams=num_beams,
                             do_sample=False, eos_token_id=eos_id, pad_token_id=0 if eos_id is None else eos_id, **kwargs)


@pytest.mark.parametrize("num_beams", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_returns_transformers_sequences(models, num_beams, seed):
    hf_model, model = models
    idx = prompt(seed)
    expected = hf_beam_search(hf_model, idx, 12, num_beams)
    assert torch.equal(beam_search(model, idx, 12, 64, num_beams=num_beams), expected)


@pytest.mark.parametrize("num_beams", [2, 3, 4])
@pytest.mark.parametrize("early_stopping", [False, True, "never"])
@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0])
def test_beam_search_with_an_end_token_returns_transformers_sequences(models, num_beams, early_stopping, length_penalty):
    hf_model, model = models
    idx = prompt(1)
    # An end token the beams really produce: a token from the middle of the best beam without one.
    eos = beam_search(model, idx, 12, 64, num_beams=num_beams)[0, 8].item()
    expected = hf_beam_search(hf_model, idx, 12, num_beams, eos_id=eos, early_stopping=early_stopping,
                              length_penalty=length_penalty)
    ours = beam_search(model, idx, 12, 64, num_beams=num_beams, eos_id=eos, early_stopping=early_stopping,
                       length_penalty=length_penalty)
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("num_beams", [2, 3, 4])
def test_a_beam_that_produces_the_end_token_finishes_early_and_keeps_it(models, num_beams):
    hf_model, model = models
    idx = prompt(1)
    eos = beam_search(model, idx, 12, 64, num_beams=num_beams)[0, 8].item()
    ours = beam_search(model, idx, 12, 64, num_beams=num_beams, eos_id=eos)
    assert ours.shape[1] < 5 + 12 and ours[0, -1] == eos
    assert torch.equal(ours, hf_beam_search(hf_model, idx, 12, num_beams, eos_id=eos))


def test_all_beams_and_scores_match_transformers(models):
    hf_model, model = models
    idx = prompt(4)
    out = hf_beam_search(hf_model, idx, 10, 3, num_return_sequences=3, output_scores=True, return_dict_in_generate=True)
    beams = beam_search(model, idx, 10, 64, num_beams=3, return_beams=True)[0]
    assert all(isinstance(beam, Beam) for beam in beams) and len(beams) == 3
    assert [beam.tokens.tolist() for beam in beams] == out.sequences.tolist()
    torch.testing.assert_close(torch.tensor([beam.score for beam in beams]), out.sequences_scores, rtol=0, atol=1e-4)


def test_the_cache_and_full_recomputation_give_the_same_beams_past_the_context(models):
    _, model = models
    idx = prompt(5, length=60)  # context 64: the window slides after 4 new tokens
    assert torch.equal(beam_search(model, idx, 10, 64, num_beams=3), beam_search(model, idx, 10, 64, num_beams=3,
                                                                                  use_cache=False))


def test_one_beam_is_greedy_decoding(models):
    _, model = models
    idx = prompt(6)
    assert torch.equal(beam_search(model, idx, 10, 64, num_beams=1), generate_text_simple(model, idx, 10, 64))


def test_generate_text_with_num_beams_returns_the_best_beam(models):
    _, model = models
    idx = prompt(7)
    assert torch.equal(generate_text(model, idx, 8, 64, num_beams=3), beam_search(model, idx, 8, 64, num_beams=3))


def test_a_batch_of_prompts_is_searched_prompt_by_prompt(models):
    _, model = models
    idx = torch.cat([prompt(8), prompt(9)])
    out = beam_search(model, idx, 6, 64, num_beams=2)
    assert torch.equal(out[1:], beam_search(model, idx[1:], 6, 64, num_beams=2))


def test_zero_new_tokens_returns_the_prompt(models):
    _, model = models
    assert torch.equal(beam_search(model, prompt(), 0, 64, num_beams=3), prompt())


@pytest.mark.parametrize(("num_beams", "error"), [(0, ConfigError), (-1, ConfigError), (2.0, ArgumentTypeError)])
def test_num_beams_must_be_a_positive_integer(models, num_beams, error):
    with pytest.raises(error, match=f"num_beams must be .*integer; got {num_beams}"):
        beam_search(models[1], prompt(), 5, 64, num_beams=num_beams)


def test_early_stopping_must_be_true_false_or_never(models):
    with pytest.raises(ValueError, match="early_stopping must be True, False or 'never'"):
        beam_search(models[1], prompt(), 5, 64, num_beams=2, early_stopping="sometimes")


def test_empty_prompt_and_negative_max_new_tokens_are_rejected(models):
    with pytest.raises(ValueError, match="at least one token"):
        beam_search(models[1], torch.zeros(1, 0, dtype=torch.long), 5, 64)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 0"):
        beam_search(models[1], prompt(), -1, 64)


@pytest.mark.parametrize("num_beams", [2, 3])
def test_generate_text_leaves_out_the_end_token_with_beams_as_without(models, num_beams):
    """One rule for generate_text: the end token is not part of the text (the seed's loop); beam_search keeps it."""
    _, model = models
    idx = prompt()  # a prompt whose best beam ends with the end token
    eos = beam_search(model, idx, 12, 64, num_beams=num_beams)[0, 8].item()
    kept = beam_search(model, idx, 12, 64, num_beams=num_beams, eos_id=eos)
    assert kept[0, -1] == eos  # transformers' convention, kept by beam_search
    text = generate_text(model, idx, 12, 64, num_beams=num_beams, eos_id=eos)
    assert torch.equal(text, kept[:, :-1]) and eos not in text[0, 5:].tolist()
    greedy = generate_text(model, idx, 12, 64, eos_id=eos)
    assert eos not in greedy[0, 5:].tolist()


def test_generate_text_with_beams_pads_a_batch_with_the_end_token(models):
    _, model = models
    idx = torch.cat([prompt(4), prompt(5)])
    eos = beam_search(model, idx[:1], 12, 64, num_beams=2)[0, 7].item()
    rows = [beam_search(model, idx[i:i + 1], 12, 64, num_beams=2, eos_id=eos)[0] for i in range(2)]
    stripped = [r[:-1] if r[-1] == eos and len(r) > 5 else r for r in rows]
    text = generate_text(model, idx, 12, 64, num_beams=2, eos_id=eos)
    assert text.shape[1] == max(len(r) for r in stripped)
    for row, expected in zip(text, stripped, strict=True):
        assert torch.equal(row[:len(expected)], expected) and (row[len(expected):] == eos).all()
