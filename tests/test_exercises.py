"""Every exercise's check, specified: the worked answer passes, each named mistake fails with its own
message, and stubs, constant or random answers and answers that raise are reported as such.

These tests run over the whole registry (``list_exercises()``), so a new exercise is tested the
moment it is registered; tests/exercises/ holds the checks of single exercises that need more.
"""

import math

import pytest
import torch

from gptedu.errors import UnknownExerciseError
from gptedu.exercises import check, hint, list_exercises, solution
from gptedu.exercises.core import (
    ERROR,
    FAILED,
    NOT_ATTEMPTED,
    NOT_GRADED,
    PASSED,
    answer_hash,
    exercise_markdown,
    right_option,
    student_cell,
)

EXERCISES = list_exercises()
BY_KIND = {kind: [e for e in EXERCISES if e.kind == kind] for kind in ("implement", "numeric", "choice", "experiment")}


def worked_answer(exercise):
    """What a student who solved it would pass to check: the function, or the computed value."""
    if exercise.kind == "implement":
        return exercise.solution
    if exercise.kind == "numeric":
        return exercise.solution()
    return right_option(exercise)


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.kind != "experiment"], ids=lambda e: e.id)
def test_worked_answer_passes(exercise, capsys):
    result = check(exercise.id, worked_answer(exercise))
    assert result.status == PASSED, result.message
    assert result.passed and capsys.readouterr().out.strip() == result.message


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.kind != "experiment"], ids=lambda e: e.id)
@pytest.mark.parametrize("stub", [None, ...], ids=["None", "Ellipsis"])
def test_untouched_stub_is_not_attempted(exercise, stub):
    result = check(exercise.id, stub)
    assert result.status == NOT_ATTEMPTED and not result.passed
    assert "not attempted" in result.message


@pytest.mark.parametrize("exercise", BY_KIND["implement"], ids=lambda e: e.id)
def test_implement_stub_raising_not_implemented_is_not_attempted(exercise):
    namespace = {}
    exec(exercise.stub, namespace)  # the notebook's stub, exactly as the student finds it
    assert check(exercise.id, namespace[exercise.name]).status == NOT_ATTEMPTED


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.kind in ("implement", "numeric")], ids=lambda e: e.id)
def test_at_least_two_named_mistakes_each_fail_with_their_message(exercise):
    assert len(exercise.mistakes) >= 2, f"{exercise.id} recognises fewer than two common mistakes"
    for mistake in exercise.mistakes:
        if exercise.kind == "implement":
            answer = mistake.make
        else:
            answer = mistake.make(exercise.reference())
        result = check(exercise.id, answer)
        assert result.status == FAILED, f"{exercise.id}: the mistake {mistake.message!r} passed"
        assert mistake.message in result.message, result.message


@pytest.mark.parametrize("exercise", BY_KIND["implement"], ids=lambda e: e.id)
def test_constant_output_fails_naming_a_case(exercise):
    first = exercise.cases()[0]
    constant = exercise.reference(*first.args, **first.kwargs)  # right on case 1, the same everywhere else
    result = check(exercise.id, lambda *args, **kwargs: constant)
    assert result.status == FAILED, result.message
    assert " on " in result.message  # "... (on <case>)" or "on <case>: expected ..."


def _random_like(value, generator):
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            return torch.randn(value.shape, generator=generator, dtype=value.dtype)
        return torch.randint(0, 1000, value.shape, generator=generator, dtype=value.dtype)
    if isinstance(value, (tuple, list)):
        return type(value)(_random_like(v, generator) for v in value)
    if isinstance(value, str):  # random letters, one more than the reference has
        return "".join(chr(int(code)) for code in torch.randint(97, 123, (len(value) + 1,), generator=generator))
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(torch.randint(0, 10**6, (1,), generator=generator))
    if isinstance(value, float):
        return float(torch.rand(1, generator=generator)) * 100
    return value


@pytest.mark.parametrize("exercise", BY_KIND["implement"], ids=lambda e: e.id)
def test_random_output_fails_naming_a_case(exercise):
    generator = torch.Generator().manual_seed(0)

    def random_answer(*args, **kwargs):
        return _random_like(exercise.reference(*args, **kwargs), generator)

    result = check(exercise.id, random_answer)
    assert result.status == FAILED, result.message
    assert " on " in result.message


@pytest.mark.parametrize("exercise", BY_KIND["implement"], ids=lambda e: e.id)
def test_a_function_that_raises_is_an_error_naming_the_case(exercise):
    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch in my code")

    result = check(exercise.id, broken)
    assert result.status == ERROR
    assert "RuntimeError: shape mismatch in my code" in result.message and "(on " in result.message


@pytest.mark.parametrize("exercise", BY_KIND["implement"], ids=lambda e: e.id)
def test_a_value_instead_of_a_function_is_explained(exercise):
    result = check(exercise.id, 3.0)
    assert result.status == FAILED and "function" in result.message


@pytest.mark.parametrize("exercise", BY_KIND["numeric"], ids=lambda e: e.id)
def test_numeric_far_off_answer_fails(exercise):
    reference = exercise.reference()
    wrong = _random_like(reference, torch.Generator().manual_seed(1))
    if isinstance(reference, (int, float)):
        wrong = reference * 3 + 7.5
    assert check(exercise.id, wrong).status == FAILED


@pytest.mark.parametrize("exercise", BY_KIND["choice"], ids=lambda e: e.id)
def test_each_wrong_option_fails_with_its_own_explanation(exercise):
    right = right_option(exercise)
    assert len(exercise.options) >= 3 and set(exercise.explanations) == set(exercise.options)
    for letter in exercise.options:
        result = check(exercise.id, letter.upper() if letter != right else f" ({letter}) ")
        assert result.status == (PASSED if letter == right else FAILED)
        assert exercise.explanations[letter] in result.message
    assert check(exercise.id, "z").status == FAILED
    assert check(exercise.id, 2).status == FAILED


@pytest.mark.parametrize("exercise", BY_KIND["choice"], ids=lambda e: e.id)
def test_the_right_option_is_stored_only_as_a_salted_hash(exercise):
    assert len(exercise.answer_hash) == 20 and answer_hash(exercise.id, right_option(exercise)) == exercise.answer_hash
    assert answer_hash("99.9", right_option(exercise)) != exercise.answer_hash  # salted with the id
    assert student_cell(exercise).startswith(f"{exercise.name or 'answer'} = None")  # the student's cell holds no answer


@pytest.mark.parametrize("exercise", BY_KIND["experiment"], ids=lambda e: e.id)
def test_experiments_are_not_graded_but_say_what_to_observe(exercise, capsys):
    assert check(exercise.id, "anything").status == NOT_GRADED
    solution(exercise.id)
    out = capsys.readouterr().out
    assert exercise.observe.splitlines()[0] in out and any(ch.isdigit() for ch in exercise.observe)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_every_exercise_has_a_time_label_hints_and_a_statement(exercise):
    assert exercise.minutes > 0 and exercise.cpu_seconds >= 0
    assert ("2-core CPU" in exercise.time_label) != (exercise.kind == "choice")
    assert exercise.statement.strip() and exercise.title.strip()
    assert exercise.id in exercise_markdown(exercise) and exercise.time_label in exercise_markdown(exercise)
    if exercise.cpu_seconds > 120:  # anything over 2 minutes of computing has a small-config variant
        assert exercise.quick_variant and exercise.quick_variant in exercise_markdown(exercise)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_hints_come_in_stages_and_end_with_a_pointer_to_the_solution(exercise, capsys):
    for level in range(1, len(exercise.hints) + 1):
        hint(exercise.id, level)
        assert f"Hint {level} of {len(exercise.hints)}" in capsys.readouterr().out
    hint(exercise.id, len(exercise.hints) + 1)
    assert "solution(" in capsys.readouterr().out
    with pytest.raises(ValueError, match="level must be"):
        hint(exercise.id, 0)


def test_the_series_has_enough_exercises_of_each_kind():
    by_notebook = {}
    for exercise in EXERCISES:
        by_notebook.setdefault(exercise.notebook, []).append(exercise)
    assert sorted(by_notebook) == ["01", "02", "03", "04", "05", "06", "07"]
    assert len(EXERCISES) >= 28
    assert len(BY_KIND["implement"]) >= 14
    for notebook, exercises in by_notebook.items():
        assert 4 <= len(exercises) <= 6, notebook
        assert sum(e.kind == "implement" for e in exercises) >= 2, notebook
    assert {"5.1", "5.2", "5.3", "5.4", "5.5", "5.6"} <= {e.book for e in EXERCISES}


def test_unknown_ids_and_notebooks_get_a_clear_error():
    with pytest.raises(UnknownExerciseError, match="Ids look like"):
        check("9.9", 1)
    with pytest.raises(LookupError):
        hint("02.99")
    with pytest.raises(ValueError, match="notebooks are 01 to 07"):
        list_exercises("08")
    assert list_exercises(2) == list_exercises("02")


def test_list_exercises_shows_a_table():
    table = repr(list_exercises("02"))
    assert table.splitlines()[0].split() == ["id", "kind", "time", "title"]
    assert "02.1" in table


def test_grading_log_records_each_check(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("GPTEDU_GRADE_LOG", str(log))
    check("02.3", math.log(50257))
    check("02.3", None)
    lines = log.read_text().splitlines()
    assert [__import__("json").loads(line)["status"] for line in lines] == [PASSED, NOT_ATTEMPTED]
