"""Large-corpus path: prepare_corpus writes the tokens tiktoken gives; TokenFileDataset reads the seed's windows."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from seed_reference import GPTDatasetV1 as SeedDataset

from gptedu import get_tokenizer, load_text
from gptedu.corpus import (
    TokenFileDataset,
    count_window_tokens,
    create_token_file_loader,
    is_token_file,
    open_token_file,
    prepare_corpus,
    split_into_pieces,
    token_file_loaders,
)
from gptedu.errors import DataNotFoundError, NotEnoughDataError
from gptedu.tokenizer import ENDOFTEXT_ID

TRICKY_TEXT = "a \n\n  b\n\n\nc.\r\n d\n  Indented line\n\tTabbed\nword\n\n\n\nEnd." * 40


@pytest.mark.parametrize("piece_chars", [1, 7, 50, 500, 5000])
def test_pieces_tokenize_to_the_tokens_of_the_whole_text(piece_chars):
    tokenizer = get_tokenizer()
    for text in (load_text("the-verdict"), TRICKY_TEXT):
        pieces = split_into_pieces(text, piece_chars)
        assert "".join(pieces) == text
        assert [i for piece in pieces for i in tokenizer.encode_ordinary(piece)] == tokenizer.encode_ordinary(text)


@pytest.mark.parametrize("num_workers", [1, 2])
def test_prepare_corpus_writes_tiktokens_ids_as_uint16(tmp_path, num_workers):
    text = load_text("the-verdict")
    (tmp_path / "story.txt").write_text(text, encoding="utf-8")
    meta = prepare_corpus(tmp_path / "story.txt", tmp_path / "story.bin", num_workers=num_workers, piece_chars=2000, progress=False)
    tokens = open_token_file(tmp_path / "story.bin")
    expected = get_tokenizer().encode_ordinary(text) + [ENDOFTEXT_ID]
    assert tokens.dtype == np.uint16
    assert tokens.tolist() == expected
    assert meta["num_tokens"] == len(expected) == 5146
    assert json.loads((tmp_path / "story.bin.json").read_text())["num_tokens"] == 5146


def test_prepare_corpus_joins_a_folder_of_files_with_endoftext(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Hello world.", encoding="utf-8")
    (tmp_path / "docs" / "b.txt").write_text("Every effort moves you", encoding="utf-8")
    prepare_corpus(tmp_path / "docs", tmp_path / "docs.bin", num_workers=1, progress=False)
    assert open_token_file(tmp_path / "docs.bin").tolist() == [15496, 995, 13, 50256, 6109, 3626, 6100, 345, 50256]


def test_token_file_dataset_gives_the_seeds_windows(tmp_path):
    text = load_text("the-verdict")
    (tmp_path / "story.txt").write_text(text, encoding="utf-8")
    prepare_corpus(tmp_path / "story.txt", tmp_path / "story.bin", num_workers=1, separate_documents=False, progress=False)
    for max_length, stride in [(4, 1), (256, 256), (100, 37), (8, 200)]:
        ours = TokenFileDataset(tmp_path / "story.bin", max_length, stride)
        seed = SeedDataset(text, get_tokenizer(), max_length, stride)
        assert len(ours) == len(seed)
        for i in (0, 1, len(seed) // 2, len(seed) - 1):
            assert torch.equal(ours[i][0], seed[i][0]) and torch.equal(ours[i][1], seed[i][1])


def test_token_file_loader_batches_and_random_sampling(tmp_path):
    np.arange(1000, dtype=np.uint16).tofile(tmp_path / "counting.bin")
    loader = create_token_file_loader(tmp_path / "counting.bin", batch_size=4, max_length=16, num_samples=40)
    batches = list(loader)
    assert len(batches) == 10
    inputs, targets = batches[0]
    assert inputs.shape == targets.shape == (4, 16) and inputs.dtype == torch.int64
    assert torch.equal(targets, inputs + 1)  # counting tokens: every target is the next number


def test_missing_token_file_says_how_to_create_it(tmp_path):
    with pytest.raises(DataNotFoundError, match="gptedu prepare"):
        open_token_file(tmp_path / "nothing.bin")


def test_truncated_token_file_is_refused(tmp_path):
    (tmp_path / "odd.bin").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="odd number of bytes"):
        open_token_file(tmp_path / "odd.bin")


def test_token_file_too_short_for_the_context(tmp_path):
    np.arange(10, dtype=np.uint16).tofile(tmp_path / "short.bin")
    with pytest.raises(NotEnoughDataError, match="max_length=16"):
        TokenFileDataset(tmp_path / "short.bin", max_length=16)


def test_prepare_refuses_an_empty_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="no .txt files"):
        prepare_corpus(tmp_path, tmp_path / "out.bin", progress=False)


def test_gptedu_prepare_command_writes_the_token_file(tmp_path, capsys):
    from gptedu.cli import main

    (tmp_path / "story.txt").write_text("Every effort moves you", encoding="utf-8")
    assert main(["prepare", str(tmp_path / "story.txt"), str(tmp_path / "story.bin"), "--workers", "1", "--no-progress"]) == 0
    assert open_token_file(tmp_path / "story.bin").tolist() == [6109, 3626, 6100, 345, 50256]
    assert "Wrote 5 tokens from 1 file(s)" in capsys.readouterr().out


def test_gptedu_prepare_command_reports_a_missing_source(tmp_path, capsys):
    from gptedu.cli import main

    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "out.bin")]) == 2
    assert "No file or folder" in capsys.readouterr().err


@pytest.fixture
def verdict_tokens(tmp_path):
    """the-verdict prepared as a token file, and its token IDs."""
    text = load_text("the-verdict")
    (tmp_path / "story.txt").write_text(text, encoding="utf-8")
    prepare_corpus(tmp_path / "story.txt", tmp_path / "story.bin", num_workers=1, progress=False)
    return tmp_path / "story.bin", open_token_file(tmp_path / "story.bin").tolist()


def test_token_file_loaders_split_by_tokens_into_the_seeds_windows(verdict_tokens):
    path, ids = verdict_tokens
    train_loader, val_loader = token_file_loaders(path, context_length=64, batch_size=2, train_ratio=0.9)
    split = int(0.9 * len(ids))
    train_windows = sorted(tuple(x) for batch, _ in train_loader for x in batch.tolist())
    expected = sorted(tuple(ids[i:i + 64]) for i in range(0, split - 64, 64))
    assert set(train_windows) <= set(expected) and len(set(train_windows)) == len(train_windows)
    assert len(train_windows) == len(expected) // 2 * 2  # shuffled, each window once; drop_last: whole batches only
    val_inputs = [x for batch, _ in val_loader for x in batch.tolist()]
    val_targets = [y for _, batch in val_loader for y in batch.tolist()]
    assert val_inputs == [ids[i:i + 64] for i in range(split, len(ids) - 64, 64)]  # in order, not shuffled
    assert val_targets == [ids[i + 1:i + 65] for i in range(split, len(ids) - 64, 64)]


def test_count_window_tokens_equals_count_tokens(verdict_tokens):
    from gptedu import count_tokens

    path, _ = verdict_tokens
    for loader in token_file_loaders(path, context_length=64, batch_size=3):
        assert count_window_tokens(loader, 64) == count_tokens(loader)


def test_is_token_file_needs_the_description_written_by_prepare(verdict_tokens, tmp_path):
    path, _ = verdict_tokens
    assert is_token_file(path)
    assert not is_token_file(tmp_path / "story.txt")
    Path(str(path) + ".json").write_text("{not json")
    assert not is_token_file(path)


def test_token_file_loaders_say_what_to_change_when_a_part_is_too_short(verdict_tokens):
    path, _ = verdict_tokens
    with pytest.raises(NotEnoughDataError, match="validation part .* needs at least 1025 tokens"):
        token_file_loaders(path, context_length=1024, train_ratio=0.9)


def test_gptedu_train_reads_a_token_file_from_disk(verdict_tokens, tmp_path, capsys):
    from gptedu import GPTModel
    from gptedu.cli import main

    path, ids = verdict_tokens
    out_dir = tmp_path / "run"
    code = main(["train", "--corpus", str(path), "--emb-dim", "32", "--n-heads", "2", "--n-layers", "1", "--context-length", "32",
                 "--epochs", "1", "--eval-freq", "20", "--eval-iter", "2", "--no-progress", "--device", "cpu", "--out-dir", str(out_dir)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0] == f"Token file: {path}, {len(ids):,} tokens"
    split = int(0.9 * len(ids))
    assert lines[1] == f"Training tokens: {len(range(0, split - 32, 32)) // 2 * 2 * 32}"
    assert any(line.startswith("Ep 1 (Step 000000): Train loss") for line in lines)
    model = GPTModel(json.loads((out_dir / "config.json").read_text()))
    model.load_state_dict(torch.load(out_dir / "model.pth", map_location="cpu", weights_only=True), strict=True)


# ---------------------------------------------------------------- nothing lost, one tokenization


TEXT_WITH_ENDOFTEXT = "First story ends here.<|endoftext|>A second story begins.\nIt goes on <|endoftext|> and on.\n" * 30


def test_a_literal_endoftext_is_token_50256_on_both_paths(tmp_path):
    from gptedu import GPTDatasetV1

    path = tmp_path / "stories.txt"
    path.write_text(TEXT_WITH_ENDOFTEXT, encoding="utf-8")
    prepare_corpus(path, tmp_path / "stories.bin", num_workers=1, piece_chars=50, separate_documents=False, progress=False)
    token_file = open_token_file(tmp_path / "stories.bin").tolist()
    text_path = GPTDatasetV1(load_text(path), get_tokenizer(), 4, 4).token_ids.tolist()  # what train_val_loaders tokenizes
    assert token_file == text_path
    assert token_file.count(ENDOFTEXT_ID) == 60
    assert token_file[:6] == [5962, 1621, 5645, 994, 13, ENDOFTEXT_ID]


@pytest.mark.parametrize("piece_chars", [1, 13, 200])
def test_pieces_with_endoftext_tokenize_as_the_whole_text(piece_chars):
    from gptedu.corpus import encode_text

    pieces = split_into_pieces(TEXT_WITH_ENDOFTEXT, piece_chars)
    assert [i for piece in pieces for i in encode_text(piece)] == encode_text(TEXT_WITH_ENDOFTEXT)


def test_prepare_refuses_to_write_over_its_own_source(tmp_path, capsys):
    from gptedu.cli import main

    source = tmp_path / "mytext.txt"
    source.write_text("Every effort moves you", encoding="utf-8")
    (tmp_path / "alias.bin").symlink_to(source)
    for output in (source, tmp_path / "alias.bin", tmp_path / "sub" / ".." / "mytext.txt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        assert main(["prepare", str(source), str(output), "--workers", "1", "--no-progress", "--force"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gptedu: error: Refused to write {output}: it is the input file itself") and err.count("\n") == 1
    assert source.read_text(encoding="utf-8") == "Every effort moves you"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.bin", "mytext.txt", "sub"]


def test_prepare_refuses_a_source_file_of_a_folder_as_output(tmp_path):
    from gptedu.errors import OverwriteRefusedError

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Hello world.", encoding="utf-8")
    with pytest.raises(OverwriteRefusedError, match="it is the input file itself"):
        prepare_corpus(tmp_path / "docs", tmp_path / "docs" / "a.txt", num_workers=1, progress=False, force=True)
    assert (tmp_path / "docs" / "a.txt").read_text(encoding="utf-8") == "Hello world."


def test_prepare_overwrites_only_its_own_files_unless_forced(tmp_path):
    from gptedu.errors import OverwriteRefusedError

    (tmp_path / "story.txt").write_text("Every effort moves you", encoding="utf-8")
    (tmp_path / "notes.bin").write_text("someone else's file", encoding="utf-8")
    with pytest.raises(OverwriteRefusedError, match=r"Refused to overwrite .*notes.bin: it exists and gptedu did not write it"):
        prepare_corpus(tmp_path / "story.txt", tmp_path / "notes.bin", num_workers=1, progress=False)
    assert (tmp_path / "notes.bin").read_text(encoding="utf-8") == "someone else's file"
    prepare_corpus(tmp_path / "story.txt", tmp_path / "notes.bin", num_workers=1, progress=False, force=True)
    assert open_token_file(tmp_path / "notes.bin").tolist() == [6109, 3626, 6100, 345, 50256]
    prepare_corpus(tmp_path / "story.txt", tmp_path / "notes.bin", num_workers=1, progress=False)  # its own: no force needed


def test_prepare_refuses_a_foreign_json_beside_the_output(tmp_path):
    from gptedu.errors import OverwriteRefusedError

    (tmp_path / "story.txt").write_text("Every effort moves you", encoding="utf-8")
    (tmp_path / "out.bin.json").write_text('{"my": "settings"}')
    with pytest.raises(OverwriteRefusedError, match="out.bin.json"):
        prepare_corpus(tmp_path / "story.txt", tmp_path / "out.bin", num_workers=1, progress=False)
    assert not (tmp_path / "out.bin").exists()


def test_prepare_into_a_folder_is_a_one_line_error(tmp_path, capsys):
    from gptedu.cli import main

    (tmp_path / "story.txt").write_text("Every effort moves you", encoding="utf-8")
    (tmp_path / "out").mkdir()
    assert main(["prepare", str(tmp_path / "story.txt"), str(tmp_path / "out"), "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"gptedu: error: {tmp_path / 'out'} is a folder; the output must be a file name, "
                                       f"for example {tmp_path / 'out' / 'corpus.bin'}.\n")


@pytest.mark.parametrize("num_workers", [1, 2])
def test_a_file_that_is_not_utf8_is_named_with_its_byte_and_nothing_is_left_behind(tmp_path, num_workers):
    from gptedu.errors import TextEncodingError

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Hello world.\n" * 500, encoding="utf-8")
    (tmp_path / "docs" / "b.txt").write_bytes(b"Line one\nCaf\xe9 au lait\n")  # Latin-1
    (tmp_path / "out.bin").write_bytes(b"")  # stays as it was
    with pytest.raises(TextEncodingError) as excinfo:
        prepare_corpus(tmp_path / "docs", tmp_path / "new.bin", num_workers=num_workers, piece_chars=100, progress=False)
    assert str(excinfo.value).startswith(f"{tmp_path / 'docs' / 'b.txt'} is not UTF-8 text: byte 0xE9 at byte offset 12 (line 2)")
    assert "iconv" in str(excinfo.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "out.bin"]  # no new.bin, no temporary file


def test_an_error_during_prepare_keeps_the_previous_token_file(tmp_path, monkeypatch):
    import gptedu.corpus

    (tmp_path / "story.txt").write_text("Every effort moves you", encoding="utf-8")
    prepare_corpus(tmp_path / "story.txt", tmp_path / "story.bin", num_workers=1, progress=False)

    def interrupted(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(gptedu.corpus, "_encode_piece", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus(tmp_path / "story.txt", tmp_path / "story.bin", num_workers=1, progress=False)
    assert open_token_file(tmp_path / "story.bin").tolist() == [6109, 3626, 6100, 345, 50256]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.bin", "story.bin.json", "story.txt"]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"num_workers": 0}, "ConfigError", "num_workers must be a positive integer; got 0"),
    ({"num_workers": -1}, "ConfigError", "num_workers must be a positive integer; got -1"),
    ({"num_workers": 1.5}, "ArgumentTypeError", "num_workers must be an integer; got 1.5"),
    ({"piece_chars": 0}, "ConfigError", "piece_chars must be a positive integer; got 0"),
])
def test_prepare_checks_its_arguments_before_writing(tmp_path, kwargs, error, message):
    import gptedu.errors

    (tmp_path / "story.txt").write_text("Every effort moves you", encoding="utf-8")
    with pytest.raises(getattr(gptedu.errors, error), match=message):
        prepare_corpus(tmp_path / "story.txt", tmp_path / "story.bin", progress=False, **{"num_workers": 1, **kwargs})
    assert not (tmp_path / "story.bin").exists()


def test_a_token_id_outside_the_vocabulary_is_reported(tmp_path):
    from gptedu.errors import FileKindError

    ids = np.arange(100, dtype=np.uint16)
    ids[40] = 60000
    ids.tofile(tmp_path / "odd.bin")
    dataset = TokenFileDataset(tmp_path / "odd.bin", max_length=16)
    assert dataset[1][0].tolist() == list(range(16, 32))
    with pytest.raises(FileKindError, match="holds token ID 60000 near token 32, outside GPT-2's vocabulary"):
        dataset[2]


def test_token_file_loaders_check_their_arguments(verdict_tokens):
    from gptedu.errors import ArgumentTypeError, ConfigError

    path, _ = verdict_tokens
    with pytest.raises(ConfigError, match="train_ratio must be a number in"):
        token_file_loaders(path, context_length=32, train_ratio=1.0)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer; got 0"):
        token_file_loaders(path, context_length=32, batch_size=0)
    with pytest.raises(ArgumentTypeError, match="context_length must be an integer; got 32.0"):
        token_file_loaders(path, context_length=32.0)
