"""Where a sweep's cells run: in this process (:class:`LocalPool`), on a Dask cluster, or as
SLURM jobs through submitit. Every pool yields records as cells finish; the driver alone
appends them to the results file (one writer, so no two processes race on it and resuming
needs no merge), in one loop for every pool (rnnbench.sweep).

Dask and submitit are optional: ``pip install rnnbench[dask]`` / ``rnnbench[slurm]``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from rnnbench import numerics
from rnnbench.cells import run_cell
from rnnbench.errors import UsageError

Kind = Literal["local", "dask", "slurm", "submitit-local"]
KINDS = ("local", "dask", "slurm", "submitit-local")


@dataclass(frozen=True)
class ExecutorSpec:
    """How to run a sweep's cells, from the command line's --executor options."""

    kind: Kind = "local"
    workers: int | None = None  # dask: the LocalCluster's worker processes; submitit-local: jobs at once
    scheduler: str | None = None  # dask: an existing cluster's scheduler address (tcp://host:port)
    partition: str | None = None  # slurm
    time_min: int = 60  # slurm: each job's time limit
    folder: Path | None = None  # submitit: where its job logs go
    retries: int = 2  # a cell whose worker dies is run again this many times, then recorded as failed

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown executor {self.kind!r}; choose one of: {', '.join(KINDS)}")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers {self.workers} is impossible; give 1 or more")
        if self.retries < 0:
            raise UsageError(f"--retries {self.retries} is impossible; give 0 or more")
        if self.kind == "dask" and self.workers and self.scheduler:
            raise UsageError("give --workers (start a local Dask cluster) or --scheduler (use a running one), not both")
        if self.kind == "slurm" and not self.partition:
            raise UsageError("--executor slurm needs --partition NAME (and --time MINUTES per job, default 60)")

    def slots(self) -> int:
        """Cells run at once on this machine (local executors)."""
        return self.workers or max(1, (os.cpu_count() or 1) // 2)


def default_threads(spec: ExecutorSpec) -> int | None:
    """Torch threads per worker: on this machine, its share of the cores (two 2-thread
    trainings on a 2-core machine ran up to 9x slower than one, their thread pools
    fighting); on a remote cluster or SLURM, 1 unless --threads says otherwise; in this
    process, torch's own default (None)."""
    if spec.kind == "local":
        return None
    if spec.kind == "slurm" or spec.scheduler:
        return 1
    return max(1, (os.cpu_count() or 1) // spec.slots())


def oversubscribed(spec: ExecutorSpec, threads: int) -> str | None:
    """A warning when the workers' threads on this machine exceed its cores."""
    if spec.kind not in ("dask", "submitit-local") or spec.scheduler:
        return None
    cores = os.cpu_count() or 1
    if spec.slots() * threads > cores:
        return (
            f"{spec.slots()} workers x {threads} threads exceed this machine's {cores} cores: the thread pools "
            f"will fight and every timing will be slower; use --threads {max(1, cores // spec.slots())}"
        )
    return None


def run_in_worker(
    pc: Any,
    device: str,
    cell_timeout: float | None,
    threads: int,
    executor: dict[str, Any],
    numerics_setting: dict[str, Any] | None = None,
) -> dict:
    """Run one cell where the executor put it, with ``threads`` intra-op threads and the driver's
    numerics (checked, not assumed: rnnbench.numerics.enter_worker), and say where in the record."""
    numerics.enter_worker(numerics_setting)
    torch.set_num_threads(threads)
    record = run_cell(pc, device, cell_timeout)
    record["executor"] = executor | {"host": platform.node(), "pid": os.getpid(), "worker": _worker_name()}
    return record


def _numerics_problem(expected: dict[str, Any]) -> str | None:
    """Run on each Dask worker: why it cannot run with the driver's numerics (None if it can)."""
    try:
        numerics.enter_worker(expected)
    except (RuntimeError, UsageError) as exc:
        return str(exc)
    return None


def _worker_name() -> str | None:
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        return get_worker().address
    return os.environ.get("SLURM_JOB_ID")


Started = Callable[[int], None]  # (index): the cell starts now
Stepped = Callable[[int, int, int], None]  # (index, step, steps): a training cell's progress


class Pool:
    """Submits cells and yields their records as they finish: ``(index, record, error)``, with
    ``record`` None and ``error`` the reason when a worker was lost. Pools that run cells where
    this process can see them (``in_process``) also report each cell's start and training steps."""

    in_process = False
    info: dict[str, Any] = {}  # the record's ``executor``: what ran the cell

    def __init__(self, spec: ExecutorSpec, threads: int) -> None:
        self.spec, self.threads = spec, threads
        self.numerics = numerics.setting()  # each worker checks that it runs with these

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(
        self,
        cells: list[Any],
        device: str,
        cell_timeout: float | None,
        started: Started | None = None,
        stepped: Stepped | None = None,
    ) -> Iterator[tuple[int, dict | None, str | None]]:
        raise NotImplementedError

    def running(self) -> int:
        return 0

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


class LocalPool(Pool):
    """The cells in this process, one after another in their order, on ``threads`` torch threads
    (torch's own count restored on close); ``cell_timeout`` stops a cell with SIGALRM."""

    in_process = True

    def __init__(self, spec: ExecutorSpec, threads: int) -> None:
        super().__init__(spec, threads)
        self.info = {"kind": "local"}
        self.before = torch.get_num_threads()
        torch.set_num_threads(threads)

    def run(self, cells, device, cell_timeout, started=None, stepped=None):
        for i, pc in enumerate(cells):
            if started is not None:
                started(i)
            progress = None if stepped is None else lambda step, steps, i=i: stepped(i, step, steps)
            record = run_cell(pc, device, cell_timeout, progress)
            record["executor"] = dict(self.info)
            yield i, record, None

    def close(self) -> None:
        torch.set_num_threads(self.before)


class DaskPool(Pool):
    """A ``LocalCluster`` of ``workers`` processes (one task each at a time) or a running
    cluster's scheduler. A worker that dies mid-cell costs the cell a rerun elsewhere
    (Dask's ``allowed-failures``, set to ``retries`` for the local cluster); after that the
    cell is recorded as failed with Dask's reason."""

    def __init__(self, spec: ExecutorSpec, threads: int) -> None:
        super().__init__(spec, threads)
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--executor dask needs Dask's distributed scheduler: pip install 'rnnbench[dask]'") from None
        self.futures: list[Any] = []
        if spec.scheduler:
            self.cluster = None
            try:
                self.client = Client(spec.scheduler, timeout=30)
            except OSError as exc:
                raise UsageError(
                    f"cannot reach the Dask scheduler at {spec.scheduler} ({exc}); start one with "
                    "`dask scheduler` or give --workers N for a local cluster"
                ) from None
        else:
            with dask.config.set({"distributed.scheduler.allowed-failures": spec.retries}):
                # the workers' environment carries the numerics pins: torch reads them when it starts there
                self.cluster = LocalCluster(
                    n_workers=spec.slots(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    env=numerics.worker_environment(),
                )
                self.client = Client(self.cluster)
        self.info = {"kind": "dask", "scheduler": self.client.scheduler.address}
        if self.numerics["mode"] != "default":  # a running cluster's workers: refuse before any cell runs
            problems = [p for p in self.client.run(_numerics_problem, self.numerics).values() if p]
            if problems:
                self.close()
                raise UsageError(problems[0])

    def run(self, cells, device, cell_timeout, started=None, stepped=None):  # workers report no starts or steps
        from distributed import as_completed

        self.futures = [
            self.client.submit(
                run_in_worker,
                pc,
                device,
                cell_timeout,
                self.threads,
                self.info,
                self.numerics,
                key=f"cell-{i}-{pc.section}-{pc.key(device)}",
                pure=False,
            )
            for i, pc in enumerate(cells)
        ]
        index = {f.key: i for i, f in enumerate(self.futures)}
        for future in as_completed(self.futures):
            i = index[future.key]
            if future.status == "finished":
                yield i, future.result(), None
            else:
                exc = future.exception()
                yield i, None, f"{type(exc).__name__}: {exc} (the worker running it died; after retries)"
            future.release()

    def running(self) -> int:
        processing = self.client.processing()
        return sum(len(v) for v in processing.values())

    def cancel(self) -> None:
        self.client.cancel(self.futures)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class SubmititPool(Pool):
    """One job per cell through submitit: SLURM (``AutoExecutor``) or ``LocalExecutor``
    (each job a process on this machine; at most ``workers`` at once). A job that dies
    (killed, out of memory, time limit) is submitted again up to ``retries`` times."""

    POLL = 0.5

    def __init__(self, spec: ExecutorSpec, threads: int) -> None:
        super().__init__(spec, threads)
        try:
            import submitit
        except ImportError:
            raise UsageError("--executor slurm needs submitit: pip install 'rnnbench[slurm]'") from None
        folder = str(spec.folder or Path("results") / "submitit")
        if spec.kind == "slurm":
            self.executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
            self.executor.update_parameters(
                slurm_partition=spec.partition, timeout_min=spec.time_min, cpus_per_task=threads, nodes=1, tasks_per_node=1
            )
            self.window = 10**6  # SLURM queues them
        else:
            self.executor = submitit.LocalExecutor(folder=folder)
            self.executor.update_parameters(timeout_min=spec.time_min)
            self.window = spec.slots()
        self.info = {"kind": spec.kind}
        self.jobs: dict[int, Any] = {}

    def run(self, cells, device, cell_timeout, started=None, stepped=None):  # jobs report no starts or steps
        from submitit.core.utils import FailedJobError, UncompletedJobError

        queue = list(range(len(cells)))
        attempts = {i: 0 for i in queue}
        while queue or self.jobs:
            while queue and len(self.jobs) < self.window:
                i = queue.pop(0)
                attempts[i] += 1
                self.jobs[i] = self.executor.submit(
                    run_in_worker, cells[i], device, cell_timeout, self.threads, self.info, self.numerics
                )
            done = [i for i, job in self.jobs.items() if job.done()]
            if not done:
                time.sleep(self.POLL)
                continue
            for i in done:
                job = self.jobs.pop(i)
                try:
                    yield i, job.result(), None
                except (FailedJobError, UncompletedJobError) as exc:
                    if attempts[i] <= self.spec.retries:
                        queue.insert(0, i)
                        continue
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield i, None, f"{type(exc).__name__}: {reason} (job {job.job_id}, {attempts[i]} attempts)"

    def running(self) -> int:
        return len(self.jobs)

    def cancel(self) -> None:
        for job in self.jobs.values():
            with contextlib.suppress(Exception):
                job.cancel()


def make_pool(spec: ExecutorSpec, threads: int) -> Pool:
    pools: dict[str, type[Pool]] = {"local": LocalPool, "dask": DaskPool}
    return pools.get(spec.kind, SubmititPool)(spec, threads)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> (2, 4): the second of four disjoint slices of a profile."""
    if text is None:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r} is not i/n, e.g. --shard 1/4") from None
    if not (n >= 1 and 1 <= i <= n):
        raise UsageError(f"--shard {text} is impossible; give i/n with 1 <= i <= n")
    return i, n


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    """Whether the cell with this key belongs to shard i of n (by the key's hash, so the
    slices are disjoint, cover the profile, and do not depend on the order of its cells)."""
    if shard is None:
        return True
    i, n = shard
    return int(key[:12], 16) % n == i - 1
