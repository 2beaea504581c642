"""Rerun the cell of a stored record and compare the outcome bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnbench.errors import UsageError
from rnnbench.results import read_records
from rnnbench.train import Cell

ENV_KEYS = ("torch", "python", "device_name", "threads", "cuda", "cudnn", "git_commit", "numerics")


def find_record(path: Path, run_id: str | None) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"no results file {path}")
    records = [r for r in read_records(path) if r.get("kind", "train") == "train"]
    if run_id:
        records = [r for r in records if r.get("run_id") == run_id]
    if not records:
        raise UsageError(f"no training record{' with run_id ' + run_id if run_id else ''} in {path}")
    return records[-1]


def cell_from_record(record: dict[str, Any]) -> Cell:
    try:
        c = record["cell"]
        return Cell(
            c["task"],
            c["model"],
            c["preset"],
            c["task_params"],
            c["impl"],
            c["model_params"],
            c["train"],
            tuple(c.get("probes", ())),
        )
    except (KeyError, TypeError):
        raise UsageError(
            f"record {record.get('run_id')} has no complete 'cell' to rerun (written by an older rnnbench?)"
        ) from None


def env_differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Environment fields that differ; a mismatch is expected when these do."""
    return [(k, old.get(k), new.get(k)) for k in ENV_KEYS if old.get(k) != new.get(k)]


def compare_runs(old: dict[str, Any], new: dict[str, Any]) -> tuple[bool, list[str]]:
    lines = []
    if old["status"] != new["status"]:
        lines.append(f"status: {old['status']} -> {new['status']}")
    for key in sorted(set(old.get("metrics", {})) | set(new.get("metrics", {}))):
        a, b = old.get("metrics", {}).get(key), new.get("metrics", {}).get(key)
        if a != b:
            lines.append(f"metrics.{key}: {a!r} -> {b!r}")
    if old.get("weights_sha256") != new.get("weights_sha256"):
        lines.append(f"weights_sha256: {old.get('weights_sha256')} -> {new.get('weights_sha256')}")
    return not lines, lines
