"""gptedu.data: corpora, the sliding-window dataset and the loaders, checked against the seed's code.

The reference is ``seed_reference.GPTDatasetV1``, the book's dataset that stores one tensor per
window; gptedu must hand out exactly the same windows while storing the tokens only once.
"""

import pytest
import seed_reference as seed
import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from gptedu import (
    ArgumentTypeError,
    ConfigError,
    DataNotFoundError,
    GPTDatasetV1,
    NotEnoughDataError,
    count_tokens,
    create_dataloader_v1,
    load_text,
    train_val_loaders,
)

# --- load_text ----------------------------------------------------------------------------------


def test_the_verdict_has_20479_characters_and_5145_tokens(verdict, tokenizer):
    assert len(verdict) == 20479
    assert len(tokenizer.encode(verdict)) == 5145


def test_load_text_of_the_verdict_works_offline_once_cached(verdict, no_network):
    assert load_text("the-verdict") == verdict


def test_load_text_reads_a_local_utf8_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Crème brûlée – 東京\n", encoding="utf-8")
    assert load_text(path) == load_text(str(path)) == "Crème brûlée – 東京\n"


def test_load_text_of_a_missing_path_raises_data_not_found(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(DataNotFoundError) as excinfo:
        load_text(missing)
    assert str(missing) in str(excinfo.value)
    assert "the-verdict" in str(excinfo.value)  # names the corpora it does know


def test_load_text_error_is_caught_by_except_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_text(tmp_path / "missing.txt")


# --- GPTDatasetV1: the seed's windows ------------------------------------------------------------


def assert_same_windows(ours, reference):
    assert len(ours) == len(reference)
    for i in range(len(reference)):
        ours_input, ours_target = ours[i]
        ref_input, ref_target = reference[i]
        assert torch.equal(ours_input, ref_input), f"input window {i}"
        assert torch.equal(ours_target, ref_target), f"target window {i}"


@pytest.mark.parametrize(
    ("max_length", "stride"),
    [(4, 1), (4, 4), (4, 5), (8, 3), (16, 16), (16, 40), (32, 1), (64, 63), (256, 128), (7, 1000)],
)
def test_windows_equal_the_seeds(verdict, tokenizer, max_length, stride):
    text = verdict[:3000]  # about 700 tokens
    assert_same_windows(GPTDatasetV1(text, tokenizer, max_length, stride), seed.GPTDatasetV1(text, tokenizer, max_length, stride))


def test_windows_equal_the_seeds_across_endoftext(tokenizer):
    text = "Every effort moves you <|endoftext|> forward, and every step counts. " * 5
    assert_same_windows(GPTDatasetV1(text, tokenizer, 6, 2), seed.GPTDatasetV1(text, tokenizer, 6, 2))


def test_text_just_long_enough_gives_one_window(verdict, tokenizer):
    text = verdict[:500]
    num_tokens = len(tokenizer.encode(text))
    dataset = GPTDatasetV1(text, tokenizer, max_length=num_tokens - 1, stride=1)
    assert len(dataset) == 1
    assert_same_windows(dataset, seed.GPTDatasetV1(text, tokenizer, num_tokens - 1, 1))


@pytest.mark.parametrize("extra", [0, 10])
def test_text_too_short_gives_no_window(verdict, tokenizer, extra):
    text = verdict[:500]
    num_tokens = len(tokenizer.encode(text))
    assert len(GPTDatasetV1(text, tokenizer, max_length=num_tokens + extra, stride=1)) == 0
    assert len(seed.GPTDatasetV1(text, tokenizer, num_tokens + extra, 1)) == 0


def test_targets_are_inputs_shifted_by_one_token(verdict, tokenizer):
    dataset = GPTDatasetV1(verdict[:2000], tokenizer, max_length=8, stride=5)
    ids = tokenizer.encode(verdict[:2000])
    inputs, targets = dataset[3]
    assert inputs.tolist() == ids[15:23]
    assert targets.tolist() == ids[16:24]


def test_negative_index_counts_from_the_end_like_the_seeds_list(verdict, tokenizer):
    ours, reference = GPTDatasetV1(verdict[:2000], tokenizer, 8, 5), seed.GPTDatasetV1(verdict[:2000], tokenizer, 8, 5)
    assert torch.equal(ours[-1][0], reference[-1][0])
    assert torch.equal(ours[-len(ours)][1], reference[0][1])


def test_index_past_the_end_raises_index_error(verdict, tokenizer):
    dataset = GPTDatasetV1(verdict[:2000], tokenizer, 8, 5)
    with pytest.raises(IndexError):
        dataset[len(dataset)]


@pytest.mark.parametrize(("max_length", "stride"), [(0, 1), (4, 0), (-4, 1)])
def test_dataset_rejects_non_positive_integer_sizes(tokenizer, max_length, stride):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        GPTDatasetV1("Every effort moves you", tokenizer, max_length, stride)


@pytest.mark.parametrize(("max_length", "stride"), [(4.0, 1), (True, 1), (4, "2")])
def test_dataset_rejects_sizes_that_are_not_integers(tokenizer, max_length, stride):
    with pytest.raises(ArgumentTypeError, match="must be an integer; got"):
        GPTDatasetV1("Every effort moves you", tokenizer, max_length, stride)


def test_dataset_stores_the_tokens_once_and_hands_out_views(verdict, tokenizer):
    text = verdict * 195  # a little over a million tokens
    dataset = GPTDatasetV1(text, tokenizer, max_length=256, stride=1)  # one window per token
    num_tokens = dataset.token_ids.numel()
    assert num_tokens > 1_000_000
    assert len(dataset) == num_tokens - 256

    tensors = [value for value in vars(dataset).values() if isinstance(value, torch.Tensor)]
    assert len(tensors) == 1  # no per-window copies: the seed would hold 2 million tensors here
    assert not any(isinstance(value, (list, tuple)) for value in vars(dataset).values())
    storage = dataset.token_ids.untyped_storage()
    assert storage.nbytes() == 8 * num_tokens  # int64: about 8 MB

    for idx in (0, 1, len(dataset) // 2, len(dataset) - 1):
        inputs, targets = dataset[idx]
        assert inputs.untyped_storage().data_ptr() == storage.data_ptr()
        assert targets.untyped_storage().data_ptr() == storage.data_ptr()
        assert inputs.shape == targets.shape == (256,)


def test_last_window_of_a_million_tokens_is_the_seeds(verdict, tokenizer):
    text = verdict * 195
    ids = tokenizer.encode(text)
    dataset = GPTDatasetV1(text, tokenizer, max_length=256, stride=1)
    inputs, targets = dataset[len(dataset) - 1]
    # The seed's window i = len(ids) - 257: ids[i:i + 256] and ids[i + 1:i + 257].
    assert inputs.tolist() == ids[-257:-1]
    assert targets.tolist() == ids[-256:]


# --- create_dataloader_v1 ----------------------------------------------------------------------


def test_dataloader_batches_are_batch_size_by_max_length(verdict):
    loader = create_dataloader_v1(verdict[:3000], batch_size=4, max_length=16, stride=16)
    for inputs, targets in loader:
        assert inputs.shape == targets.shape == (4, 16)
        assert inputs.dtype == targets.dtype == torch.long


def test_dataloader_yields_the_seeds_batches_without_shuffling(verdict, tokenizer):
    text = verdict[:3000]
    ours = create_dataloader_v1(text, batch_size=3, max_length=10, stride=7, shuffle=False, drop_last=False)
    reference = seed.create_dataloader_v1(text, tokenizer, batch_size=3, max_length=10, stride=7, shuffle=False, drop_last=False)
    assert len(ours) == len(reference)
    for (ours_in, ours_tg), (ref_in, ref_tg) in zip(ours, reference, strict=True):
        assert torch.equal(ours_in, ref_in)
        assert torch.equal(ours_tg, ref_tg)


def test_dataloader_shuffles_like_the_seeds_with_the_same_seed(verdict, tokenizer):
    text = verdict[:3000]
    ours = create_dataloader_v1(text, batch_size=2, max_length=16, stride=16)
    reference = seed.create_dataloader_v1(text, tokenizer, batch_size=2, max_length=16, stride=16)
    torch.manual_seed(123)
    ours_batches = [inputs for inputs, _ in ours]
    torch.manual_seed(123)
    reference_batches = [inputs for inputs, _ in reference]
    assert all(torch.equal(a, b) for a, b in zip(ours_batches, reference_batches, strict=True))


def test_dataloader_defaults_are_the_seeds():
    import inspect

    ours = inspect.signature(create_dataloader_v1).parameters
    reference = inspect.signature(seed.create_dataloader_v1).parameters
    for name in ("batch_size", "max_length", "stride", "shuffle", "drop_last", "num_workers"):
        assert ours[name].default == reference[name].default, name


def test_dataloader_on_too_short_text_names_context_and_token_counts():
    with pytest.raises(NotEnoughDataError) as excinfo:
        create_dataloader_v1("Every effort moves you", batch_size=1, max_length=16, stride=16)  # 4 tokens
    message = str(excinfo.value)
    assert "max_length=16" in message
    assert "at least 17 tokens" in message
    assert "got 4" in message
    assert "context_length" in message


def test_dataloader_with_batch_larger_than_the_data_and_drop_last_raises(verdict, tokenizer):
    text = verdict[:500]
    windows = len(seed.GPTDatasetV1(text, tokenizer, 16, 16))
    with pytest.raises(NotEnoughDataError) as excinfo:
        create_dataloader_v1(text, batch_size=windows + 1, max_length=16, stride=16, drop_last=True)
    assert f"batch_size={windows + 1}" in str(excinfo.value)
    assert f"at most {windows}" in str(excinfo.value)


def test_dataloader_with_batch_larger_than_the_data_keeps_one_short_batch_without_drop_last(verdict, tokenizer):
    text = verdict[:500]
    windows = len(seed.GPTDatasetV1(text, tokenizer, 16, 16))
    loader = create_dataloader_v1(text, batch_size=windows + 1, max_length=16, stride=16, drop_last=False)
    assert [inputs.shape[0] for inputs, _ in loader] == [windows]


@pytest.mark.parametrize(("batch_size", "error"), [(0, ConfigError), (-1, ConfigError), (2.0, ArgumentTypeError),
                                                   (True, ArgumentTypeError)])
def test_dataloader_rejects_a_bad_batch_size(verdict, batch_size, error):
    with pytest.raises(error, match=f"batch_size must be .*integer; got {batch_size}"):
        create_dataloader_v1(verdict[:500], batch_size=batch_size, max_length=16, stride=16)


# --- train_val_loaders: the seed's 90/10 split ---------------------------------------------------


@pytest.fixture(scope="module")
def seed_loaders(verdict):
    return train_val_loaders(verdict, context_length=256, batch_size=2)


def test_seed_split_gives_9_training_batches_and_1_validation_batch(seed_loaders):
    train_loader, val_loader = seed_loaders
    assert (len(train_loader), len(val_loader)) == (9, 1)


def test_seed_split_gives_4608_training_and_512_validation_tokens(seed_loaders):
    train_loader, val_loader = seed_loaders
    assert (count_tokens(train_loader), count_tokens(val_loader)) == (4608, 512)


def test_seed_split_is_by_characters(seed_loaders, verdict, tokenizer):
    split_idx = int(0.90 * len(verdict))
    train_loader, val_loader = seed_loaders
    assert train_loader.dataset.token_ids.tolist() == tokenizer.encode(verdict[:split_idx])
    assert val_loader.dataset.token_ids.tolist() == tokenizer.encode(verdict[split_idx:])


def test_seed_split_uses_non_overlapping_windows_of_the_context_length(seed_loaders):
    for loader in seed_loaders:
        assert loader.dataset.max_length == loader.dataset.stride == 256


def test_training_loader_shuffles_and_drops_the_last_batch(seed_loaders):
    train_loader, _ = seed_loaders
    assert isinstance(train_loader.sampler, RandomSampler)
    assert train_loader.drop_last is True


def test_validation_loader_neither_shuffles_nor_drops(seed_loaders):
    _, val_loader = seed_loaders
    assert isinstance(val_loader.sampler, SequentialSampler)
    assert val_loader.drop_last is False


def test_seed_split_validation_batches_equal_the_seeds(seed_loaders, verdict, tokenizer):
    split_idx = int(0.90 * len(verdict))
    reference = seed.create_dataloader_v1(verdict[split_idx:], tokenizer, batch_size=2, max_length=256, stride=256,
                                          shuffle=False, drop_last=False)
    _, val_loader = seed_loaders
    for (ours, _), (ref, _) in zip(val_loader, reference, strict=True):
        assert torch.equal(ours, ref)


def test_context_too_long_for_validation_says_which_loader_and_what_to_change(verdict):
    with pytest.raises(NotEnoughDataError) as excinfo:
        train_val_loaders(verdict, context_length=600, batch_size=2)  # the validation part has about 500 tokens
    message = str(excinfo.value)
    assert "validation loader" in message
    assert "context_length=600" in message
    assert "Lower context_length" in message
    assert "decrease train_ratio" in message


def test_context_too_long_for_training_says_which_loader_and_what_to_change(verdict):
    with pytest.raises(NotEnoughDataError) as excinfo:
        train_val_loaders(verdict, context_length=256, batch_size=2, train_ratio=0.02)
    message = str(excinfo.value)
    assert "training loader" in message
    assert "increase train_ratio" in message


@pytest.mark.parametrize("train_ratio", [0.0, 1.0, -0.1, 1.5, 90])
def test_train_ratio_must_lie_between_0_and_1(verdict, train_ratio):
    with pytest.raises(ValueError, match="train_ratio"):
        train_val_loaders(verdict, context_length=16, train_ratio=train_ratio)


def test_setting_errors_are_gptedu_config_errors(verdict, tokenizer):
    with pytest.raises(ConfigError):
        train_val_loaders(verdict, context_length=16, train_ratio=1.5)
    with pytest.raises(ConfigError):
        GPTDatasetV1(verdict, tokenizer, max_length=0, stride=1)


def test_count_tokens_counts_input_tokens_of_one_pass():
    batches = [(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long))] * 3
    assert count_tokens(DataLoader(batches, batch_size=None)) == 30
