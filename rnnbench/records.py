"""The record schema: the parts of every kind of record (TypedDicts), the one function that builds
each shared part, and a check of a record against its kind's schema.

Every record starts with the same head (:func:`head`); a model is described by
:func:`model_identity` (name, display name, implementation) everywhere, and by
:func:`configured_model` (its default implementation, parameters and, for a user's model, the
hash of its source) wherever its parameters are known, so a field cannot drift between a
training record, a throughput record and the record of a cell that failed. The machine part is
``rnnbench.results.environment`` (``env``), the busy-machine part ``LoadMeter.record`` (``load``).
Key order is part of a record's bytes (published records are compared byte for byte): each
builder's order is the order records have always had.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

import torch

from rnnbench.models import display_name
from rnnbench.models.user import source_hash
from rnnbench.results import SCHEMA_VERSION, new_run_id, now
from rnnbench.tasks.base import higher_is_better

Status = Literal["ok", "diverged", "failed", "timeout"]


class Head(TypedDict):
    """The fields every record starts with."""

    schema_version: int
    kind: str
    run_id: str
    cell_key: str | None
    created_at: str
    status: Status


class Placement(TypedDict, total=False):
    """Where a sweep ran a cell: added after the cell ran (absent from a record of ``rnnbench run``)."""

    profile: str
    section: str
    axis: str  # retention: the task parameter swept as the dependency length
    executor: dict[str, Any]  # kind, and on a worker its host, pid and name


class ModelIdentity(TypedDict):
    name: str  # as the cell names it (a registered name, or a user's FILE:NAME)
    display: str
    implementation: str


class _Configured(ModelIdentity):
    default_implementation: str
    params: dict[str, Any]


class _BlockParts(TypedDict, total=False):
    source_sha256: str  # a user's model: the hash of its source files
    encoder: dict[str, Any]  # a training record's task encoder, or a block's (rnnbench.models.blocks.record)
    stack: dict[str, Any]  # a block's stack


class TrainModel(_Configured, _BlockParts):
    citation: str


class TrainedModel(TrainModel):
    """A trained model: with what the record of a cell that failed cannot know."""

    n_params: int
    state_size: Any


class ThroughputModel(_Configured, _BlockParts):
    bidirectional: bool
    state_size: Any


class LengthEvalModel(TypedDict, total=False):
    """The training record's model fields a length evaluation repeats (in this order)."""

    name: str
    display: str
    implementation: str
    default_implementation: str
    params: dict[str, Any]
    n_params: int


class _FormalTaskPart(TypedDict, total=False):  # rnnbench.tasks.formal's tasks describe these too
    family: str
    blank: int | None
    chance: float


class TaskPart(_FormalTaskPart):
    name: str
    version: int
    preset: str | None
    params: dict[str, Any]
    solved_rule: str
    metric: str
    higher_is_better: bool


class Load(TypedDict):
    others_cpu_share: float | None
    loadavg_start: float | None
    loadavg_end: float | None
    cores: int
    busy: bool


class _StatedCommit(TypedDict, total=False):  # a copied working tree (RNNBENCH_SOURCE_COMMIT)
    commit_stated: bool
    checkout_commit: str


class Env(_StatedCommit):
    """``rnnbench.results.environment``: where a number came from."""

    rnnbench: str
    git_commit: str | None
    git_dirty: bool | None
    code_source: str
    source_tree: str | None
    python: str
    torch: str
    platform: str
    host: str
    device: str
    device_name: str
    cpu: str
    threads: int
    cpu_capability: str
    allocator: str
    numerics: dict[str, Any]
    cuda: str | None
    cudnn: int | None
    deterministic_algorithms: bool
    cudnn_deterministic: bool | None
    cudnn_benchmark: bool | None
    cublas_workspace_config: str | None
    cudnn_allow_tf32: bool | None
    matmul_allow_tf32: bool | None


class TrainTiming(TypedDict):
    train_seconds: float


class TrainedTiming(TrainTiming):
    steps_per_second: float | None


class Timing(TypedDict):
    seconds: float


class _TrainBase(Head, Placement):
    task: TaskPart
    cell: dict[str, Any]  # the Cell, as dataclasses.asdict gives it: enough to rerun it
    train: dict[str, Any]  # rnnbench.train.train_dict, and after training steps_done (and param_groups)
    metrics: dict[str, Any]
    env: Env


class _Trained(_TrainBase):
    model: TrainedModel
    diverged_at: int | None
    evaluated_on: str
    history: list[dict[str, Any]]
    timing: TrainedTiming
    load: Load
    weights_sha256: str


class TrainRecord(_Trained, total=False):
    """``kind: train``, status ok or diverged (rnnbench.train.fit)."""

    weights_file: str  # where weights were saved (rnnbench.weights)
    probes: dict[str, Any]  # rnnbench.diagnostics' measurements, at "init" and "trained"


class FailedTrainRecord(_TrainBase):
    """``kind: train``, status failed or timeout (rnnbench.train.failed_record)."""

    model: TrainModel
    error: str
    timing: TrainTiming


class ThroughputRecord(Head, Placement):
    """``kind: throughput``, status ok (rnnbench.measure.measure)."""

    model: ThroughputModel
    shape: dict[str, int]
    min_run_time: float
    matmul: dict[str, Any]
    results: dict[str, Any]
    load: Load
    env: Env


class FailedThroughputRecord(Head, Placement):
    """``kind: throughput``, status failed or timeout (rnnbench.cells.failure)."""

    error: str
    model: ModelIdentity
    shape: dict[str, int]
    results: dict[str, Any]
    timing: Timing
    env: Env


class _LengthEvalBase(Head):
    of_run: str
    task: TaskPart
    model: LengthEvalModel
    train: dict[str, Any]
    eval: dict[str, Any]
    per_length: list[dict[str, Any]]
    weights_sha256: str | None
    timing: Timing
    env: Env


class LengthEvalRecord(_LengthEvalBase, total=False):
    """``kind: length_eval`` (rnnbench.evaluate.evaluation_record)."""

    profile: str
    section: str


FAILED = ("failed", "timeout")
SCHEMAS: dict[tuple[str, bool], type] = {  # (kind, failed) -> schema
    ("train", False): TrainRecord,
    ("train", True): FailedTrainRecord,
    ("throughput", False): ThroughputRecord,
    ("throughput", True): FailedThroughputRecord,
    ("length_eval", False): LengthEvalRecord,
}


def head(kind: str, cell_key: str | None, status: str = "ok", of_run: str | None = None) -> Head:
    """A new record's first fields (a fresh run id and time); ``of_run``: the run it is of."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": kind, "run_id": new_run_id()}
    if of_run is not None:
        out["of_run"] = of_run
    return out | {"cell_key": cell_key, "created_at": now(), "status": status}  # type: ignore[return-value]


def model_identity(name: str, arch: Any, impl: str) -> ModelIdentity:
    """The model as every record names it: the cell's name, the display name, the implementation run."""
    return {"name": name, "display": display_name(arch), "implementation": impl}


def configured_model(
    name: str,
    arch: Any,
    impl: str,
    device: torch.device | str,
    params: Any,
    details: dict[str, Any] | None = None,
    blocks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`model_identity`, the device's default implementation and the parameters, then the
    kind's own ``details``, a user's source hash, and a block's ``blocks`` (encoder, stack)."""
    return {
        **model_identity(name, arch, impl),
        "default_implementation": arch.default_for(device),
        "params": dataclasses.asdict(params),
        **(details or {}),
        **({"source_sha256": source_hash(arch.source_files)} if arch.user else {}),
        **(blocks or {}),
    }


def task_part(task: Any) -> TaskPart:
    """The task as records describe it: name, version, preset, parameters and how it is scored."""
    return task.describe() | {
        "solved_rule": str(task.rule),
        "metric": task.primary_metric,  # type: ignore[return-value]
        "higher_is_better": higher_is_better(task.primary_metric),
    }


def length_eval_model(model: dict[str, Any]) -> LengthEvalModel:
    """The fields of a training record's ``model`` that its length evaluations repeat."""
    return {k: model[k] for k in LengthEvalModel.__annotations__ if k in model}  # type: ignore[return-value]


def problems(record: dict[str, Any]) -> list[str]:
    """What in ``record`` does not fit its kind's schema: missing keys, unknown keys, wrong types."""
    kind = record.get("kind", "train")
    schema = SCHEMAS.get((kind, record.get("status") in FAILED))
    if schema is None:
        return [f"no schema for a {kind!r} record with status {record.get('status')!r}"]
    out: list[str] = []
    _check(record, schema, kind, out)
    return out


def validate(record: dict[str, Any]) -> None:
    """Raise ValueError naming every field of ``record`` that does not fit its schema."""
    found = problems(record)
    if found:
        raise ValueError("; ".join(found))


def _check(value: Any, hint: Any, where: str, out: list[str]) -> None:
    if hint is Any:
        return
    if is_typeddict(hint):
        if not isinstance(value, dict):
            out.append(f"{where}: {type(value).__name__}, not an object")
            return
        hints = get_type_hints(hint)
        out += [f"{where}.{k}: missing" for k in hint.__required_keys__ if k not in value]
        out += [f"{where}.{k}: not in the schema" for k in value if k not in hints]
        for k, v in value.items():
            if k in hints:
                _check(v, hints[k], f"{where}.{k}", out)
        return
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        tries = [_fits(value, a, where) for a in args]
        if all(tries):
            out.append(f"{where}: {value!r} is none of {hint}")
        return
    if origin is Literal:
        if value not in args:
            out.append(f"{where}: {value!r} is not one of {args}")
        return
    if origin in (list, dict):
        if not isinstance(value, origin):
            out.append(f"{where}: {type(value).__name__}, not a {origin.__name__}")
            return
        items = enumerate(value) if origin is list else value.items()
        for k, v in items:
            _check(v, args[-1], f"{where}[{k!r}]", out)
        return
    if hint is type(None):
        ok = value is None
    elif hint is float:  # JSON has one number type: an int is a float's value too
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        out.append(f"{where}: {value!r} is not a {getattr(hint, '__name__', hint)}")


def _fits(value: Any, hint: Any, where: str) -> list[str]:
    found: list[str] = []
    _check(value, hint, where, found)
    return found
