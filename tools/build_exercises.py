"""Write the exercises sections of the notebooks, and the solution notebooks, from gptedu.exercises.

The exercise statements have one source, the package: this script replaces everything from a
student notebook's ``## Exercises`` heading to its end with the statements and stubs, writes
``notebooks/solutions/NN_..._solutions.ipynb`` with the same statements and the worked
answers, and executes the new cells (the exercises section is self-contained: its first code
cell imports what it uses). tests/test_exercise_notebooks.py fails if they drift apart.

    .venv/bin/python tools/build_exercises.py 02 04      # some notebooks
    .venv/bin/python tools/build_exercises.py            # all of them
    .venv/bin/python tools/build_exercises.py --no-run   # rewrite without executing
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gptedu.exercises import list_exercises  # noqa: E402
from gptedu.exercises.core import exercise_markdown, markdown_table, solution_source, student_cell  # noqa: E402
from gptedu.notebook import colab_badge, colab_install_source  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
HEADING = "## Exercises"
TEACHING = NOTEBOOKS / "TEACHING.md"
TABLE_START, TABLE_END = "<!-- exercises: written by tools/build_exercises.py -->", "<!-- /exercises -->"


def write_teaching_table() -> None:
    """Replace the exercises table of TEACHING.md with the package's list."""
    text = TEACHING.read_text(encoding="utf-8")
    before, rest = text.split(TABLE_START)
    after = rest.split(TABLE_END)[1]
    TEACHING.write_text(f"{before}{TABLE_START}\n{markdown_table(list_exercises())}\n{TABLE_END}{after}", encoding="utf-8")


def intro(number: str, solutions_name: str) -> str:
    return (f"{HEADING}\n\nEach exercise checks itself: write your answer in place of the stub and run the cell. "
            "`check` prints one line: passed, or which case differs and why. `hint(\"{0}.1\")` gives a hint "
            "(`level=2` the next one), `solution(\"{0}.1\")` a worked answer, and the solved notebook is "
            f"[solutions/{solutions_name}](solutions/{solutions_name}). The section runs on its own: its first cell "
            "imports what it needs, so you can start here after restarting the kernel.").format(number)


def exercise_cells(number: str, solved: bool) -> list:
    module = importlib.import_module(f"gptedu.exercises.nb{number}")
    cells = [nbformat.v4.new_code_cell(module.SETUP, metadata={"gptedu": {"exercise": "setup"}}, id=f"exercises-{number}-setup")]
    for exercise in list_exercises(number):
        meta = {"gptedu": {"exercise": exercise.id}}
        slug = exercise.id.replace(".", "-")  # stable cell ids: rebuilding changes only what changed
        cells.append(nbformat.v4.new_markdown_cell(exercise_markdown(exercise), metadata=meta, id=f"exercise-{slug}"))
        code = solution_source(exercise) if solved else student_cell(exercise)
        cells.append(nbformat.v4.new_code_cell(code, metadata=meta, id=f"exercise-{slug}-code"))
    return cells


def student_path(number: str) -> Path:
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    return path


def solutions_path(number: str) -> Path:
    return SOLUTIONS / student_path(number).name.replace(".ipynb", "_solutions.ipynb")


def execute(nb, cells_from: int, cwd: Path) -> None:
    """Run the cells from ``cells_from`` on in a fresh kernel; numbering continues after the cells before."""
    part = nbformat.v4.new_notebook(cells=nb.cells[cells_from:], metadata=nb.metadata)
    NotebookClient(part, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    previous = [c.get("execution_count") or 0 for c in nb.cells[:cells_from] if c.cell_type == "code"]
    count = max(previous, default=0)
    for cell in part.cells:
        cell.metadata.pop("execution", None)  # kernel timestamps: noise in every diff
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count


def build(number: str, run: bool) -> None:
    path = student_path(number)
    nb = nbformat.read(path, as_version=4)
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and HEADING in c.source]
    if not headings:
        raise SystemExit(f"{path.name}: no '{HEADING}' heading")
    index = headings[0]
    cell = nb.cells[index]
    before = cell.source.split(HEADING)[0].rstrip()
    nb.cells = nb.cells[:index] + ([nbformat.v4.new_markdown_cell(before)] if before else [])
    if before:
        nb.cells[-1].id, nb.cells[-1].metadata = cell.id, cell.metadata
    solved_name = solutions_path(number).name
    nb.cells.append(nbformat.v4.new_markdown_cell(intro(number, solved_name), id=f"exercises-{number}"))
    first_exercise_cell = len(nb.cells)
    nb.cells += exercise_cells(number, solved=False)
    if run:
        execute(nb, first_exercise_cell, NOTEBOOKS)
    nbformat.write(nb, path)

    title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
    solved = nbformat.v4.new_notebook(metadata=nb.metadata)
    solved.cells = [nbformat.v4.new_markdown_cell(id=f"solutions-{number}", source=
        f"# Solutions · {title}\n\nWorked answers to the exercises of [{path.name}](../{path.name}), executed. "
        "Each statement is the same as in the lesson; each code cell is one way to solve it, and its check prints "
        "the pass line. Try the exercise first: `hint(...)` in the lesson notebook gives hints in stages.\n\n"
        + colab_badge(solutions_path(number).relative_to(ROOT).as_posix())),
        nbformat.v4.new_code_cell(colab_install_source(), id=f"solutions-{number}-colab")]
    solved.cells += exercise_cells(number, solved=True)
    SOLUTIONS.mkdir(exist_ok=True)
    if run:
        execute(solved, 1, SOLUTIONS)
    nbformat.write(solved, solutions_path(number))
    print(f"{number}: wrote {path.relative_to(ROOT)} and {solutions_path(number).relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", default=["01", "02", "03", "04", "05", "06", "07"])
    parser.add_argument("--no-run", action="store_true", help="rewrite the cells without executing them")
    args = parser.parse_args()
    os.environ.setdefault("GPTEDU_CACHE_DIR", str(ROOT / ".cache" / "gptedu"))
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT / ".cache" / "tiktoken"))
    os.environ.setdefault("HF_HUB_CACHE", str(ROOT / ".cache" / "huggingface" / "hub"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for number in args.notebooks:
        build(f"{int(number):02d}", run=not args.no_run)
    write_teaching_table()


if __name__ == "__main__":
    main()
