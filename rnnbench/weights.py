"""Trained weights on disk: one safetensors file per run, named by its run id, checked against the
record's ``weights_sha256`` when loaded (so a file of another run, or an edited one, is refused).

``rnnbench run --save-weights`` and ``rnnbench sweep`` (always for ``[[length]]`` entries, for
every training cell with ``--save-weights``) write ``results/weights/RUN_ID.safetensors``;
``rnnbench evaluate`` and a sweep's evaluation step read them back.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

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
