"""Notebook 01's exercises beyond the generic tests: the feedback on typical slips, and the facts the texts state."""

import re

import torch

from gptedu.exercises import check, get_exercise
from gptedu.exercises.core import ERROR, FAILED, PASSED


def test_text_to_token_ids_without_allowed_special_is_an_error_on_the_endoftext_case():
    def forgot_allowed_special(text, tokenizer):
        return torch.tensor(tokenizer.encode(text)).unsqueeze(0)

    result = check("01.1", forgot_allowed_special)
    assert result.status == ERROR
    assert "disallowed special token" in result.message and "allowed_special" in result.message
    assert "(on two documents joined by <|endoftext|>)" in result.message


def test_text_to_token_ids_written_with_a_list_of_lists_passes():
    def nested(text, tokenizer):
        return torch.tensor([tokenizer.encode(text, allowed_special={"<|endoftext|>"})])

    assert check("01.1", nested).status == PASSED


def test_token_ids_to_text_must_accept_ids_without_the_batch_dimension():
    def first_row(token_ids, tokenizer):
        return tokenizer.decode(token_ids[0].tolist())  # right for (1, N), breaks on (N,)

    result = check("01.2", first_row)
    assert result.status == ERROR and "without the batch dimension" in result.message


def test_token_ids_to_text_decoding_a_list_of_lists_is_an_error_naming_the_case():
    result = check("01.2", lambda token_ids, tokenizer: tokenizer.decode(token_ids.tolist()))
    assert result.status == ERROR and "TypeError" in result.message and "'Every effort moves you'" in result.message


def test_tokens_per_word_accepts_three_decimals_and_names_characters_per_token(tokenizer, verdict):
    reference = get_exercise("01.3").reference()
    assert check("01.3", round(reference, 3)).status == PASSED
    characters_per_token = round(len(verdict) / len(tokenizer.encode(verdict)), 2)  # 3.98, printed in section 6
    result = check("01.3", characters_per_token)
    assert result.status == FAILED and "characters per token" in result.message


def test_the_leading_space_choice_states_what_the_tokenizer_does(tokenizer):
    assert tokenizer.encode("every effort moves you")[1] == 3626
    pieces = [tokenizer.decode([token_id]) for token_id in tokenizer.encode("effort moves you")]
    assert pieces[:2] == ["eff", "ort"] and 3626 not in tokenizer.encode("effort moves you")
    assert check("01.4", "c").status == PASSED


def test_the_language_experiment_reports_the_tokens_measured(tokenizer):
    observe = get_exercise("01.5").observe
    sentences = {
        "English": "I had always thought Jack Gisburn rather a cheap genius, though a good fellow enough.",
        "Russian": "Я всегда считал Джека Гисберна довольно дешёвым гением, хотя и вполне славным малым.",
        "Chinese": "我一直认为杰克·吉斯伯恩是个相当廉价的天才，尽管他人还算不错。",
    }
    for language, sentence in sentences.items():
        characters, tokens = re.search(rf"{language} (\d+) -> (\d+)", observe.replace("characters ", "")).groups()
        assert (int(characters), int(tokens)) == (len(sentence), len(tokenizer.encode(sentence))), language
    assert sentences["English"] in get_exercise("01.5").stub


def test_text_to_token_ids_as_floats_is_named():
    def floats(text, tokenizer):
        return torch.tensor(tokenizer.encode(text, allowed_special={"<|endoftext|>"}), dtype=torch.float32).unsqueeze(0)

    result = check("01.1", floats)
    assert result.status == FAILED and "torch.long" in result.message
