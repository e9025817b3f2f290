"""The GPU check's pytest plumbing: the ``gpu`` marker, the skip without CUDA, and the summary table.

Every test under tests/gpu is marked ``gpu`` and skipped, with the reason ``no CUDA GPU:
torch.cuda.is_available() is False``, where there is no CUDA GPU and no
``GPTEDU_GPU_CHECK_DEVICE=cpu`` (the CPU self-test, see gpu_checks.py). So ``make test`` on a
CPU collects them, skips them in a moment and passes or fails exactly as without them. When the
checks ran, the end of the run prints one table: each check, its outcome, its key number and
the device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gpu_checks
import pytest
import torch

GPU_DIR = Path(__file__).resolve().parent


@dataclass
class Row:
    """One line of the summary table."""

    check: str
    outcome: str = "not run"
    key: str = ""
    seconds: float = 0.0


_rows: dict[str, Row] = {}  # nodeid -> row, in collection order
_state: dict = {"device": None, "error": None, "only_gpu_items": False, "start": time.perf_counter()}


def _is_gpu_item(item: pytest.Item) -> bool:
    return GPU_DIR in Path(str(item.path)).resolve().parents


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu(check): the GPU check (make gpu-check); skipped without a CUDA GPU")
    _state["start"] = time.perf_counter()
    try:
        _state["device"] = gpu_checks.check_device()
    except ValueError as error:
        _state["error"] = str(error)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of tests/gpu ``gpu`` and, without a device to check, skip it with the reason."""
    gpu_items = [item for item in items if _is_gpu_item(item)]
    if gpu_items and _state["error"]:
        raise pytest.UsageError(_state["error"])  # a mistyped device must not pass as a skip
    _state["only_gpu_items"] = bool(gpu_items) and len(gpu_items) == len(items)
    for item in gpu_items:
        marker = item.get_closest_marker("gpu")
        if marker is None:
            item.add_marker(pytest.mark.gpu)
        _rows[item.nodeid] = Row(check=marker.args[0] if marker is not None and marker.args else item.name)
        if _state["device"] is None:
            item.add_marker(pytest.mark.skip(reason=gpu_checks.NO_CUDA))


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The device under check (``cuda``, or ``cpu`` in the self-test)."""
    if _state["device"] is None:
        pytest.skip(gpu_checks.NO_CUDA)  # not reached: the collection hook skips every test first
    return _state["device"]


@pytest.fixture
def key_number(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``key_number("loss 9.781")`` records this check's key number for the summary table (the last call counts)."""
    row = _rows.get(request.node.nodeid)

    def record(text: str) -> None:
        if row is not None:
            row.key = text

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    row = _rows.get(report.nodeid)
    if row is None:
        return
    row.seconds += report.duration
    if report.skipped:
        row.outcome = "skipped"
        if isinstance(report.longrepr, tuple):
            row.key = str(report.longrepr[2]).removeprefix("Skipped: ")  # the reason
    elif report.failed:
        row.outcome = "failed" if report.when == "call" else f"error ({report.when})"
    elif report.when == "call":
        row.outcome = "passed"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Print the table of checks when they ran; one line when only the GPU check ran and found no GPU; else nothing."""
    device = _state["device"]
    if device is None:
        if _state["only_gpu_items"]:  # make gpu-check on a machine without a GPU
            terminalreporter.write_line(f"GPU check skipped: {gpu_checks.NO_CUDA}. It needs an NVIDIA GPU; "
                                        f"{gpu_checks.ENV_VAR}=cpu runs its CPU self-test.")
        return  # make test: the skips are in the list already
    rows = [row for row in _rows.values() if row.outcome != "not run"]  # not deselected
    if not rows:
        return
    terminalreporter.section(f"GPU check: {gpu_checks.device_label(device)}")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    table = [("check", "outcome", "key number", "device", "seconds")]
    table += [(row.check, row.outcome, row.key, name, f"{row.seconds:.1f}") for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(5)]
    for line in table:
        terminalreporter.write_line("  ".join(f"{cell:<{width}}" for cell, width in zip(line, widths, strict=True)).rstrip())
    counts = {outcome: sum(row.outcome == outcome for row in rows) for outcome in ("passed", "failed", "skipped")}
    terminalreporter.write_line(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
                                f"in {time.perf_counter() - _state['start']:.0f} s")
