"""``gptedu doctor``: one line per item, offline, and a failing check never hides the others."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

import gptedu
from gptedu import doctor
from gptedu.cli import main

TINY = {"vocab_size": 50257, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
        "qkv_bias": False}
ITEMS = ("Python", "PyTorch", "Device", "Fast path", "Fused AdamW", "Tokenizer", "The Verdict", "GPT-2 124M", "GPT-2 355M",
         "GPT-2 774M", "GPT-2 1558M", "Offline mode", "ipywidgets", "Notebook 04")


@pytest.fixture(scope="module")
def report():
    return doctor.doctor_report(timing=True, timing_config=TINY)


def test_the_report_has_one_line_per_item_in_order(report):
    names = [line.split(":")[0] for line in report.splitlines()[1:]]
    assert names == list(ITEMS)
    assert "could not check" not in report, report


def test_the_report_says_what_is_cached_where(report, tokenizer):
    lines = dict(line.split(":", 1) for line in report.splitlines()[1:])
    assert lines["Tokenizer"].strip().startswith("encoder.json and vocab.bpe cached in")  # get_tokenizer() ran: cached
    assert lines["Device"].strip().startswith(("cpu", "cuda", "mps"))
    assert lines["Fast path"].strip() == gptedu.fast_path_for(gptedu.get_device()).describe()
    assert any(f"{precision} because" in lines["Fast path"] for precision in ("bf16", "fp16", "fp32"))  # and why
    # make test seeds the-verdict and the 124M stand-in into the caches, offline
    assert lines["The Verdict"].strip().startswith("cached: ") and lines["The Verdict"].strip().endswith("bytes)")
    assert "RANDOM STAND-IN" in lines["GPT-2 124M"]
    assert lines["GPT-2 1558M"].strip().startswith("not cached")
    assert lines["Offline mode"].strip().startswith("on (HF_HUB_OFFLINE=1)")


def test_the_notebook_04_estimate_scales_the_timed_step(report):
    line = next(line for line in report.splitlines() if line.startswith("Notebook 04"))
    step, minutes = re.search(r"one training step took ([\d.]+) s, so the whole notebook should take about (\d+) min", line).groups()
    expected = doctor.NOTEBOOK_04_SECONDS * float(step) / doctor.STEP_SECONDS_THERE / 60
    assert abs(int(minutes) - expected) <= 0.5 + 0.01 * expected  # the printed step is rounded to 0.01 s


def test_a_failing_check_is_reported_and_the_others_still_run(monkeypatch):
    def broken() -> str:
        raise OSError("disk on fire")

    monkeypatch.setattr(doctor, "_verdict_text", broken)
    text = doctor.doctor_report(timing=False)
    assert "The Verdict:" in text and "could not check (OSError: disk on fire)" in text
    assert "Offline mode:" in text and "Notebook 04" not in text


def test_the_command_prints_the_report_and_exits_0():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["doctor", "--no-timing"])
    assert code == 0
    assert out.getvalue().startswith("gptedu doctor\nPython:")
