"""The machinery behind ``check``, ``hint``, ``solution`` and ``list_exercises``.

An exercise is one of four kinds:

- ``implement``: the student writes a function; ``check`` runs it on small seeded cases
  against gptedu's own function and names the first case that differs.
- ``numeric``: the student computes a number (or a few); ``check`` compares it with the
  reference computation, within a tolerance.
- ``choice``: a concept question; the right option is stored only as a salted hash, and
  every option has its own explanation.
- ``experiment``: open-ended; nothing to check, ``solution`` says what to observe.

For ``implement`` and ``numeric`` exercises, each known mistake is a function that makes
that mistake on purpose: the runs are deterministic, so a student's answer that equals a
mistake's result is named (``Mistake("You passed probabilities to cross_entropy ...", fn)``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import UnknownExerciseError

KINDS = ("implement", "numeric", "choice", "experiment")
PASSED, FAILED, NOT_ATTEMPTED, ERROR, NOT_GRADED = "passed", "failed", "not attempted", "error", "not graded"
#: Set by ``gptedu grade``: every ``check`` appends its result to this file as one JSON line.
GRADE_LOG_ENV = "GPTEDU_GRADE_LOG"
_SALT = "gptedu-exercises-v1"


class NotAttempted(Exception):
    """Raised inside a check when the answer is still the notebook's stub."""


class StudentCodeError(Exception):
    """Raised inside a check when the student's function raised; carries the case it raised on."""

    def __init__(self, case: str, error: BaseException) -> None:
        super().__init__(f"your function raised {type(error).__name__}: {error} (on {case})")
        self.case, self.error = case, error


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` returns: ``passed`` and the one-line ``message`` it printed (plus the ``status`` word)."""

    exercise_id: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """Show nothing: ``check`` has already printed the message (``print(result)`` shows it again)."""


@dataclass(frozen=True)
class Case:
    """One input of an implement-it check: ``description`` in plain words, and the arguments."""

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer: ``message`` names it; ``make`` computes what that mistake gives.

    For an implement-it exercise ``make`` takes the case's arguments, like the student's
    function; for a numeric one it takes the reference value and returns the wrong value.
    """

    message: str
    make: Callable[..., Any]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its statement (the notebooks' text comes from here), hints, check and solution."""

    id: str
    title: str
    kind: str
    minutes: float  # a student's time for it, reading and thinking included
    statement: str
    hints: tuple[str, ...]
    # implement: the student's function is compared with ``reference`` on ``cases()``
    name: str | None = None  # the function (implement) or variable (numeric, choice) the student fills in
    stub: str | None = None  # the code cell a student starts from (without the check line)
    reference: Callable[..., Any] | None = None
    cases: Callable[[], Sequence[Case]] | None = None
    compare: Callable[[Any, Any], str | None] | None = None  # None when equal, else what differs
    mistakes: tuple[Mistake, ...] = ()
    solution: Callable[..., Any] | None = None  # implement: the solved function; numeric: a function computing the answer
    # numeric: the answer is ``reference()``, computed when checked (never stored)
    # choice: options, the right one only as a salted hash, an explanation per option
    options: dict[str, str] | None = None
    answer_hash: str | None = None
    explanations: dict[str, str] | None = None
    # experiment: what to observe, with the numbers measured here
    observe: str | None = None
    cpu_seconds: float = 1  # how long its code runs on this project's 2-core CPU (measured here, idle)
    cpu_estimated: bool = False  # True: cpu_seconds is scaled from a measured smaller case, not measured itself
    needs_download: bool = False
    quick_variant: str | None = None  # how to run a smaller version (for anything over 2 minutes on a CPU)
    book: str | None = None  # the book's exercise number, e.g. "5.1"

    @property
    def notebook(self) -> str:
        return self.id.split(".")[0]

    @property
    def time_label(self) -> str:
        runs = (f"{self.cpu_seconds / 60:.0f} min" if self.cpu_seconds >= 90 else
                f"{self.cpu_seconds:.0f} s" if self.cpu_seconds >= 2 else "about a second")
        estimate = " (estimated)" if self.cpu_estimated else ""
        label = f"about {self.minutes:g} min; its code runs {runs} on this project's 2-core CPU{estimate}"
        if self.kind == "choice":
            label = f"about {self.minutes:g} min; nothing to compute"
        if self.needs_download:
            label += ", needs a download"
        return label

    def __repr__(self) -> str:
        book = f", book exercise {self.book}" if self.book else ""
        return f"<Exercise {self.id} · {self.kind} · {self.title} · {self.time_label}{book}>"


_REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (each notebook module calls this at import)."""
    if exercise.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {exercise.kind!r} for exercise {exercise.id}.")
    if exercise.id in _REGISTRY:
        raise ValueError(f"exercise {exercise.id} is defined twice")
    required = {"implement": ("name", "stub", "reference", "cases", "solution"), "numeric": ("name", "reference", "solution"),
                "choice": ("options", "answer_hash", "explanations"), "experiment": ("observe",)}[exercise.kind]
    missing = [attr for attr in required if getattr(exercise, attr) is None]
    if missing:
        raise ValueError(f"exercise {exercise.id} ({exercise.kind}) lacks {', '.join(missing)}")
    _REGISTRY[exercise.id] = exercise
    return exercise


def answer_hash(exercise_id: str, answer: str) -> str:
    """The salted hash under which a choice exercise stores its right option."""
    return hashlib.sha256(f"{_SALT}:{exercise_id}:{answer.strip().lower()}".encode()).hexdigest()[:20]


def get_exercise(exercise_id: str) -> Exercise:
    """Return the exercise with this id, or raise a ``KeyError`` that lists the ids there are."""
    from . import _load_all

    _load_all()
    exercise_id = str(exercise_id).strip()
    if exercise_id not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownExerciseError(f"No exercise {exercise_id!r}. Ids look like \"02.1\" (notebook 02, exercise 1); "
                                   f"known: {known}.")
    return _REGISTRY[exercise_id]


def all_exercises() -> list[Exercise]:
    from . import _load_all

    _load_all()
    return sorted(_REGISTRY.values(), key=lambda e: tuple(int(p) for p in e.id.split(".")))


# ---------------------------------------------------------------- comparing answers


def describe(value: Any) -> str:
    """A short plain-words picture of a value for a feedback line (shape and first numbers of a tensor)."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        shown = ", ".join(f"{v:.4g}" if value.is_floating_point() else str(int(v)) for v in flat[:6].tolist())
        more = ", ..." if flat.numel() > 6 else ""
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}: [{shown}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def tensors_close(expected: Any, got: Any, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Compare a tensor, a number or a (nested) tuple/list of them; return what differs, or None."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected {len(expected)} values in a {type(expected).__name__}, got {describe(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            difference = tensors_close(e, g, atol, rtol)
            if difference:
                return f"item {i}: {difference}"
        return None
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            if isinstance(got, (int, float)) and expected.numel() == 1:
                got = torch.tensor(got)
            else:
                return f"expected a tensor, got {type(got).__name__} ({describe(got)})"
        if tuple(got.shape) != tuple(expected.shape):
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        if not expected.is_floating_point():
            return None if torch.equal(got.to(expected.dtype), expected) else f"expected {describe(expected)}, got {describe(got)}"
        if not torch.allclose(got.detach().to(torch.float64), expected.detach().to(torch.float64), atol=atol, rtol=rtol,
                              equal_nan=True):
            return f"expected {describe(expected)}, got {describe(got)}"
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"expected a number, got {type(got).__name__} ({describe(got)})"
        if isinstance(expected, int) and not isinstance(got, int) and float(got) != expected:
            return f"expected {expected}, got {describe(got)}"
        if not math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return f"expected {describe(float(expected))}, got {describe(float(got))}"
        return None
    return None if got == expected else f"expected {describe(expected)}, got {describe(got)}"


def _clone(value: Any) -> Any:
    """A copy of the arguments, so that a student's function that changes its inputs cannot change the check."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def is_stub(answer: Any) -> bool:
    """True for an answer the student has not touched yet: ``None`` or ``...``."""
    return answer is None or answer is Ellipsis


def call_student(function: Callable[..., Any], case: Case) -> Any:
    """Run the student's function on one case; a stub's ``NotImplementedError`` means not attempted."""
    try:
        return function(*_clone(case.args), **_clone(case.kwargs))
    except NotImplementedError as error:
        raise NotAttempted() from error
    except Exception as error:  # the student's bug, reported in plain words with the case
        raise StudentCodeError(case.description, error) from error


# ---------------------------------------------------------------- the checks of each kind


def _check_implement(exercise: Exercise, answer: Any) -> tuple[str, str]:
    if not callable(answer):
        return FAILED, (f"expected a function ({exercise.name}), got {type(answer).__name__}. "
                        f"Pass the function itself: check(\"{exercise.id}\", {exercise.name}).")
    cases = list(exercise.cases())
    compare = exercise.compare or tensors_close
    for number, case in enumerate(cases, 1):
        expected = exercise.reference(*_clone(case.args), **_clone(case.kwargs))
        got = call_student(answer, case)
        if number == 1 and got is None:
            return NOT_ATTEMPTED, "your function returns None: write its body, then run this cell again."
        difference = compare(expected, got)
        if difference is None:
            continue
        for mistake in exercise.mistakes:
            try:
                wrong = mistake.make(*_clone(case.args), **_clone(case.kwargs))
            except Exception:  # noqa: BLE001 - a mistake that cannot be made on this case simply does not match
                continue
            if compare(wrong, got) is None:
                return FAILED, f"{mistake.message} (on {case.description})"
        return FAILED, f"on {case.description}: {difference}."
    return PASSED, f"your {exercise.name} matches gptedu's on all {len(cases)} cases."


def _check_numeric(exercise: Exercise, answer: Any) -> tuple[str, str]:
    expected = exercise.reference()
    compare = exercise.compare or tensors_close
    difference = compare(expected, answer)
    if difference is None:
        return PASSED, "your answer matches the reference computation."
    for mistake in exercise.mistakes:
        if compare(mistake.make(expected), answer) is None:
            return FAILED, mistake.message
    return FAILED, f"not quite: your answer {describe(answer)} is off. hint(\"{exercise.id}\") gives a hint."


def _check_choice(exercise: Exercise, answer: Any) -> tuple[str, str]:
    if not isinstance(answer, str):
        return FAILED, f"answer with one option letter as a string, for example \"a\"; got {describe(answer)}."
    letter = answer.strip().lower().strip("()")
    if letter not in exercise.options:
        return FAILED, f"{answer!r} is not an option; choose one of {', '.join(repr(k) for k in exercise.options)}."
    why = exercise.explanations[letter]
    if answer_hash(exercise.id, letter) == exercise.answer_hash:
        return PASSED, f"({letter}) is right. {why}"
    return FAILED, f"({letter}) is not it. {why}"


def check(exercise_id: str, answer: Any = None) -> CheckResult:
    """Check an answer to an exercise, print one line a student can act on, and return a ``CheckResult``.

    ``answer`` is the student's function (implement-it), number (numeric) or option letter
    (choice). It never raises on a wrong answer: a wrong value, a function that raises, and
    the untouched stub (``None``, ``...`` or a function raising ``NotImplementedError``) are
    all reported in the printed line and in the result's ``status`` and ``message``.
    """
    exercise = get_exercise(exercise_id)
    try:
        if exercise.kind == "experiment":
            status, message = NOT_GRADED, f"an experiment: nothing to check. solution(\"{exercise.id}\") says what to observe."
        elif is_stub(answer):
            raise NotAttempted()
        else:
            status, message = {"implement": _check_implement, "numeric": _check_numeric,
                               "choice": _check_choice}[exercise.kind](exercise, answer)
    except NotAttempted:
        status, message = NOT_ATTEMPTED, f"write your answer in place of the stub, then run this cell again (hint(\"{exercise.id}\") helps)."
    except StudentCodeError as error:
        status, message = ERROR, f"{error}. Fix it and run the cell again."
    icon = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "⏳", ERROR: "💥", NOT_GRADED: "🔬"}[status]
    result = CheckResult(exercise.id, status, f"{icon} Exercise {exercise.id} {status}: {message}")
    print(result.message)
    _log_for_grading(result)
    return result


def _log_for_grading(result: CheckResult) -> None:
    path = os.environ.get(GRADE_LOG_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"id": result.exercise_id, "status": result.status, "message": result.message}) + "\n")
    except OSError:  # grading must never break a student's notebook
        pass


def hint(exercise_id: str, level: int = 1) -> None:
    """Print the exercise's hint number ``level`` (1 = gentlest); hints never give the answer away."""
    exercise = get_exercise(exercise_id)
    if isinstance(level, bool) or not isinstance(level, int) or level < 1:
        raise ValueError(f"level must be 1, 2, ... (hints come in stages); got {level!r}.")
    if not exercise.hints:
        print(f"Exercise {exercise.id} has no hints; solution(\"{exercise.id}\") shows a worked answer.")
    elif level > len(exercise.hints):
        print(f"Exercise {exercise.id} has {len(exercise.hints)} hint(s); solution(\"{exercise.id}\") shows a worked answer.")
    else:
        more = f" (more: hint(\"{exercise.id}\", level={level + 1}))" if level < len(exercise.hints) else ""
        print(f"💡 Hint {level} of {len(exercise.hints)} for {exercise.id}: {exercise.hints[level - 1]}{more}")


def solution_source(exercise: Exercise) -> str:
    """The code of a worked answer, as ``solution`` prints it and the solution notebooks hold it."""
    if exercise.kind == "implement":
        return f"{_source(exercise.solution)}\n\ncheck(\"{exercise.id}\", {exercise.name})"
    if exercise.kind == "numeric":
        return (f"{_source(exercise.solution)}\n\n{exercise.name} = {exercise.solution.__name__}()\n"
                f"print(\"{exercise.name} =\", {exercise.name})\ncheck(\"{exercise.id}\", {exercise.name})")
    if exercise.kind == "choice":
        return f"{exercise.name or 'answer'} = \"{right_option(exercise)}\"\ncheck(\"{exercise.id}\", {exercise.name or 'answer'})"
    return f"solution(\"{exercise.id}\")"


def right_option(exercise: Exercise) -> str:
    """The option whose salted hash is stored (the only place the right letter is recovered)."""
    for letter in exercise.options:
        if answer_hash(exercise.id, letter) == exercise.answer_hash:
            return letter
    raise ValueError(f"exercise {exercise.id}: no option matches the stored answer hash")


def _source(function: Callable[..., Any]) -> str:
    return textwrap.dedent(inspect.getsource(function)).strip()


def solution(exercise_id: str) -> None:
    """Print a worked answer: the code (implement-it, numeric), the right option with why, or what to observe."""
    exercise = get_exercise(exercise_id)
    print(f"Solution of exercise {exercise.id} · {exercise.title}")
    if exercise.kind == "choice":
        letter = right_option(exercise)
        print(f"Answer: ({letter}) {exercise.options[letter]}")
        for key, why in exercise.explanations.items():
            print(f"  ({key}) {why}")
    elif exercise.kind == "experiment":
        print(exercise.observe)
    else:
        print(solution_source(exercise))
        if exercise.observe:
            print(exercise.observe)


class ExerciseList(list):
    """A list of exercises that shows itself as a table: id, kind, time, title."""

    def __repr__(self) -> str:
        rows = [f"{e.id:<6} {KIND_LABELS[e.kind]:<13} {e.time_label:<45} {e.title}" + (f" (book {e.book})" if e.book else "")
                for e in self]
        return "\n".join([f"{'id':<6} {'kind':<13} {'time':<45} title", *rows])

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def list_exercises(notebook: str | int | None = None) -> ExerciseList:
    """Return the exercises (of one notebook, e.g. ``"04"`` or ``4``): id, kind, title, time, download, book number."""
    exercises = ExerciseList(all_exercises())
    if notebook is None:
        return exercises
    wanted = f"{int(notebook):02d}" if str(notebook).strip().isdigit() else str(notebook)
    chosen = ExerciseList(e for e in exercises if e.notebook == wanted)
    if not chosen:
        raise ValueError(f"No exercises for notebook {notebook!r}; the notebooks are 01 to 07.")
    return chosen


KIND_LABELS = {"implement": "Implement it", "numeric": "Compute it", "choice": "Choose", "experiment": "Experiment"}


def exercise_markdown(exercise: Exercise) -> str:
    """The markdown cell that states an exercise, the same in the student's and the solution notebook."""
    book = f" · the book's exercise {exercise.book}" if exercise.book else ""
    quick = f"\n\n*Quick variant:* {exercise.quick_variant}" if exercise.quick_variant else ""
    return (f"### Exercise {exercise.id} · {exercise.title}\n\n*{KIND_LABELS[exercise.kind]} · {exercise.time_label}{book}*\n\n"
            f"{exercise.statement}{quick}")


def student_cell(exercise: Exercise) -> str:
    """The code cell a student starts from: the stub and the check line (nothing for an experiment but a comment)."""
    if exercise.kind == "implement":
        return f"{exercise.stub}\n\ncheck(\"{exercise.id}\", {exercise.name})"
    if exercise.kind == "numeric":
        stub = exercise.stub or f"{exercise.name} = None  # replace None by your answer"
        return f"{stub}\ncheck(\"{exercise.id}\", {exercise.name})"
    if exercise.kind == "choice":
        letters = ", ".join(f'"{k}"' for k in exercise.options)
        return f"{exercise.name or 'answer'} = None  # one of {letters}\ncheck(\"{exercise.id}\", {exercise.name or 'answer'})"
    return exercise.stub or f"# Your experiment here; when you are done, solution(\"{exercise.id}\") says what to observe."


def markdown_table(exercises: Sequence[Exercise]) -> str:
    """The exercises as a markdown table (TEACHING.md holds it; tools/build_exercises.py writes it there)."""
    rows = ["| id | kind | title | student's time | code runs | download | book |", "|---|---|---|---|---|---|---|"]
    for e in exercises:
        runs = "—" if e.kind == "choice" else e.time_label.split("its code runs ")[1].split(" on a")[0]
        rows.append(f"| {e.id} | {KIND_LABELS[e.kind]} | {e.title} | {e.minutes:g} min | {runs} | "
                    f"{'yes' if e.needs_download else ''} | {e.book or ''} |")
    return "\n".join(rows)
