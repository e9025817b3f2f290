"""Exercises that check themselves, one module per notebook (``nb01`` ... ``nb07``).

In a notebook::

    from gptedu.exercises import check, hint, solution, list_exercises

    def cross_entropy_by_hand(logits, targets):
        ...  # the student's code
    check("02.1", cross_entropy_by_hand)   # prints one line: passed, or which case differs and why
    hint("02.1")                           # hints in stages, never the answer
    solution("02.1")                       # the worked answer

``check`` runs an implement-it answer on small seeded cases against gptedu's own function,
compares a numeric answer with the reference computation, and a choice with a salted hash,
so the answers are not written in the notebooks or in this package. It works the same in
JupyterLab, Colab and plain Python, offline. ``gptedu grade`` runs students' notebooks and
collects what ``check`` reported (see ``gptedu/exercises/grading.py``).
"""

from __future__ import annotations

import importlib

from .core import CheckResult, Exercise, check, get_exercise, hint, list_exercises, solution

#: The notebook modules, in the series' order; each registers its exercises when imported.
NOTEBOOK_MODULES = ("nb01", "nb02", "nb03", "nb04", "nb05", "nb06", "nb07")


def _load_all() -> None:
    for name in NOTEBOOK_MODULES:
        importlib.import_module(f"{__name__}.{name}")


__all__ = ["CheckResult", "Exercise", "check", "get_exercise", "hint", "list_exercises", "solution"]
