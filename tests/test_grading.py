"""``gptedu grade``: each submission runs in a fresh kernel of its own; its checks become one CSV row.

The submissions are tests/fixtures/submissions/*.ipynb (make_submissions.py there writes them),
answers to notebook 02: complete, partial (right, wrong, untouched), raising (cells raise, the
later ones still run), endless (``while True: pass``), deleter (empties its working folder) and
dies (the kernel exits). One ``gptedu grade`` run of all six, two at a time with ``--timeout 20``,
takes about 50 s on the 2-core test machine: every kernel imports torch, and the endless one
runs its 20 s. The other tests start no kernel.
"""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gptedu.cli import main
from gptedu.exercises import get_exercise, grading, list_exercises
from gptedu.exercises.core import ERROR, FAILED, GRADE_LOG_ENV, NOT_ATTEMPTED, PASSED, right_option

FIXTURES = Path(__file__).parent / "fixtures" / "submissions"
TIMEOUT = 20
GRADED = [e.id for e in list_exercises("02") if e.kind != "experiment"]  # more may be added: untouched ones are not attempted
EXPECTED = {
    "complete": {"02.1": PASSED, "02.2": PASSED, "02.3": PASSED},
    "partial": {"02.1": PASSED, "02.2": FAILED, "02.3": NOT_ATTEMPTED},
    "raising": {"02.1": ERROR, "02.2": PASSED, "02.3": PASSED},
    "endless": {"02.2": PASSED, "02.1": grading.TIMED_OUT, "02.3": grading.TIMED_OUT},
    "deleter": {"02.3": PASSED},
    "dies": {"02.2": PASSED, "02.1": ERROR},
}


def run_main(argv):
    """Run gptedu.cli.main(argv); return its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


needs_proc = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through /proc (Linux)")


def processes_with_log_under(folder: Path) -> list[int]:
    """Pids of processes whose GPTEDU_GRADE_LOG lies under ``folder``: runners and kernels of that grading."""
    marker = f"{GRADE_LOG_ENV}={folder}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if any(variable.startswith(marker) for variable in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def running(pid: int, wait: float = 5.0) -> bool:
    """Whether a process is still running after up to ``wait`` seconds (a killed one takes a moment; a zombie is not running)."""
    end = time.monotonic() + wait
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X") or time.monotonic() > end:
            return state not in ("Z", "X")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``gptedu grade`` on copies of all fixtures, with the rows it returned, the CSV, its output and its time."""
    tmp = tmp_path_factory.mktemp("grade")
    submissions = tmp / "submissions"
    submissions.mkdir()
    for path in FIXTURES.glob("*.ipynb"):
        shutil.copy(path, submissions)
    csv_path, executed = tmp / "out" / "grades.csv", tmp / "executed"
    returned = []
    original = grading.grade_submissions
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(tmp))  # the work folders, and so every log path, lie under tmp
        patch.setattr(grading, "grade_submissions", lambda *args, **kwargs: returned.append(original(*args, **kwargs)) or returned[0])
        start = time.monotonic()
        code, out, err = run_main(["grade", str(submissions), "--csv", str(csv_path), "--timeout", str(TIMEOUT), "--jobs", "2",
                                   "--executed", str(executed)])
        seconds = time.monotonic() - start
    with open(csv_path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header, rows = reader.fieldnames, {row["student"]: row for row in reader}
    print(f"graded {len(rows)} submissions in {seconds:.1f} s")
    return SimpleNamespace(code=code, out=out, err=err, seconds=seconds, header=header, rows=rows, grades=returned[0],
                           tmp=tmp, submissions=submissions, executed=executed)


def test_the_fixtures_literal_answers_are_still_the_right_and_a_wrong_one():
    def answer_of(name, exercise_id):
        nb = json.loads((FIXTURES / f"{name}.ipynb").read_text())
        (source,) = ["".join(c["source"]) for c in nb["cells"]
                     if c["cell_type"] == "code" and c["metadata"].get("gptedu", {}).get("exercise") == exercise_id]
        return re.search(r'answer = "(\w)"', source).group(1)

    right = right_option(get_exercise("02.2"))
    assert answer_of("complete", "02.2") == right, "exercise 02.2 changed: run tests/fixtures/submissions/make_submissions.py"
    assert answer_of("partial", "02.2") != right


def test_grading_works_and_the_csv_has_a_column_per_graded_exercise(graded):
    assert graded.code == 0, graded.err
    assert graded.header == ["student", *GRADED, "score", "note", "file"]
    assert sorted(graded.rows) == sorted(EXPECTED)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_row_says_what_its_checks_said(graded, student):
    row = graded.rows[student]
    expected = {i: EXPECTED[student].get(i, NOT_ATTEMPTED) for i in GRADED}
    assert {i: row[i] for i in GRADED} == expected, row["note"]
    assert row["score"] == f"{sum(s == PASSED for s in expected.values())}/{len(GRADED)}"


def test_the_notes_say_what_happened(graded):
    notes = {name: row["note"] for name, row in graded.rows.items()}
    assert notes["endless"].startswith(f"timed out after {TIMEOUT} s")
    assert notes["dies"].startswith("kernel died")
    assert "ZeroDivisionError" in notes["raising"] and "2 cell(s) raised" in notes["raising"]
    assert notes["complete"] == notes["partial"] == notes["deleter"] == ""


def test_the_endless_one_is_stopped_at_its_time_limit_and_the_run_stays_short(graded):
    endless = next(g for g in graded.grades if g.student == "endless")
    assert TIMEOUT <= endless.seconds < TIMEOUT + 30  # the kernel's start (a few seconds) is not counted in the limit
    assert graded.seconds < 150  # about 50 s here; every notebook but the endless one takes 5-15 s


@needs_proc
def test_no_runner_kernel_or_process_a_kernel_started_is_left_behind(graded):
    pids = [g.kernel_pid for g in graded.grades]
    assert all(pids), "every submission started a kernel"
    assert [pid for pid in pids if running(pid)] == []
    assert processes_with_log_under(graded.tmp) == []


def test_a_submission_deleting_its_folder_deletes_only_its_copy(graded):
    assert sorted(p.name for p in graded.submissions.iterdir()) == sorted(p.name for p in FIXTURES.glob("*.ipynb"))
    deleter = json.loads((graded.executed / "deleter.ipynb").read_text())
    printed = ["".join(o.get("text", "")) for c in deleter["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert "[]\n" in printed  # its folder was empty after the deletion, and its next cell still passed


def test_a_summary_table_is_printed(graded):
    lines = graded.out.splitlines()
    (header,) = [line for line in lines if line.startswith("student")]
    assert header.split()[: len(GRADED) + 1] == ["student", *GRADED]
    (endless,) = [line for line in lines if line.startswith("endless ")]
    assert "timeout" in endless.split()


@needs_proc
def test_a_runner_past_its_backstop_is_killed_with_its_kernel(tmp_path, monkeypatch):
    """If nbclient's own limit fails to stop a notebook, the process running it is killed, with its kernel and the
    process the kernel started (the endless fixture starts one that would sleep 10 minutes)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shutil.copy(FIXTURES / "endless.ipynb", tmp_path)
    start = time.monotonic()
    (grade,) = grading.grade_submissions([tmp_path / "endless.ipynb"], tmp_path / "g.csv", timeout=600, backstop=15)
    assert time.monotonic() - start < 30
    assert grade.statuses["02.2"] == PASSED and grade.statuses["02.1"] == grading.TIMED_OUT
    assert grade.kernel_pid, "the kernel had started before the backstop"
    assert grade.note.startswith("timed out: killed after 15 s")
    assert not running(grade.kernel_pid)
    assert processes_with_log_under(tmp_path) == []


# ---------------------------------------------------------------- without a kernel


@pytest.mark.parametrize("make_argv, message", [
    (lambda tmp: [str(tmp / "missing.ipynb"), "--csv", str(tmp / "g.csv")], "no such file"),
    (lambda tmp: [str(tmp / "notes.txt"), "--csv", str(tmp / "g.csv")], "not a notebook"),
    (lambda tmp: [str(FIXTURES / "complete.ipynb"), "--csv", str(tmp)], "a folder"),
    (lambda tmp: [str(FIXTURES / "complete.ipynb"), "--csv", str(tmp / "g.csv"), "--notebook", "99"], "--notebook 99"),
    (lambda tmp: [str(FIXTURES / "complete.ipynb"), "--csv", str(tmp / "g.csv"), "--timeout", "0"], "--timeout"),
], ids=["no-such-file", "not-a-notebook", "csv-is-a-folder", "no-notebook-99", "timeout-0"])
def test_bad_input_gives_one_line_and_exit_status_2(tmp_path, make_argv, message):
    (tmp_path / "notes.txt").write_text("not a notebook")
    code, out, err = run_main(["grade", *make_argv(tmp_path)])
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("gptedu: error:") and message in err, err
    assert "Traceback" not in err and not (tmp_path / "g.csv").exists()


def test_a_corrupt_notebook_is_its_own_row(tmp_path):
    (tmp_path / "02_broken.ipynb").write_text("{ this is not JSON")
    code, out, err = run_main(["grade", str(tmp_path / "02_broken.ipynb"), "--csv", str(tmp_path / "g.csv")])
    assert code == 0, err
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as file:
        (row,) = csv.DictReader(file)
    assert row["student"] == "02_broken" and row["note"].startswith("not a notebook")
    assert [row[i] for i in GRADED] == [NOT_ATTEMPTED] * len(GRADED) and row["score"] == f"0/{len(GRADED)}"


def test_without_nbclient_the_message_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nbclient", None)  # import nbclient raises ImportError
    code, out, err = run_main(["grade", str(FIXTURES / "complete.ipynb"), "--csv", str(tmp_path / "g.csv")])
    assert code == 2 and "pip install nbclient" in err


def test_students_are_named_by_file_or_by_folder_where_names_collide():
    paths = [Path("a/alice/02_loss.ipynb"), Path("b/bob/02_loss.ipynb"), Path("carol.ipynb"), Path("x/dave/n.ipynb"),
             Path("y/dave/n.ipynb")]
    assert grading.student_names(paths) == ["alice", "bob", "carol", "dave-1", "dave-2"]


def test_a_folder_is_searched_for_notebooks_and_a_file_given_twice_is_graded_once(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "02.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "02-checkpoint.ipynb").write_text("{}")
    found = grading.collect_submissions([tmp_path, tmp_path / "alice" / "02.ipynb"])
    assert found == [tmp_path / "alice" / "02.ipynb"]
