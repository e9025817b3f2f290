"""Every notebook opens in Colab from the one repository URL, and installs gptedu from there."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from gptedu.notebook import REPOSITORY_URL, colab_badge, colab_install_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"]+")
PIP_LINE = re.compile(r"%pip install[^\n]*")


def test_every_lesson_and_solution_notebook_is_checked():
    assert len(NOTEBOOKS) == 14


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_badge_opens_this_very_notebook_from_the_repository(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    own = path.relative_to(ROOT).as_posix()
    assert COLAB_LINK.findall(text) == [COLAB_LINK.search(colab_badge(own)).group()], path.name
    assert colab_badge(own) in nb.cells[0].source  # in the first cell, where a student looks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_first_code_cell_installs_gptedu_from_the_repository_on_colab_only(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == colab_install_source()
    assert [line for c in code for line in PIP_LINE.findall(c.source)] == [f'%pip install -q "gptedu @ git+{REPOSITORY_URL}"']


def test_pyproject_names_the_same_repository():
    assert f'Repository = "{REPOSITORY_URL}"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
