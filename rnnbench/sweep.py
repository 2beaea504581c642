"""Run a profile cell by cell, resumably, with progress and a cost estimate."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from rnnbench import numerics
from rnnbench.cells import failure, placed
from rnnbench.errors import UsageError
from rnnbench.evaluate import evaluate_run, evaluated
from rnnbench.executors import ExecutorSpec, default_threads, in_shard, make_pool
from rnnbench.measure import ResolvedThroughput, ThroughputCell, unchecked
from rnnbench.models import display_name, resolve_model
from rnnbench.profiles import PlannedCell, Profile
from rnnbench.results import STATUSES, append_record, busy_text, environment, read_records, same_setup
from rnnbench.train import Cell, resolve_device

# Cost model for --dry-run, fitted to fused runs on a 2-core Xeon (torch 2.13): a fixed
# cost per optimizer step, plus the larger of a per-recurrent-step cost (one layer and
# direction, forward and backward; each architecture declares its own, ``step_seconds``,
# for its default implementation, and other implementations count 3×) and the FLOPs at
# the effective training rate (which dominates large models).
SECONDS_PER_STEP = 6.4e-4
SLOWER_IMPL = 3.0
FLOP_RATE = 3.0e10


def records_path(out: Path, profile: Profile) -> Path:
    return out / "raw" / f"{profile.name}.jsonl"


def estimate(cell: Cell | ThroughputCell, evaluation: Any = None) -> dict[str, float]:
    """Rough cost of a cell (FLOPs, and seconds on a 2-core CPU, right within a factor of about 2);
    a training curriculum counts its mean sequence length, and ``evaluation`` (a [[length]] entry's
    lengths) adds the forward passes at every evaluation length."""
    resolved = unchecked(cell) if isinstance(cell, ThroughputCell) else cell.resolve()
    arch = resolved.arch
    D = 2 if arch.bidirectional else 1
    step_seconds = arch.step_seconds * (1 if cell.impl in (None, arch.default_impl) else SLOWER_IMPL)
    if isinstance(resolved, ResolvedThroughput):  # three timed phases, plus warm-up and memory calls
        recurrent = cell.shape.seq_len * cell.shape.num_layers * D
        flops = resolved.forward_flops() or 0
        per_call = recurrent * step_seconds + 3 * flops / FLOP_RATE
        return {"flops": flops, "seconds": 3 * cell.min_run_time + 10 * per_call}
    task, mparams, cfg = resolved.task, resolved.params, resolved.train
    seq_len = lambda n: task.sample_length(n, 1, torch.Generator().manual_seed(0)).x.shape[1]  # noqa: E731
    lengths = cfg.curriculum()
    length = (
        sum(seq_len(n) for n in lengths) / len(lengths)
        if lengths
        else task.sample(1, torch.Generator().manual_seed(0)).x.shape[1]
    )
    evals = cfg.steps // cfg.eval_every + 1
    step_flops = arch.forward_flops(mparams, cfg.batch_size, length, task.spec.core_input_size) or 0  # users' may be None
    eval_flops = arch.forward_flops(mparams, cfg.eval_size, length, task.spec.core_input_size) or 0
    flops = 3 * cfg.steps * step_flops + evals * eval_flops
    recurrent_steps = length * getattr(mparams, "num_layers", 1) * D * (cfg.steps + evals / 3)
    seconds = cfg.steps * SECONDS_PER_STEP + max(recurrent_steps * step_seconds, flops / FLOP_RATE)
    if evaluation is not None:  # forward passes only (a third of a training step), one per length
        for n in evaluation.lengths:
            T = seq_len(n)
            f = arch.forward_flops(mparams, evaluation.samples, T, task.spec.core_input_size) or 0
            flops += f
            seconds += max(T * getattr(mparams, "num_layers", 1) * D * step_seconds / 3, f / FLOP_RATE)
    return {"flops": flops, "seconds": seconds}


def label(pc: PlannedCell, device: str = "cpu") -> str:
    """One line naming the cell, its implementation as it runs on ``device``."""
    arch = resolve_model(pc.cell.model)
    c = pc.cell if pc.cell.impl else dataclasses.replace(pc.cell, impl=arch.default_for(device))
    name = display_name(arch)
    if isinstance(c, ThroughputCell):
        s = c.shape
        return f"throughput {name}({c.impl}) B={s.batch} T={s.seq_len} I={s.input_size} H={s.hidden_size} L={s.num_layers}"
    params = ",".join(f"{k}={v}" for k, v in sorted(c.task_params.items()))
    return f"{c.task}/{c.preset or 'default'}[{params}] {name}({c.impl}) seed={c.train['seed']}"


def pending(
    profile: Profile,
    path: Path,
    device: str = "auto",
    retry_failed: bool = False,
    threads: int | None = None,
    shard: tuple[int, int] | None = None,
) -> tuple[list[PlannedCell], int]:
    """The profile's cells that have no record from this setup yet in ``path``, and how many do.

    Records from another machine, torch or commit (such as the published ones in a fresh
    clone, or those of an older commit) do not count: the sweep measures this code here.
    """
    dev = resolve_device(device)
    device = str(dev)
    here = environment(dev) | ({"threads": threads} if threads else {})
    done_status = ("ok", "diverged") if retry_failed else STATUSES
    records = read_records(path) if path.exists() else []
    done = {
        (r.get("section"), r.get("cell_key"))
        for r in records
        if r.get("status") in done_status and same_setup(r.get("env", {}), here, r.get("kind", "train"))
    }
    keyed = [(pc, pc.key(device)) for pc in profile.cells]  # each cell resolved once
    mine = [(pc, key) for pc, key in keyed if in_shard(key, shard)]
    refuse_mixed_numerics(records, {(pc.section, key) for pc, key in mine}, here, path)
    todo = [pc for pc, key in mine if (pc.section, key) not in done]
    return todo, len(mine) - len(todo)


def refuse_mixed_numerics(records: list[dict[str, Any]], cells: set[tuple[Any, str]], here: dict[str, Any], path: Path) -> None:
    """A cell's records in one file all come from one numerics mode: a portable sweep does not
    add its records beside default ones (nor the other way round), or a table would average
    measurements of two different code paths as one."""
    mode = numerics.of_record(here)["mode"]
    others: dict[tuple[Any, str], str] = {}
    for r in records:
        cell, theirs = (r.get("section"), r.get("cell_key")), numerics.of_record(r.get("env", {})).get("mode", "default")
        if cell in cells and theirs != mode:
            others[cell] = theirs
    if others:
        flag = "--numerics portable" if mode == "portable" else "default numerics"
        raise UsageError(
            f"{path} already holds {'/'.join(sorted(set(others.values())))}-numerics records of "
            f"{len(others)} of these cells; a sweep with {flag} does not mix with them in one cell: "
            f"sweep into another --out directory (e.g. --out results-{mode})"
        )


def sweep(
    profile: Profile,
    out: Path,
    device: str = "auto",
    cell_timeout: float | None = None,
    retry_failed: bool = False,
    show_progress: bool = True,
    executor: ExecutorSpec | None = None,
    threads: int | None = None,
    shard: tuple[int, int] | None = None,
    save_weights: bool = False,
) -> dict[str, int]:
    """Run every pending cell of ``profile`` (of its ``shard``), appending one record per cell.

    Cells run here one after another, or on ``executor``'s workers with ``threads`` torch
    threads each; either way this process alone appends the records. A lock file beside
    the records keeps a second sweep of the same profile into the same directory from
    running the same cells at once; it is refused with a clear error.

    ``[[length]]`` cells save their trained weights under ``out/weights`` (every training cell
    does with ``save_weights``); after the training, the evaluation step scores each trained
    length cell at the evaluation lengths it has no record of yet, from its saved weights,
    without retraining (``evaluated`` in the counts).
    """
    path = records_path(out, profile)
    executor = executor or ExecutorSpec()
    weights = str((out / "weights").resolve())  # absolute: workers elsewhere write there too
    profile = dataclasses.replace(
        profile,
        cells=[
            dataclasses.replace(pc, weights_dir=weights)
            if not isinstance(pc.cell, ThroughputCell) and (save_weights or pc.evaluation is not None)
            else pc
            for pc in profile.cells
        ],
    )
    with exclusive(
        path.with_suffix(".lock"),
        f"another sweep of profile {profile.name!r} is writing to {path}; "
        "wait for it to finish or sweep into another --out directory",
    ):
        threads = threads or default_threads(executor) or torch.get_num_threads()
        todo, skipped = pending(profile, path, device, retry_failed, threads, shard)
        counts = {"skipped": skipped, "ok": 0, "diverged": 0, "failed": 0, "timeout": 0}
        before = torch.get_num_threads()
        counts = _run(executor, threads, profile, path, todo, counts, str(resolve_device(device)), cell_timeout, show_progress)
        if any(pc.evaluation is not None for pc in profile.cells):
            torch.set_num_threads(threads)
            try:
                counts["evaluated"] = evaluate_step(profile, path, device, threads, shard, show_progress)
            finally:
                torch.set_num_threads(before)
        return counts


def evaluate_step(
    profile: Profile,
    path: Path,
    device: str,
    threads: int | None = None,
    shard: tuple[int, int] | None = None,
    show_progress: bool = True,
) -> int:
    """Evaluate each trained ``[[length]]`` cell of this setup at the evaluation lengths its records
    lack, from its saved weights; returns how many cells it evaluated. A missing or mismatched
    weights file is one warning line naming it, the other cells go on, and the step then raises
    UsageError (nothing already written is lost)."""
    dev = resolve_device(device)
    here = environment(dev) | ({"threads": threads} if threads else {})
    records = read_records(path) if path.exists() else []
    trained: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in records:  # the newest ok training record of each cell from this setup
        if r.get("kind", "train") == "train" and r.get("status") == "ok" and same_setup(r.get("env", {}), here):
            trained[(r.get("section"), r.get("cell_key"))] = r
    problems: list[str] = []
    done = 0
    for pc in profile.cells:
        if pc.evaluation is None or not in_shard(pc.key(str(dev)), shard):
            continue
        record = trained.get((pc.section, pc.key(str(dev))))
        if record is None:
            continue
        todo = [n for n in pc.evaluation.lengths if n not in evaluated(records, record["run_id"], pc.evaluation.samples)]
        if not todo:
            continue
        try:
            result = evaluate_run(record, todo, pc.weights_dir or path.parent.parent / "weights", pc.evaluation.samples, device)
        except UsageError as exc:
            problems.append(str(exc))
            warnings.warn(str(exc), stacklevel=2)
            continue
        result["profile"], result["section"] = pc.profile, pc.section
        append_record(path, result)
        done += 1
        if show_progress:
            scores = [row["acc"] for row in result["per_length"]]
            print(
                f"{profile.name} evaluated {label(pc)} at {len(todo)} lengths ({todo[0]}..{todo[-1]}): "
                f"mean acc {sum(scores) / len(scores):.3f} [{result['timing']['seconds']:.1f} s]",
                file=sys.stderr,
                flush=True,
            )
    if problems:
        raise UsageError(
            f"{len(problems)} trained cell(s) could not be evaluated (first: {problems[0]}); the other records are kept in {path}"
        )
    return done


def _run(
    spec: ExecutorSpec,
    threads: int,
    profile: Profile,
    path: Path,
    todo: list[PlannedCell],
    counts: dict[str, int],
    device: str,
    cell_timeout: float | None,
    show_progress: bool,
) -> dict[str, int]:
    """The one loop of every sweep: the cells on ``spec``'s pool (this process, or workers), each
    record appended here as it comes back, counted, shown, and its failure reported; Ctrl-C keeps
    what finished and says how to resume."""
    # a bar redrawn several times a second suits a terminal; a log (nox to a file, CI) gets one line per cell
    lines = show_progress and not sys.stderr.isatty()
    started, finished = time.perf_counter(), 0
    # lines in the file: Ctrl-C between an append and its count would otherwise say one record too few
    written = lambda: path.read_bytes().count(b"\n") if path.exists() else 0  # noqa: E731
    before = written()
    with make_pool(spec, threads) as pool:
        # in this process a training cell moves the bar step by step; elsewhere, cells finished and running
        count = "{n:.1f}" if pool.in_process else "{n}"
        bar = tqdm(
            total=len(todo),
            unit="cell",
            disable=not show_progress or lines,
            dynamic_ncols=True,
            bar_format="{desc} {bar:20}| "
            + count
            + "/{total} cells [{elapsed}<{remaining}]"
            + ("" if pool.in_process else "{postfix}"),
        )
        with bar:

            def cell_started(i: int) -> None:
                bar.set_description(f"{profile.name} {i + 1}/{len(todo)}: {label(todo[i], device)}")

            def stepped(i: int, step: int, steps: int) -> None:
                if step % 25 == 0 or step == steps:
                    bar.n = i + step / steps
                    bar.refresh()

            if not pool.in_process:
                bar.set_description(f"{profile.name} on {spec.kind} ({threads} thread{'s' if threads > 1 else ''} per worker)")
            try:
                for i, record, error in pool.run(todo, device, cell_timeout, cell_started, None if lines else stepped):
                    pc = todo[i]
                    if record is None:  # its worker was lost
                        record = placed(failure(pc, "failed", error or "lost", device, 0.0), pc)
                        record["executor"] = pool.info
                    append_record(path, record)
                    counts[record["status"]] += 1
                    finished += 1
                    bar.n = finished
                    if pool.in_process:
                        bar.refresh()
                    else:
                        bar.set_postfix_str(f"running {pool.running()}")
                    if lines:
                        elapsed = time.perf_counter() - started
                        left = elapsed / finished * (len(todo) - finished)
                        print(
                            f"{profile.name} {finished}/{len(todo)} {label(pc, device)}: {record['status']}"
                            f"{busy_note(record)} [{elapsed / 60:.1f} min, about {left / 60:.1f} min left]",
                            file=sys.stderr,
                            flush=True,
                        )
                    if record["status"] in ("failed", "timeout"):
                        bar.write(f"{label(pc, device)}: {record['status']}: {record.get('error')}")
            except KeyboardInterrupt:
                pool.cancel()
                print(
                    f"\nrnnbench: interrupted: {written() - before} of {len(todo)} cells recorded in {path}; the others were "
                    "cancelled. Run the same command again to resume.",
                    file=sys.stderr,
                )
                raise
    return counts


@contextlib.contextmanager
def exclusive(lock: Path, message: str) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(message) from None
        yield
    finally:
        os.close(fd)


def busy_note(record: dict[str, Any]) -> str:
    load = record.get("load")
    return f" (machine busy: {busy_text(load)})" if load and load.get("busy") else ""
