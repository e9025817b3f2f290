"""Notebook 03's exercises beyond the generic tests: the references agree with the lesson, and typical slips."""

import torch

from gptedu import GPTDatasetV1, NotEnoughDataError, count_tokens, train_val_loaders
from gptedu.exercises import check, get_exercise
from gptedu.exercises.core import ERROR, PASSED
from gptedu.exercises.nb03 import _dataset_windows, _epoch_numbers, _loader_texts, split_train_val


def test_the_window_reference_is_gptdatasetv1_on_real_text(tokenizer, verdict):
    sample_text = tokenizer.decode(tokenizer.encode(verdict)[:20])
    dataset = GPTDatasetV1(sample_text, tokenizer, max_length=4, stride=4)
    inputs, targets = _dataset_windows(dataset.token_ids, 4, 4)
    assert inputs.shape == targets.shape == (len(dataset), 4)
    for i in range(len(dataset)):
        assert torch.equal(inputs[i], dataset[i][0]) and torch.equal(targets[i], dataset[i][1])


def test_sliding_windows_with_unfold_passes():
    def with_unfold(token_ids, max_length, stride):
        # the inputs end one token early so that every window has its full target
        return token_ids[:-1].unfold(0, max_length, stride), token_ids[1:].unfold(0, max_length, stride)

    assert check("03.1", with_unfold).status == PASSED


def test_a_loop_one_window_too_far_is_an_error_the_hint_explains():
    def one_too_many(token_ids, max_length, stride):
        starts = range(0, len(token_ids) - max_length + 1, stride)
        return (torch.stack([token_ids[i : i + max_length] for i in starts]),
                torch.stack([token_ids[i + 1 : i + max_length + 1] for i in starts]))

    result = check("03.1", one_too_many)
    assert result.status == ERROR and "stack expects each tensor to be equal size" in result.message
    assert any("torch.stack" in hint and "one window too far" in hint for hint in get_exercise("03.1").hints)


def test_the_split_reference_is_the_seeds_split_of_the_verdict(verdict):
    train_text, val_text = _loader_texts(verdict, 0.90)
    assert (train_text, val_text) == split_train_val(verdict, 0.90)
    assert (len(train_text), len(val_text)) == (18431, 2048)  # section 5 of the lesson


def test_the_numbers_the_statements_quote(tokenizer, verdict):
    train_text, val_text = split_train_val(verdict, 0.90)
    assert (len(tokenizer.encode(train_text)), len(tokenizer.encode(val_text))) == (4612, 534)  # 03.3, 03.4
    assert _epoch_numbers(stride=256) == (9, 4608)  # 03.3: the seed's non-overlapping loader
    for train_ratio, val_tokens in ((0.9, 512), (0.8, 1024)):  # 03.5
        assert count_tokens(train_val_loaders(verdict, 256, batch_size=2, train_ratio=train_ratio)[1]) == val_tokens


def test_the_largest_context_length_is_the_edge_of_what_train_val_loaders_accepts(verdict):
    exercise = get_exercise("03.4")
    largest = exercise.reference()
    assert exercise.solution() == largest
    train_val_loaders(verdict, context_length=largest, batch_size=2)
    try:
        train_val_loaders(verdict, context_length=largest + 1, batch_size=2)
    except NotEnoughDataError as error:
        assert "validation" in str(error)
    else:
        raise AssertionError(f"context_length={largest + 1} should not fit the validation part")
