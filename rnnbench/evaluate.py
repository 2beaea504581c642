"""Length generalisation: a trained model scored at lengths it was not trained on, without retraining.

A ``length_eval`` record holds, for one training run (``of_run``), the metrics at every length
evaluated (``per_length``: accuracy, the loss, chance and the input-blind baseline). The data at
each length come from a fixed seed of its own (the task's name and the length), on the CPU, so
every run, device and later evaluation sees the same sequences at a length, and adding lengths
later never changes the numbers of those already recorded. Evaluation never rewrites a record:
new lengths are a new record linked to the same run; reports keep the newest value per run and
length. Sequences are evaluated in chunks small enough to fit in memory (T = 1000 included).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from rnnbench.errors import UsageError
from rnnbench.records import head, length_eval_model
from rnnbench.rerun import cell_from_record
from rnnbench.results import environment, read_records
from rnnbench.tasks import Task
from rnnbench.train import EVAL_SEED, evaluate_in_chunks, generator, weights_hash
from rnnbench.weights import weights_path

KIND = "length_eval"
EVAL_SAMPLES = 512  # sequences per length, as Delétang et al.'s range evaluation


def length_batch(task: Task, length: int, samples: int):
    """The held-out sequences at ``length``: a seed of their own, drawn on the CPU."""
    return task.sample_length(length, samples, generator(EVAL_SEED, f"{task.name}:length={length}", torch.device("cpu")))


def evaluate_lengths(
    model: torch.nn.Module,
    task: Task,
    lengths: Sequence[int],
    samples: int = EVAL_SAMPLES,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """The task's metrics and baselines at each length; ``model`` in eval mode on ``device``."""
    for length in lengths:  # every length valid before any work
        task.at_length(length)
    rows = []
    model.eval()
    for length in lengths:
        at = task.at_length(length)
        batch = length_batch(task, length, samples)
        baselines = at.baselines(batch)
        with torch.no_grad():
            metrics = evaluate_in_chunks(model, at, _to(batch, device))
        rows.append(
            {
                "length": int(length),
                "input_length": int(batch.x.shape[1]),
                **metrics,
                **{k: baselines[k] for k in ("chance", "baseline", "majority") if k in baselines},
            }
        )
        if progress is not None:
            progress(length)
    return rows


def _to(batch: Any, device: torch.device | str) -> Any:
    from rnnbench.tasks.formal import _to as move

    return move(batch, device)


def evaluation_record(
    train: dict[str, Any], rows: list[dict[str, Any]], samples: int, device: torch.device, seconds: float
) -> dict[str, Any]:
    """The record of one evaluation of training run ``train`` at the lengths in ``rows``."""
    return head(KIND, train.get("cell_key"), of_run=train["run_id"]) | {
        **{k: train[k] for k in ("profile", "section") if k in train},
        "task": train["task"],
        "model": length_eval_model(train["model"]),
        "train": {
            "seed": train["train"].get("seed"),
            "lengths": train["train"].get("lengths", ""),
            "steps": train["train"].get("steps"),
        },
        "eval": {
            "samples": samples,
            "lengths": [r["length"] for r in rows],
            "data": "a fixed seed per task and length, drawn on the CPU",
        },
        "per_length": rows,
        "weights_sha256": train.get("weights_sha256"),
        "timing": {"seconds": seconds},
        "env": environment(device),
    }


def evaluated(records: Iterable[dict[str, Any]], run_id: str, samples: int) -> set[int]:
    """The lengths already evaluated for ``run_id`` with ``samples`` sequences each."""
    done: set[int] = set()
    for r in records:
        if r.get("kind") == KIND and r.get("of_run") == run_id and r.get("eval", {}).get("samples") == samples:
            done |= {int(row["length"]) for row in r.get("per_length", [])}
    return done


def evaluate_run(
    train: dict[str, Any],
    lengths: Sequence[int],
    weights_dir: str | os.PathLike,
    samples: int = EVAL_SAMPLES,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Load run ``train``'s weights (checked against its hash) and evaluate them at ``lengths``."""
    from rnnbench.train import resolve_device

    dev = resolve_device(device)
    model, task, _ = load_trained(train, weights_dir, dev)
    for length in lengths:
        task.at_length(length)
    start = time.perf_counter()
    rows = evaluate_lengths(model, task, lengths, samples, dev, progress)
    return evaluation_record(train, rows, samples, dev, time.perf_counter() - start)


def find_training_record(results: Path, run_id: str) -> tuple[dict[str, Any], Path]:
    """A training record by run id (or a unique prefix) under ``results/raw``, and its file."""
    raw = results / "raw"
    files = sorted(raw.rglob("*.jsonl")) if raw.is_dir() else []
    if not files:
        raise UsageError(f"no records under {raw}; run rnnbench run or rnnbench sweep first (or give --results)")
    found: list[tuple[dict[str, Any], Path]] = []
    for file in files:
        found += [
            (r, file)
            for r in read_records(file)
            if r.get("kind", "train") == "train" and str(r.get("run_id", "")).startswith(run_id)
        ]
    ids = {r["run_id"] for r, _ in found}
    if not ids:
        raise UsageError(f"no training record with run id {run_id!r} under {raw}")
    if len(ids) > 1:
        raise UsageError(f"run id {run_id!r} matches {len(ids)} runs ({', '.join(sorted(ids)[:3])}, ...); give more of it")
    return found[-1]


def load_trained(
    record: dict[str, Any], directory: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[torch.nn.Module, Any, Any]:
    """The trained model of a training record, its task and cell, rebuilt from the record's cell with the
    weights from ``directory``; raises UsageError (one line naming the file) when the file is missing,
    unreadable or not the one the record hashed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    run_id = record.get("run_id", "?")
    path = weights_path(directory, run_id)
    if record.get("status") != "ok":
        raise UsageError(f"run {run_id} has status {record.get('status')!r}: it has no trained weights to evaluate")
    if not path.is_file():
        raise UsageError(
            f"weights file {path} of run {run_id} is missing; point --weights at the folder that holds "
            "it, or train the cell again with rnnbench run ... --save-weights (its record keeps the "
            "results it has)"
        )
    cell = cell_from_record(record)
    resolved = cell.resolve()
    model = resolved.build_model(generator(0, "init", torch.device("cpu")))
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"weights file {path} of run {run_id} cannot be read ({exc}); it is damaged") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UsageError(
            f"weights file {path} does not fit run {run_id}'s model ({resolved.arch.name}); it belongs to another run"
        ) from None
    found, expected = weights_hash(model), record.get("weights_sha256")
    if found != expected:
        raise UsageError(
            f"weights file {path} does not match run {run_id}: its weights hash to {found}, the record "
            f"says {expected}; it belongs to another run or was changed"
        )
    return model.to(device).eval(), resolved.task, cell
