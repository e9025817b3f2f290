"""``gptedu grade``: run students' notebooks and collect what ``check`` reported into a CSV.

    gptedu grade submissions/*.ipynb --csv grades.csv
    gptedu grade submissions/ --csv grades.csv --timeout 300 --notebook 02 --jobs 2

Each submission (a ``.ipynb`` file, or a folder searched for them) runs in a fresh Jupyter
kernel, in a temporary folder that holds only a copy of the notebook: data files it opens are
not there, and the kernel inherits the environment, so ``GPTEDU_CACHE_DIR`` and the Hugging
Face settings apply as in your own shell. A cell that raises does not stop the notebook: the
later cells still run (nbclient's ``allow_errors``). ``--timeout`` (default 600 s) is the time
all cells of one notebook may take together, the kernel's start not counted; when it is up, the
kernel is killed with everything it started. Every submission has its own process, so one that
raises, loops forever, kills its kernel or deletes the files of its folder changes only its row.

While a notebook runs, every ``check`` appends its result to the file named by
``GPTEDU_GRADE_LOG`` (outside the notebook's folder); the last check of an exercise wins. The
CSV has one row per submission: ``student`` (the file's stem, or its folder's name where stems
collide), one column per graded exercise of the notebook(s) the submissions belong to
(experiments are not graded), ``score`` (passed / graded, e.g. ``3/5``), ``note`` (timed out,
kernel died, cells that raised, not a notebook) and ``file``. An exercise is

- ``passed``, ``failed``, ``not attempted`` or ``error``: what its last ``check`` said (error:
  the student's function raised);
- ``timed out``: its check never ran because the time was up before its cell finished;
- ``error``: its check never ran because its cell raised first, or the kernel died before it;
- ``not attempted``: its check never ran otherwise (the cell is missing, or was never run).

A submission's notebook is ``--notebook NN``, else told by the exercise ids in its cells'
metadata (``{"gptedu": {"exercise": "02.1"}}``, as tools/build_exercises.py writes it) and
``check`` calls, else by a filename starting ``NN_``. ``--executed FOLDER`` keeps each executed
notebook (``STUDENT.ipynb``, outputs included) to see what a student's code printed.

Submissions are code: they run with your rights, so grade them in an account or container that
holds nothing else. The log is written by the notebook's own process, so a student who wants to
can fake it: this is for feedback and homework, not for exams.

The notebooks run through nbclient and nbformat (installed with Jupyter; ``pip install nbclient``),
in the ipykernel of the Python running ``gptedu grade``, which imports this same gptedu. The
process that runs one notebook is this file started as a script (``_run_one``): it imports
neither torch nor gptedu, which saves about 3 s per notebook.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

if __package__:
    from ..errors import GPTEduError
    from .core import ERROR, FAILED, NOT_ATTEMPTED, PASSED, all_exercises, list_exercises
else:  # started as a script: the process that runs one notebook needs none of it (see _run_one)
    class GPTEduError(Exception):
        """Stands in for gptedu.errors.GPTEduError in the process that runs one notebook."""

TIMED_OUT = "timed out"
DEFAULT_TIMEOUT = 600
#: Seconds a kernel may take to start; the time limit of a notebook counts from its first cell.
STARTUP_TIMEOUT = 60
#: Beyond the time limit and the start, how long the process of one notebook may take before it is killed.
BACKSTOP_MARGIN = 30
_EXERCISE_ID = re.compile(r"^\d{2}\.\d+$")
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d{2}\.\d+)["']""")
_NOTEBOOK_PREFIX = re.compile(r"^(\d{2})_")
_SHORT = {"passed": "pass", "failed": "fail", "not attempted": "-", "error": "error", "timed out": "timeout", "": ""}


class GradingInputError(GPTEduError, ValueError):
    """A ``gptedu grade`` argument that cannot work: a missing file, not a notebook, a CSV path that is a folder."""


# ---------------------------------------------------------------- the command


def add_grade_command(commands) -> None:
    """Add the ``grade`` subcommand (run students' notebooks, write their check results to a CSV) to the parser."""
    grade = commands.add_parser("grade", help="run students' notebooks and write what their checks reported to a CSV",
                                description=__doc__.split("\n\n")[2])
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                       help="a student's .ipynb notebook, or a folder searched for them")
    grade.add_argument("--csv", required=True, metavar="FILE", help="the CSV to write: one row per submission")
    grade.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"time all cells of one notebook may take together (default: {DEFAULT_TIMEOUT})")
    grade.add_argument("--notebook", default=None, metavar="NN",
                       help="grade every submission as notebook NN (default: told by its cells' exercise ids or its name)")
    grade.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time (default: 1)")
    grade.add_argument("--executed", default=None, metavar="FOLDER", help="keep each executed notebook there, outputs included")


def run_grade(args: argparse.Namespace) -> list[Grade]:
    """Run ``gptedu grade`` with parsed arguments: grade, write the CSV, print the summary table."""
    return grade_submissions(args.submissions, args.csv, timeout=args.timeout, notebook=args.notebook, jobs=args.jobs,
                             executed=args.executed)


# ---------------------------------------------------------------- what a run gives


@dataclass
class Run:
    """What running one notebook gave: the last check of each exercise, the cells that raised, how it ended."""

    checks: dict[str, str] = field(default_factory=dict)  # exercise id -> the status of its last check
    cells: dict[str, list[int]] = field(default_factory=dict)  # exercise id -> indices of its code cells
    errors: dict[int, str] = field(default_factory=dict)  # cell index -> the exception's name
    outcome: str = "finished"  # finished, timed out, kernel died, not a notebook, failed
    stopped_at: int | None = None  # the cell running when the time was up or the kernel died
    detail: str = ""
    seconds: float = 0.0
    kernel_pid: int | None = None


@dataclass
class Grade:
    """One row of the CSV: a submission's status per exercise, its score and a note."""

    student: str
    path: Path
    statuses: dict[str, str]  # exercise id -> status; "" for exercises of another notebook
    score: str
    note: str
    seconds: float
    kernel_pid: int | None = None


def collect_submissions(paths) -> list[Path]:
    """The notebooks to grade: each path a .ipynb file or a folder searched for them; raise for a bad path."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise GradingInputError(f"{raw}: a folder without .ipynb notebooks")
            found += notebooks
        elif not path.exists():
            raise GradingInputError(f"{raw}: no such file")
        elif path.suffix.lower() != ".ipynb":
            raise GradingInputError(f"{raw}: not a notebook (a submission is a .ipynb file, or a folder of them)")
        else:
            found.append(path)
    unique = {p.resolve(): p for p in reversed(found)}  # a file named twice is graded once, in its first place
    return [p for p in found if unique.get(p.resolve()) is p]


def student_names(paths: list[Path]) -> list[str]:
    """A name per submission: the file's stem, or its folder's name where stems collide (numbered if still the same)."""
    stems = Counter(p.stem for p in paths)
    names = [p.stem if stems[p.stem] == 1 else (p.resolve().parent.name or p.stem) for p in paths]
    counts, seen = Counter(names), Counter()
    for i, name in enumerate(names):
        if counts[name] > 1:
            seen[name] += 1
            names[i] = f"{name}-{seen[name]}"
    return names


def _require_nbclient() -> None:
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as error:
        raise GradingInputError(f"gptedu grade runs notebooks with nbclient and nbformat ({error}): pip install nbclient") from None


def _notebook_number(notebook: str | int) -> str:
    try:
        return list_exercises(notebook)[0].notebook
    except ValueError as error:
        raise GradingInputError(f"--notebook {notebook}: {error}") from None


def grade_submissions(paths, csv_path, timeout: float = DEFAULT_TIMEOUT, notebook: str | int | None = None, jobs: int = 1,
                      executed=None, backstop: float | None = None) -> list[Grade]:
    """Run each submission in a fresh kernel, write ``csv_path`` and print a summary; return the rows.

    ``backstop``: seconds after which the process running a notebook is killed, with its kernel,
    if nbclient's own time limit has not stopped it (default: ``timeout`` + 90).
    """
    submissions = collect_submissions(paths)
    csv_path = Path(csv_path)
    if csv_path.is_dir():
        raise GradingInputError(f"--csv {csv_path}: a folder; give a file name such as {csv_path / 'grades.csv'}")
    if csv_path.parent.exists() and not csv_path.parent.is_dir():
        raise GradingInputError(f"--csv {csv_path}: {csv_path.parent} is a file, not a folder")
    if not timeout > 0:
        raise GradingInputError(f"--timeout must be a number of seconds above 0; got {timeout}")
    if jobs < 1:
        raise GradingInputError(f"--jobs must be 1 or more; got {jobs}")
    forced = _notebook_number(notebook) if notebook is not None else None
    executed = Path(executed) if executed is not None else None
    backstop = timeout + STARTUP_TIMEOUT + BACKSTOP_MARGIN if backstop is None else backstop
    if executed is not None and executed.exists() and not executed.is_dir():
        raise GradingInputError(f"--executed {executed}: a file, not a folder")
    _require_nbclient()

    names = student_names(submissions)
    runs: list[Run | None] = [None] * len(submissions)
    start = time.monotonic()
    print(f"Grading {len(submissions)} submission(s), at most {timeout:g} s each ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="gptedu-grade-") as work, _Runners() as runners:
        if executed is not None:
            executed.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = {pool.submit(_run_submission, path, Path(work) / f"{i:04d}", timeout, runners, backstop,
                                   executed / f"{names[i]}.ipynb" if executed is not None else None): i
                       for i, path in enumerate(submissions)}
            for done, future in enumerate(as_completed(futures), 1):
                i = futures[future]
                runs[i] = future.result()
                print(f"[{done}/{len(submissions)}] {names[i]}: {runs[i].outcome} in {runs[i].seconds:.0f} s", flush=True)
        except BaseException:  # Ctrl-C: stop the notebooks running now, start no other
            pool.shutdown(wait=False, cancel_futures=True)
            runners.stop()
            raise
        finally:
            pool.shutdown(wait=True)

    grades, columns = _grades(submissions, names, runs, forced, timeout)
    _write_csv(csv_path, grades, columns)
    print(f"\nWrote {csv_path} in {time.monotonic() - start:.0f} s: {len(grades)} row(s), exercises {', '.join(columns) or 'none'}.")
    print(summary_table(grades, columns))
    failed = [run for run in runs if run.outcome == "failed"]
    if failed and len(failed) == sum(run.outcome != "not a notebook" for run in runs):
        raise GradingInputError(f"no notebook could be run ({failed[0].detail}); the CSV says so in every row")
    return grades


# ---------------------------------------------------------------- running one submission (in its own process)


class _Runners:
    """The processes running notebooks now, killed with their kernels if grading is interrupted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[int, tuple[subprocess.Popen, Path]] = {}

        self.stopped = False

    def __enter__(self) -> _Runners:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, command: list[str], progress: Path, **kwargs) -> subprocess.Popen | None:
        """Start the process of one notebook, unless grading was stopped."""
        with self.lock:
            if self.stopped:
                return None
            process = subprocess.Popen(command, **kwargs)
            self.active[process.pid] = (process, progress)
            return process

    def done(self, process: subprocess.Popen) -> None:
        with self.lock:
            self.active.pop(process.pid, None)

    def stop(self) -> None:
        """Kill every notebook running now, with its kernel, and start no other."""
        with self.lock:
            self.stopped = True
            active = list(self.active.values())
        for process, progress in active:
            _kill(process, progress)


def _kill_group(pid: int | None) -> None:
    """Kill a process group (a kernel starts its own session: its group id is its pid)."""
    if not pid:
        return
    try:
        if hasattr(os, "killpg"):
            os.killpg(pid, signal.SIGKILL)
        else:  # Windows: the kernel alone
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        pass  # already gone


def _kill(process: subprocess.Popen, progress: Path) -> None:
    """Kill the process running one notebook, and its kernel (which runs in a session of its own)."""
    _kill_group(_read_progress(progress).get("kernel_pid"))
    if hasattr(os, "killpg"):
        _kill_group(process.pid)
    else:
        process.kill()
    process.wait()
    _kill_group(_read_progress(progress).get("kernel_pid"))  # a kernel started in the meantime


def _run_submission(path: Path, folder: Path, timeout: float, runners: _Runners, backstop: float,
                    executed: Path | None) -> Run:
    import nbformat

    started = time.monotonic()
    run = Run()
    try:
        nb = nbformat.read(path, as_version=4)
        cells = nb.cells
    except Exception as error:  # noqa: BLE001 - a corrupt upload is that student's row, not the end of grading
        return Run(outcome="not a notebook", detail=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    run.cells = _exercise_cells(cells)
    cwd = folder / "run"
    cwd.mkdir(parents=True)
    copy = cwd / path.name
    shutil.copyfile(path, copy)
    log, progress, output = folder / "checks.jsonl", folder / "progress.jsonl", folder / "runner.log"
    env = dict(os.environ)
    env["GPTEDU_GRADE_LOG"] = str(log)
    package_root = str(Path(__file__).resolve().parents[2])  # the kernel imports this very gptedu, installed or not
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # no debugger warning in every kernel's output
    command = [sys.executable, str(Path(__file__).resolve()), "_run_one", str(copy), str(progress), repr(timeout),
               str(executed or "")]
    with open(output, "wb") as out:
        process = runners.start(command, progress, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    if process is None:
        return Run(outcome="failed", detail="grading was interrupted")
    killed = False
    try:
        process.wait(timeout=backstop)
    except subprocess.TimeoutExpired:  # nbclient's own limit did not stop it: kill it, with the kernel
        killed = True
    finally:
        if killed or process.returncode is None:
            _kill(process, progress)
        runners.done(process)
    events = _read_progress(progress)
    _kill_group(events.get("kernel_pid"))  # nothing a notebook started outlives its run
    run.kernel_pid = events.get("kernel_pid")
    run.errors = events["errors"]
    run.checks = _read_checks(log)
    run.seconds = time.monotonic() - started
    if killed:
        run.outcome, run.stopped_at = TIMED_OUT, events.get("last_cell", 0)
        run.detail = f"killed after {backstop:g} s"
    elif events.get("outcome"):
        run.outcome, run.stopped_at, run.detail = events["outcome"], events.get("stopped_at"), events.get("detail", "")
    else:
        lines = [line for line in output.read_text(errors="replace").splitlines() if line.strip()]
        run.outcome, run.detail = "failed", lines[-1] if lines else f"exit status {process.returncode}"
    return run


def _exercise_cells(cells) -> dict[str, list[int]]:
    """Which code cells belong to which exercise: the cell's ``gptedu.exercise`` metadata, or a check call in it."""
    found: dict[str, list[int]] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("gptedu")
        ids = set(_CHECK_CALL.findall(cell.get("source", "")))
        if isinstance(meta, dict) and isinstance(meta.get("exercise"), str) and _EXERCISE_ID.match(meta["exercise"]):
            ids.add(meta["exercise"])
        for exercise_id in ids:
            found.setdefault(exercise_id, []).append(index)
    return found


def _read_progress(path: Path) -> dict:
    """What the process running a notebook reported: the kernel's pid, cells started and raising, how it ended."""
    events: dict = {"errors": {}}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return events
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
        kind = event.get("event")
        if kind == "kernel":
            events["kernel_pid"] = event.get("pid")
        elif kind == "start":
            events["last_cell"] = event["cell"]
        elif kind == "error":
            events["errors"][event["cell"]] = event.get("ename") or "an error"
        elif kind == "end":
            events.update(outcome=event["outcome"], stopped_at=event.get("cell"), detail=event.get("detail", ""))
    if events.get("outcome") in (TIMED_OUT, "kernel died") and events.get("stopped_at") is None:
        events["stopped_at"] = events.get("last_cell", 0)
    return events


def _read_checks(path: Path) -> dict[str, str]:
    """The status of each exercise's last check call in the grading log."""
    checks: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return checks
    for line in lines:
        try:
            entry = json.loads(line)
            checks[str(entry["id"])] = str(entry["status"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return checks


class _OutOfTime(Exception):
    """The notebook's time was up between two cells."""


def _run_one(notebook: str, progress_path: str, timeout: float, executed: str | None) -> int:
    """Execute one notebook in a fresh kernel, reporting to ``progress_path``; run as ``grading.py _run_one`` by grade."""
    import asyncio

    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    progress = open(progress_path, "a", encoding="utf-8")  # open for the whole run

    def report(**event) -> None:
        progress.write(json.dumps(event) + "\n")
        progress.flush()

    nb = nbformat.read(notebook, as_version=4)
    deadline = [math.inf]
    current = [0]

    def start_clock(notebook) -> None:
        deadline[0] = time.monotonic() + timeout

    def before_cell(cell, cell_index) -> None:
        if time.monotonic() >= deadline[0]:
            raise _OutOfTime()
        current[0] = cell_index
        report(event="start", cell=cell_index)

    def on_error(cell, cell_index, execute_reply) -> None:
        report(event="error", cell=cell_index, ename=execute_reply.get("content", {}).get("ename"))

    async def execute() -> int:
        # The running Python's own ipykernel: a "python3" kernelspec elsewhere may lack gptedu.
        km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
        await km.start_kernel(cwd=os.path.dirname(notebook), extra_arguments=["--HistoryManager.hist_file=:memory:"])
        pid = getattr(km.provisioner, "pid", None)
        report(event="kernel", pid=pid)
        client = NotebookClient(nb, km=km, allow_errors=True, interrupt_on_timeout=False, startup_timeout=STARTUP_TIMEOUT,
                                timeout_func=lambda cell: max(1, math.ceil(deadline[0] - time.monotonic())),
                                on_notebook_start=start_clock, on_cell_execute=before_cell, on_cell_error=on_error)
        status = 0
        try:
            await client.async_execute()
            report(event="end", outcome="finished")
        except (CellTimeoutError, _OutOfTime):
            report(event="end", outcome=TIMED_OUT, cell=current[0])
        except DeadKernelError:
            report(event="end", outcome="kernel died", cell=current[0])
        except Exception as error:  # noqa: BLE001 - reported in the student's row
            report(event="end", outcome="failed", detail=f"{type(error).__name__}: {error}")
            status = 1
        finally:
            _kill_group(pid)  # the kernel and whatever it started, before its pid can be reused
            try:
                await km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - already killed; this only removes its connection file
                pass
            if client.kc is not None:
                client.kc.stop_channels()
            if executed:
                nbformat.write(client.nb, executed)
        return status

    try:
        return asyncio.run(execute())
    except Exception as error:  # noqa: BLE001 - e.g. the kernel did not start
        report(event="end", outcome="failed", detail=f"{type(error).__name__}: {error}")
        return 1
    finally:
        progress.close()


# ---------------------------------------------------------------- from runs to grades


def _graded_ids(notebook: str) -> list[str]:
    return [e.id for e in list_exercises(notebook) if e.kind != "experiment"]


def exercise_status(exercise_id: str, run: Run) -> str:
    """The status of one exercise in one run (see the module's docstring)."""
    if exercise_id in run.checks:
        status = run.checks[exercise_id]
        return status if status in (PASSED, FAILED, NOT_ATTEMPTED, ERROR) else NOT_ATTEMPTED
    if run.outcome == "not a notebook":
        return NOT_ATTEMPTED
    if run.outcome == "failed":
        return ERROR
    cells = run.cells.get(exercise_id, [])
    if any(i in run.errors for i in cells):
        return ERROR
    reached_end = run.stopped_at is not None and any(i >= run.stopped_at for i in cells)
    if run.outcome == TIMED_OUT and reached_end:
        return TIMED_OUT
    if run.outcome == "kernel died" and reached_end:
        return ERROR
    return NOT_ATTEMPTED


def _notebooks_of(path: Path, run: Run, known: set[str]) -> list[str]:
    ids = {i for i in (*run.cells, *run.checks) if i in known}
    notebooks = {i.split(".")[0] for i in ids}
    if not notebooks:
        match = _NOTEBOOK_PREFIX.match(path.name)
        if match and any(i.startswith(match.group(1) + ".") for i in known):
            notebooks = {match.group(1)}
    return sorted(notebooks)


def _note(run: Run, timeout: float) -> str:
    parts = []
    if run.outcome == TIMED_OUT:
        where = f" (in cell {run.stopped_at + 1})" if run.stopped_at is not None else ""
        parts.append(f"timed out: {run.detail}{where}" if run.detail else f"timed out after {timeout:g} s{where}")
    elif run.outcome == "kernel died":
        parts.append(f"kernel died (in cell {(run.stopped_at or 0) + 1})")
    elif run.outcome == "not a notebook":
        parts.append(f"not a notebook: {run.detail}")
    elif run.outcome == "failed":
        parts.append(f"could not run: {run.detail}")
    if run.errors:
        shown = ", ".join(f"{name} (cell {i + 1})" for i, name in sorted(run.errors.items())[:3])
        more = f" and {len(run.errors) - 3} more" if len(run.errors) > 3 else ""
        parts.append(f"{len(run.errors)} cell(s) raised: {shown}{more}")
    return "; ".join(parts)


def _grades(submissions: list[Path], names: list[str], runs: list[Run], forced: str | None,
            timeout: float) -> tuple[list[Grade], list[str]]:
    known = {e.id for e in all_exercises()}
    notebooks = [[forced] if forced else _notebooks_of(path, run, known) for path, run in zip(submissions, runs, strict=True)]
    columns = [i for nb in sorted({nb for nbs in notebooks for nb in nbs}) for i in _graded_ids(nb)]
    grades = []
    for path, name, run, own in zip(submissions, names, runs, notebooks, strict=True):
        ids = [i for nb in own for i in _graded_ids(nb)]
        statuses = {i: exercise_status(i, run) if i in ids else "" for i in columns}
        note = _note(run, timeout)
        if not own:
            note = "; ".join(filter(None, [note, "could not tell which notebook this is: pass --notebook NN"]))
        score = f"{sum(statuses[i] == PASSED for i in ids)}/{len(ids)}" if ids else ""
        grades.append(Grade(name, path, statuses, score, note, run.seconds, run.kernel_pid))
    return grades, columns


def _write_csv(path: Path, grades: list[Grade], columns: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["student", *columns, "score", "note", "file"])
            for g in grades:
                writer.writerow([g.student, *(g.statuses[c] for c in columns), g.score, g.note, str(g.path)])
    except OSError as error:
        raise GradingInputError(f"could not write {path}: {error}") from None


def summary_table(grades: list[Grade], columns: list[str]) -> str:
    """The grades as a short text table (pass, fail, - for not attempted, error, timeout); the CSV has the words."""
    header = ["student", *columns, "score", "note"]
    rows = [[g.student, *(_SHORT.get(g.statuses[c], g.statuses[c]) for c in columns), g.score, g.note] for g in grades]
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header) - 1)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(r, widths, strict=False)) + "  " + str(r[-1]) for r in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def _runner_main(argv: list[str]) -> int:
    if len(argv) != 5 or argv[0] != "_run_one":
        print("usage: grading.py _run_one NOTEBOOK PROGRESS_FILE TIMEOUT EXECUTED_OR_EMPTY (started by gptedu grade)",
              file=sys.stderr)
        return 2
    return _run_one(argv[1], argv[2], float(argv[3]), argv[4] or None)


if __name__ == "__main__":
    if not __package__:
        sys.path.pop(0)  # this file's folder: none of its modules is meant to be imported on its own
    sys.exit(_runner_main(sys.argv[1:]))
