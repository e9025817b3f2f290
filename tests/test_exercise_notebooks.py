"""The exercise statements have one source: gptedu.exercises. Each lesson notebook and its solution notebook
hold the same statements, in the same order, as the package; the lesson's cells are the untouched stubs (their
stored check lines say "not attempted") and the solution's cells print their pass lines.

tools/build_exercises.py writes both notebooks from the package; this test fails if anything drifts.
"""

import importlib
import json
from pathlib import Path

import pytest

from gptedu.exercises import list_exercises
from gptedu.exercises.core import exercise_markdown, solution_source, student_cell

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NUMBERS = ["01", "02", "03", "04", "05", "06", "07"]


def lesson(number):
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    return path


def solved(number):
    return NOTEBOOKS / "solutions" / lesson(number).name.replace(".ipynb", "_solutions.ipynb")


def exercise_cells(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    tagged = [(c["metadata"]["gptedu"]["exercise"], c) for c in cells if "gptedu" in c.get("metadata", {})]
    return tagged, cells


def text(cell):
    return "".join(cell["source"])


def printed(cell):
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.parametrize("which", ["lesson", "solutions"])
def test_statements_match_the_package_in_order(number, which):
    path = lesson(number) if which == "lesson" else solved(number)
    tagged, _ = exercise_cells(path)
    exercises = list_exercises(number)
    setup = importlib.import_module(f"gptedu.exercises.nb{number}").SETUP
    assert [i for i, _ in tagged] == ["setup"] + [e.id for e in exercises for _ in (0, 1)], path.name
    assert text(tagged[0][1]) == setup
    for exercise, (markdown, code) in zip(exercises, zip(tagged[1::2], tagged[2::2], strict=True), strict=True):
        assert markdown[1]["cell_type"] == "markdown" and text(markdown[1]) == exercise_markdown(exercise), exercise.id
        expected = student_cell(exercise) if which == "lesson" else solution_source(exercise)
        assert code[1]["cell_type"] == "code" and text(code[1]) == expected, exercise.id


@pytest.mark.parametrize("number", NUMBERS)
def test_lesson_stubs_are_untouched_and_solutions_pass(number):
    for exercise_id, cell in exercise_cells(lesson(number))[0]:
        if cell["cell_type"] != "code" or exercise_id == "setup":
            continue
        kind = next(e.kind for e in list_exercises(number) if e.id == exercise_id)
        if kind == "experiment":
            assert not cell.get("outputs"), exercise_id
        else:
            assert f"Exercise {exercise_id} not attempted" in printed(cell), exercise_id
    for exercise_id, cell in exercise_cells(solved(number))[0]:
        if cell["cell_type"] != "code" or exercise_id == "setup":
            continue
        kind = next(e.kind for e in list_exercises(number) if e.id == exercise_id)
        expected = f"Solution of exercise {exercise_id}" if kind == "experiment" else f"Exercise {exercise_id} passed"
        assert expected in printed(cell), exercise_id


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.parametrize("which", ["lesson", "solutions"])
def test_notebooks_are_executed_in_order_without_errors(number, which):
    path = lesson(number) if which == "lesson" else solved(number)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    counts = [c["execution_count"] for c in cells if c["cell_type"] == "code"]
    assert all(counts) and counts == sorted(counts) and len(set(counts)) == len(counts), path.name
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"], path.name


def test_teaching_guide_lists_every_exercise():
    from gptedu.exercises.core import markdown_table

    guide = (NOTEBOOKS / "TEACHING.md").read_text(encoding="utf-8")
    assert markdown_table(list_exercises()) in guide  # tools/build_exercises.py rewrites it
