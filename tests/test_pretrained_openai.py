"""OpenAI's original GPT-2 checkpoint without TensorFlow (gptedu.tf_checkpoint, gptedu.openai_download).

The fixture tests/fixtures/openai-gpt2-tiny was written by TensorFlow's own ``Saver``
(tests/fixtures/make_openai_checkpoint.py); ``expected.npz`` beside it holds the same values,
so these tests check the reader against TensorFlow's format without needing TensorFlow.
Downloads are tested against a local HTTP server on 127.0.0.1 that understands ``Range``.
"""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gptedu.errors import ChecksumError, DataNotFoundError
from gptedu.openai_download import OPENAI_FILES, download_openai_gpt2, fetch_with_resume
from gptedu.pretrained import load_gpt2, load_weights_into_gpt
from gptedu.tf_checkpoint import crc32c, load_gpt2_params_from_tf_ckpt, read_index, read_tf_checkpoint, unmask_crc

FIXTURE = Path(__file__).parent / "fixtures" / "openai-gpt2-tiny"
EXPECTED = dict(np.load(FIXTURE / "expected.npz"))
HPARAMS = {"n_vocab": 64, "n_ctx": 16, "n_embd": 8, "n_head": 2, "n_layer": 2}


def test_crc32c_matches_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # the published CRC-32C check value
    assert crc32c(b"") == 0


def test_crc32c_fast_path_equals_the_byte_loop_and_chains():
    data = np.random.default_rng(0).integers(0, 256, size=3 * 4096 + 77, dtype=np.uint8)
    slow = 0xFFFFFFFF
    for byte in data.tobytes():  # the textbook loop, bit by bit
        slow ^= byte
        for _ in range(8):
            slow = (slow >> 1) ^ 0x82F63B78 if slow & 1 else slow >> 1
    assert crc32c(data) == slow ^ 0xFFFFFFFF
    assert crc32c(data[5000:], crc32c(data[:5000])) == crc32c(data)


def test_index_lists_every_variable_with_its_shape():
    entries = read_index(FIXTURE / "model.ckpt.index")
    assert set(entries) == set(EXPECTED)
    assert entries["model/h0/attn/c_attn/w"].shape == (1, 8, 24)
    assert entries["model/wte"].shape == (64, 8)


def test_reader_returns_tensorflows_values_exactly():
    arrays = dict(read_tf_checkpoint(FIXTURE))
    assert set(arrays) == set(EXPECTED)
    for name, array in arrays.items():
        assert array.dtype == np.float32 and np.array_equal(array, EXPECTED[name]), name


def test_book_params_have_the_books_nesting_and_squeezed_shapes():
    params = load_gpt2_params_from_tf_ckpt(FIXTURE, HPARAMS)
    assert params["blocks"][1]["attn"]["c_attn"]["w"].shape == (8, 24)
    assert np.array_equal(params["blocks"][1]["mlp"]["c_proj"]["b"], EXPECTED["model/h1/mlp/c_proj/b"])
    assert np.array_equal(params["g"], EXPECTED["model/ln_f/g"])


def test_checkpoint_gives_the_same_model_as_transformers_with_the_same_weights():
    transformers = pytest.importorskip("transformers")
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=8, n_layer=2, n_head=2, n_positions=16, vocab_size=64)).eval()
    state = {}
    for name, array in EXPECTED.items():
        hf_name = name.removeprefix("model/").replace("/", ".")
        hf_name = hf_name.replace(".w", ".weight").replace(".g", ".weight").replace(".b", ".bias")
        hf_name = "transformer." + (hf_name + ".weight" if hf_name in ("wte", "wpe") else hf_name)
        hf_name = hf_name.replace("transformer.h", "transformer.h.", 1) if ".h" in hf_name[11:13] else hf_name
        state[hf_name] = torch.from_numpy(array[0] if array.ndim == 3 else array)
    state["lm_head.weight"] = state["transformer.wte.weight"]
    hf.load_state_dict(state, strict=False)
    model = load_gpt2(None, source=FIXTURE)
    ids = torch.tensor([[5, 9, 1, 63, 0, 7]])
    with torch.no_grad():
        assert (hf(ids).logits - model(ids)).abs().max().item() < 1e-5
    book = load_weights_into_gpt(load_gpt2(None, source=FIXTURE), load_gpt2_params_from_tf_ckpt(FIXTURE, HPARAMS))
    assert torch.equal(book(ids), model(ids))


def test_a_flipped_byte_in_the_data_file_is_caught(tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, folder)
    data_file = folder / "model.ckpt.data-00000-of-00001"
    data = bytearray(data_file.read_bytes())
    data[1234] ^= 0x01
    data_file.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="CRC32C"):
        load_gpt2(None, source=folder)


def test_a_flipped_byte_in_the_index_is_caught(tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, folder)
    index = bytearray((folder / "model.ckpt.index").read_bytes())
    index[40] ^= 0x01
    (folder / "model.ckpt.index").write_bytes(bytes(index))
    with pytest.raises(ChecksumError):
        list(read_tf_checkpoint(folder))


def test_mask_is_undone():
    masked = (((0x12345678 >> 15) | (0x12345678 << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert unmask_crc(masked) == 0x12345678


# ---------------------------------------------------------------- downloading


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with ``Range: bytes=N-`` support; ``cut`` files stop after half their bytes once."""

    cut: set = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if path.name in self.cut:
            self.cut.discard(path.name)
            body = body[: len(body) // 2]  # the connection drops half way
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "server"
    shutil.copytree(FIXTURE, root / "124M")
    for name in ("encoder.json", "vocab.bpe"):
        (root / "124M" / name).write_text("{}")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def test_download_fetches_the_seven_files(server, tmp_path, monkeypatch):
    url, _ = server
    monkeypatch.setattr("gptedu.openai_download.expected_size", lambda filename, size: None)  # toy sizes
    folder = download_openai_gpt2("124M", models_dir=tmp_path / "models", base_url=url, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(OPENAI_FILES)
    assert dict(read_tf_checkpoint(folder)).keys() == EXPECTED.keys()


def test_an_interrupted_download_resumes(server, tmp_path):
    url, root = server
    RangeHandler.cut = {"model.ckpt.data-00000-of-00001"}
    target = tmp_path / "model.ckpt.data-00000-of-00001"
    fetch_with_resume(f"{url}/124M/{target.name}", target, size=9600, progress=False)
    assert target.read_bytes() == (root / "124M" / target.name).read_bytes()


def test_a_file_of_the_wrong_size_is_refused(server, tmp_path):
    url, _ = server
    target = tmp_path / "model.ckpt.data-00000-of-00001"
    with pytest.raises(ChecksumError, match="9,600 bytes"):
        fetch_with_resume(f"{url}/124M/{target.name}", target, size=9601, progress=False)
    assert not target.exists()


def test_an_unreachable_server_says_where_to_put_the_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="copy them to"):
        fetch_with_resume("http://127.0.0.1:9/124M/hparams.json", tmp_path / "hparams.json", progress=False, timeout=2)
