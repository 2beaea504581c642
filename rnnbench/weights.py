"""Trained weights on disk: one safetensors file per run, named by its run id, checked against the
record's ``weights_sha256`` when loaded (so a file of another run, or an edited one, is refused).

``rnnbench run --save-weights`` and ``rnnbench sweep`` (always for ``[[length]]`` entries, for
every training cell with ``--save-weights``) write ``results/weights/RUN_ID.safetensors``;
``rnnbench evaluate`` and a sweep's evaluation step read them back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rnnbench.errors import UsageError
from rnnbench.results import atomic_write

SUFFIX = ".safetensors"


def weights_path(directory: str | os.PathLike, run_id: str) -> Path:
    return Path(directory) / f"{run_id}{SUFFIX}"


def save_weights(model: torch.nn.Module, directory: str | os.PathLike, run_id: str) -> Path:
    """Write ``model.state_dict()`` to ``directory/RUN_ID.safetensors`` atomically; returns the path."""
    from safetensors.torch import save

    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}
    path = weights_path(directory, run_id)
    atomic_write(path, save(tensors, metadata={"run_id": run_id, "format": "rnnbench state_dict"}))
    return path


def load_trained(record: dict[str, Any], directory: str | os.PathLike, device: torch.device | str = "cpu"
                 ) -> tuple[torch.nn.Module, Any, Any]:
    """The trained model of a training record, its task and cell, rebuilt from the record's cell with the
    weights from ``directory``; raises UsageError (one line naming the file) when the file is missing,
    unreadable or not the one the record hashed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from rnnbench.models import build_model, resolve_model
    from rnnbench.rerun import cell_from_record
    from rnnbench.train import generator, weights_hash

    run_id = record.get("run_id", "?")
    path = weights_path(directory, run_id)
    if record.get("status") != "ok":
        raise UsageError(f"run {run_id} has status {record.get('status')!r}: it has no trained weights to evaluate")
    if not path.is_file():
        raise UsageError(f"weights file {path} of run {run_id} is missing; point --weights at the folder that holds "
                         "it, or train the cell again with rnnbench run ... --save-weights (its record keeps the "
                         "results it has)")
    cell = cell_from_record(record)
    task, mparams, _ = cell.resolved()
    model = build_model(cell.model, cell.impl, task.spec, mparams, generator(0, "init", torch.device("cpu")))
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"weights file {path} of run {run_id} cannot be read ({exc}); it is damaged") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UsageError(f"weights file {path} does not fit run {run_id}'s model "
                         f"({resolve_model(cell.model).name}); it belongs to another run") from None
    found, expected = weights_hash(model), record.get("weights_sha256")
    if found != expected:
        raise UsageError(f"weights file {path} does not match run {run_id}: its weights hash to {found}, the record "
                         f"says {expected}; it belongs to another run or was changed")
    return model.to(device).eval(), task, cell
