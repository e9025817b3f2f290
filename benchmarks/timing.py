"""The benchmarks' clock: the best of several timed calls, with GPU work waited for (not a test)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that the clock measures it (CUDA and MPS kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn: Callable[[], T], device: torch.device) -> tuple[float, T]:
    """Seconds one call of ``fn`` took on ``device``, and what it returned."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The shortest of ``repeats`` timed calls of ``fn`` on ``device`` (the machine may be shared: the best is the least disturbed)."""
    return min(timed(fn, device)[0] for _ in range(repeats))
