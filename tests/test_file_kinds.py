"""Files told apart honestly (gptedu/safe_io.py): what a file is, said before any talk of pickles.

``inspect_file`` judges a file by its first bytes; the loaders (load_model, load_checkpoint,
read_torch_weights, ``gptedu train --resume``) and the text readers put its description in
their errors. Also the two guards every writer uses: ``read_utf8_text`` and ``check_output_file``.
"""

import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gptedu.checkpoints import load_checkpoint, load_model, read_torch_weights, save_checkpoint, save_model
from gptedu.errors import (
    ChecksumError,
    DataNotFoundError,
    FileKindError,
    OverwriteRefusedError,
    TextEncodingError,
    UnsafeFileError,
)
from gptedu.safe_io import check_output_file, describe_file_kind, inspect_file, read_utf8_text

RANDOM_BYTES = bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8))


def make_files(folder, model):
    """One file of each kind, in ``folder``; returns {kind: path}."""
    files = {}

    def put(name, data):
        path = folder / name
        path.write_bytes(data)
        return path

    files["text"] = put("notes.pth", b"These are my notes, not weights.\n")
    files["non-utf8-text"] = put("latin.pth", "Caf\xe9 cr\xe8me\n".encode("latin-1") * 5)
    files["binary"] = put("random.pth", RANDOM_BYTES)
    files["empty"] = put("empty.pth", b"")
    torch.save(model.state_dict(), folder / "model.pth")
    files["torch-zip"] = folder / "model.pth"
    files["damaged-zip"] = put("cut.pth", (folder / "model.pth").read_bytes()[:2000])
    torch.save({"w": torch.zeros(2)}, folder / "legacy.pth", _use_new_zipfile_serialization=False)
    files["pickle"] = folder / "legacy.pth"
    files["safetensors"] = save_model(model, folder / "model.safetensors", verbose=False)
    whole = files["safetensors"].read_bytes()
    files["truncated-safetensors"] = put("cut.safetensors", whole[: len(whole) // 2])
    with zipfile.ZipFile(folder / "archive.pth", "w") as archive:
        archive.writestr("readme.txt", "hello")
    files["zip"] = folder / "archive.pth"
    np.save(folder / "array.npy", np.zeros(3))
    files["numpy"] = folder / "array.npy"
    return files


@pytest.fixture
def files(tmp_path, small_model):
    return make_files(tmp_path, small_model)


def test_inspect_file_tells_each_kind_apart(files, tmp_path):
    assert {kind: inspect_file(path).kind for kind, path in files.items()} == {kind: kind for kind in files}
    assert inspect_file(tmp_path).kind == "folder"
    assert inspect_file(tmp_path / "nothing.pth").kind == "missing"


def test_descriptions_say_what_the_file_is(files):
    assert describe_file_kind(files["text"]) == "a text file (it starts with 'These are my notes, not weights.')"
    assert describe_file_kind(files["empty"]) == "an empty file (0 bytes)"
    assert describe_file_kind(files["binary"]).startswith(f"binary data in no format gptedu knows (300 bytes starting {RANDOM_BYTES[:8].hex(' ')};")
    assert describe_file_kind(files["non-utf8-text"]) == "a text file that is not UTF-8 (byte 0xE9 at offset 3 is not valid UTF-8)"
    assert describe_file_kind(files["zip"]) == "a zip archive that torch.save did not write (it holds readme.txt)"
    assert inspect_file(files["safetensors"]).gptedu == "model"


def test_a_truncated_safetensors_file_says_how_many_bytes_are_missing(files):
    size = files["truncated-safetensors"].stat().st_size
    whole = files["safetensors"].stat().st_size
    assert describe_file_kind(files["truncated-safetensors"]) == (
        f"a truncated safetensors file (its header describes {whole:,} bytes; only {size:,} are there)")


def test_a_gptedu_checkpoint_is_recognised(small_model, tmp_path):
    optimizer = torch.optim.AdamW(small_model.parameters())
    path = save_checkpoint(tmp_path / "ckpt.safetensors", small_model, optimizer)
    kind = inspect_file(path)
    assert (kind.kind, kind.gptedu) == ("safetensors", "checkpoint")
    assert kind.description.startswith("a gptedu training checkpoint (safetensors, ")


def test_a_foreign_safetensors_file_has_no_gptedu_kind(tmp_path):
    save_file({"w": torch.zeros(3)}, str(tmp_path / "w.safetensors"))
    kind = inspect_file(tmp_path / "w.safetensors")
    assert (kind.kind, kind.gptedu, kind.description) == ("safetensors", None, "a safetensors file without gptedu's metadata (1 tensor)")


@pytest.mark.parametrize("load", [load_model, load_checkpoint, read_torch_weights])
@pytest.mark.parametrize("kind", ["text", "non-utf8-text", "binary", "empty", "zip", "numpy"])
def test_a_file_that_is_not_weights_is_called_what_it_is_not_a_pickle(files, load, kind):
    with pytest.raises(FileKindError) as excinfo:
        load(files[kind])
    message = str(excinfo.value)
    assert message.startswith(f"{files[kind].name} is {describe_file_kind(files[kind])}, not ")
    assert "pickle" not in message


@pytest.mark.parametrize("load", [load_model, load_checkpoint])
@pytest.mark.parametrize("kind", ["damaged-zip", "truncated-safetensors"])
def test_a_truncated_copy_is_called_truncated(files, load, kind):
    with pytest.raises(ChecksumError, match="It is truncated or corrupted") as excinfo:
        load(files[kind])
    assert describe_file_kind(files[kind]) in str(excinfo.value)
    assert "pickle" not in str(excinfo.value)


def test_a_folder_given_as_weights_is_called_a_folder(tmp_path):
    with pytest.raises(FileKindError, match="is a folder, not "):
        load_model(tmp_path)


def test_a_real_pickle_with_code_keeps_the_pickle_warning(small_model, tmp_path):
    torch.save({"model_state_dict": small_model.state_dict(), "extra": pickle.PickleError("x")}, tmp_path / "odd.pth")
    assert inspect_file(tmp_path / "odd.pth").kind == "torch-zip"
    with pytest.raises(UnsafeFileError, match="holds pickled Python objects"):
        load_model(tmp_path / "odd.pth", cfg=small_model.cfg)


def test_the_reader_is_chosen_by_content_not_by_name(small_model, tmp_path):
    path = save_model(small_model, tmp_path / "model.safetensors", verbose=False)
    renamed = tmp_path / "model.pth"  # a gptedu file with a .pth name: read as the safetensors file it is
    os.replace(path, renamed)
    loaded = load_model(renamed)
    assert all(torch.equal(t, small_model.state_dict()[name]) for name, t in loaded.state_dict().items())


def test_a_missing_weights_file_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="No such file"):
        load_model(tmp_path / "nothing.pth")


# ---------------------------------------------------------------- read_utf8_text


def test_read_utf8_text_reads_line_breaks_as_open_does(tmp_path):
    (tmp_path / "a.txt").write_bytes("one\r\ntwo\rthree\n\u00e9".encode())
    assert read_utf8_text(tmp_path / "a.txt") == "one\ntwo\nthree\n\u00e9"


def test_read_utf8_text_names_the_file_the_byte_offset_and_the_line(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes(b"first line\nsecond line\ncaf\xe9\n")
    with pytest.raises(TextEncodingError) as excinfo:
        read_utf8_text(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path} is not UTF-8 text: byte 0xE9 at byte offset 26 (line 3) is not valid UTF-8")
    assert "iconv -f WINDOWS-1252 -t UTF-8 story.txt > story-utf8.txt" in message


def test_read_utf8_text_calls_a_binary_file_what_it_is(files):
    with pytest.raises(TextEncodingError, match="is a PyTorch file written by torch.save .*, not a UTF-8 text file"):
        read_utf8_text(files["torch-zip"])


# ---------------------------------------------------------------- check_output_file


def test_output_equal_to_an_input_is_refused_even_with_force(tmp_path):
    source = tmp_path / "text.txt"
    source.write_text("precious")
    (tmp_path / "link.bin").symlink_to(source)
    os.link(source, tmp_path / "hard.bin")
    for output in (source, tmp_path / "link.bin", tmp_path / "hard.bin", tmp_path / "." / "text.txt"):
        with pytest.raises(OverwriteRefusedError, match="it is the input file itself"):
            check_output_file(output, [source], force=True)
    assert source.read_text() == "precious"


def test_an_existing_foreign_output_needs_force(tmp_path):
    (tmp_path / "out.bin").write_text("someone's file")
    with pytest.raises(OverwriteRefusedError, match=r"gptedu did not write it; it is a text file .*--force"):
        check_output_file(tmp_path / "out.bin")
    assert check_output_file(tmp_path / "out.bin", force=True) == tmp_path / "out.bin"
    assert check_output_file(tmp_path / "out.bin", ours=lambda path: True) == tmp_path / "out.bin"
    assert check_output_file(tmp_path / "new.bin") == tmp_path / "new.bin"


def test_an_output_that_is_a_folder_or_inside_a_file_is_refused(tmp_path):
    from gptedu.errors import ConfigError

    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match="is a folder; the output must be a file name"):
        check_output_file(tmp_path)
    with pytest.raises(ConfigError, match="a.txt is a file, not a folder"):
        check_output_file(tmp_path / "a.txt" / "out.bin")


# ---------------------------------------------------------------- the loaders' and savers' arguments


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda m, p: save_model(m, 42), "ArgumentTypeError", "path must be a path"),
    (lambda m, p: save_model(torch.nn.Linear(2, 2), p / "m.safetensors"), "ArgumentTypeError", "model must be a GPTModel"),
    (lambda m, p: save_model(m, p / "m.safetensors", dtype=torch.int8), "ConfigError", "dtype must be None"),
    (lambda m, p: save_model(m, p / "m.safetensors", verbose="no"), "ArgumentTypeError", "verbose must be True or False"),
    (lambda m, p: save_checkpoint(p / "c.safetensors", m, optimizer="adamw"), "ArgumentTypeError", "optimizer must be a torch.optim"),
    (lambda m, p: save_checkpoint(p / "c.safetensors", m, progress=[1]), "ArgumentTypeError", "progress must be a dict"),
    (lambda m, p: load_model(p / "m.safetensors", cfg={"emb_dim": 8}), "ConfigError", "The model config is missing"),
    (lambda m, p: load_model(p / "m.safetensors", device="tpu"), "ConfigError", "device must be 'cpu', 'cuda'"),
    (lambda m, p: load_checkpoint(p / "c.safetensors", model="gpt"), "ArgumentTypeError", "model must be a GPTModel"),
])
def test_savers_and_loaders_check_their_arguments_and_write_nothing(small_model, tmp_path, call, error, message):
    import gptedu.errors

    with pytest.raises(getattr(gptedu.errors, error), match=message):
        call(small_model, tmp_path)
    assert list(tmp_path.iterdir()) == []
