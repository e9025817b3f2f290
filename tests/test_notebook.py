"""gptedu.notebook: show_source shows the code the package really runs."""

import inspect
import sys

import pytest

from gptedu import calc_loss_batch, show_source


def test_show_source_returns_syntax_highlighted_code_in_ipython():
    display = pytest.importorskip("IPython.display")
    shown = show_source(calc_loss_batch)
    assert isinstance(shown, display.Code)
    assert shown.data == inspect.getsource(calc_loss_batch)


def test_show_source_returns_the_text_without_ipython(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # as in plain Python without IPython
    assert show_source(calc_loss_batch) == inspect.getsource(calc_loss_batch)
    assert show_source(calc_loss_batch).startswith("def calc_loss_batch(")
