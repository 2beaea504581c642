"""Running one planned cell where it is: the training or the measurement, its time limit, and
the record of a cell that raised or ran out of time. The sweep (here) and the executors'
workers (elsewhere) both run cells through :func:`run_cell`."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from rnnbench import allocator
from rnnbench.measure import ThroughputCell, measure, throughput_key
from rnnbench.models import resolve_model
from rnnbench.profiles import PlannedCell
from rnnbench.records import head, model_identity
from rnnbench.results import environment
from rnnbench.train import failed_record, fit, resolve_device


class CellTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CellTimeout in the main thread after ``seconds`` (POSIX)."""
    if not seconds:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellTimeout(f"exceeded the per-cell limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def failure(pc: PlannedCell, status: str, error: str, device: str, seconds: float) -> dict[str, Any]:
    """The record of a cell that raised or ran out of time."""
    if not isinstance(pc.cell, ThroughputCell):
        return failed_record(pc.cell, status, error, device, seconds)
    dev = resolve_device(device)
    arch = resolve_model(pc.cell.model)  # its name only: a cell that failed may have failed its checks
    return head("throughput", throughput_key(pc.cell, arch, str(dev)), status) | {
        "error": error,
        "model": model_identity(pc.cell.model, arch, pc.cell.impl or arch.default_for(dev)),
        "shape": dataclasses.asdict(pc.cell.shape),
        "results": {},
        "timing": {"seconds": seconds},
        "env": environment(dev),
    }


def run_cell(pc: PlannedCell, device: str, cell_timeout: float | None, progress: Any = None) -> dict[str, Any]:
    """Run one planned cell; never raises for the cell's own errors (they are recorded).

    ``cell_timeout`` stops the cell with SIGALRM in a process's main thread; in a worker
    thread (Dask runs cells in threads) a training stops at its next step instead, and a
    throughput measurement, bounded by its ``min_run_time``, runs to its end."""
    start = time.perf_counter()
    main = threading.current_thread() is threading.main_thread()
    if cell_timeout and not main:
        progress = deadline_progress(start + cell_timeout, cell_timeout, progress)
    try:
        with time_limit(cell_timeout if main else None):
            if isinstance(pc.cell, ThroughputCell):
                record = measure(pc.cell, resolve_device(device))
            else:
                # weights only where asked, so that the call stays fit(cell, device, progress) otherwise
                record = fit(pc.cell, device, progress, *([pc.weights_dir] if pc.weights_dir else []))
    except CellTimeout as exc:
        record = failure(pc, "timeout", str(exc), device, time.perf_counter() - start)
    except Exception as exc:  # a cell that raises must not end the sweep
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        record = failure(pc, "failed", message, device, time.perf_counter() - start)
    finally:
        gc.collect()  # the cell's tensors, some held in reference cycles (autograd graphs, tracebacks)
        allocator.release()  # what the cell freed, handed back: a sweep's process otherwise grows cell by cell
    return placed(record, pc)


def placed(record: dict[str, Any], pc: PlannedCell) -> dict[str, Any]:
    """``record`` with where in its profile the cell sits (rnnbench.records.Placement)."""
    record["profile"], record["section"] = pc.profile, pc.section
    if pc.axis:
        record["axis"] = pc.axis
    return record


def deadline_progress(deadline: float, limit: float, inner: Any) -> Any:
    def progress(step: int, steps: int) -> None:
        if time.perf_counter() > deadline:
            raise CellTimeout(f"exceeded the per-cell limit of {limit:g} s")
        if inner is not None:
            inner(step, steps)

    return progress
