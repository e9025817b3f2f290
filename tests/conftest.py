"""Shared fixtures: GPT-2's tokenizer, the seed's short story and a small model config.

Tests run on CPU in seconds, so models are small (``SMALL_CFG``: 2 layers of width 32 over
GPT-2's full vocabulary); the real GPT-2 sizes are built on the meta device, which gives
shapes and parameter counts without allocating memory.
"""

import os

import matplotlib

matplotlib.use("Agg")  # no windows: figures are only drawn and saved

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gptedu import GPTModel, get_tokenizer, load_text  # noqa: E402

#: A GPT small enough to train for a few steps in a test, with the seed's vocabulary and dropout.
SMALL_CFG = {
    "vocab_size": 50257,
    "context_length": 32,
    "emb_dim": 32,
    "n_heads": 2,
    "n_layers": 2,
    "drop_rate": 0.1,
    "qkv_bias": False,
}


@pytest.fixture(scope="session")
def tokenizer():
    """GPT-2's tokenizer as gptedu loads it (tiktoken's ``gpt2`` encoding)."""
    return get_tokenizer()


@pytest.fixture(scope="session")
def verdict():
    """The seed's corpus: 'The Verdict', 20,479 characters."""
    return load_text("the-verdict")


@pytest.fixture
def small_cfg():
    """A fresh copy of ``SMALL_CFG`` that a test may change."""
    return dict(SMALL_CFG)


@pytest.fixture
def small_model(small_cfg):
    """A ``GPTModel(SMALL_CFG)`` initialised with the seed's ``torch.manual_seed(123)``, in eval mode."""
    torch.manual_seed(123)
    model = GPTModel(small_cfg)
    model.eval()
    return model


def pytest_configure(config):
    config.addinivalue_line("markers", "all_threads: let PyTorch use all its threads in this module (real-size models)")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(request):
    """Run each test module's tiny models on one PyTorch thread, unless it is marked ``all_threads``.

    For tiny models a second thread costs more in synchronisation than it saves, and on a busy
    shared machine (CI, a classroom server) it made these tests 5x slower (200 s instead of
    40 s). ``GPTEDU_TEST_THREADS=N`` sets another number.
    """
    if request.node.get_closest_marker("all_threads"):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("GPTEDU_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def no_network(monkeypatch):
    """Make every network connection fail, as on an offline machine (loopback included)."""
    import socket

    import requests

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    def refuse_requests(*args, **kwargs):
        raise requests.ConnectionError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse_requests)


# The grading fixtures are students' submissions (one loops forever on purpose): tests/test_grading.py
# runs them through `gptedu grade`; nbval must not collect them as notebooks of the series.
collect_ignore_glob = ["fixtures/submissions/*"]
