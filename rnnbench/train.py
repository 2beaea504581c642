"""One training loop for every task and model; returns a run record."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch

from rnnbench.config import override, require
from rnnbench.diagnostics import DIAGNOSTICS, Diagnostic
from rnnbench.errors import UsageError
from rnnbench.lengths import parse_lengths
from rnnbench.models import Architecture, SequenceModel, block_layout, blocks, build_model_for, n_params, resolve_model
from rnnbench.models.user import source_hash
from rnnbench.records import configured_model, head, task_part
from rnnbench.results import LoadMeter, cell_key, environment
from rnnbench.tasks import Task, make_task
from rnnbench.tasks.base import Batch
from rnnbench.weights import save_weights

EVAL_SEED = 20_160_101  # the held-out set is the same for every run of a task


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = 3e-3
    clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    eval_every: int = 100
    eval_size: int = 1000
    early_stop: bool = False  # stop at the first evaluation that meets the task's solved rule
    seed: int = 0
    deterministic: bool = True  # CUDA determinism flags (CPU runs are deterministic anyway)
    # Training lengths for tasks sampled at any length: one length per batch, uniform over the
    # spec ("1:40" = 1..40, rnnbench.lengths); "" trains at the task's own length.
    lengths: str = ""

    def validate(self) -> None:
        require(self.steps >= 1, f"train.steps={self.steps} is impossible; use 1 or more")
        require(self.batch_size >= 1, f"train.batch_size={self.batch_size} is impossible; use 1 or more")
        require(self.lr > 0 and math.isfinite(self.lr), f"train.lr={self.lr} is impossible; use a positive number")
        require(self.clip >= 0, f"train.clip={self.clip} is impossible; use 0 (off) or a positive norm")
        require(self.eval_every >= 1, f"train.eval_every={self.eval_every} is impossible; use 1 or more")
        require(self.eval_size >= 1, f"train.eval_size={self.eval_size} is impossible; use 1 or more")
        require(self.seed >= 0, f"train.seed={self.seed} is impossible; use a non-negative integer")
        if self.lengths:
            parse_lengths(self.lengths, "train.lengths")

    def curriculum(self) -> tuple[int, ...]:
        """The training lengths (empty: the task's own length)."""
        return parse_lengths(self.lengths, "train.lengths") if self.lengths else ()


# Fields added after records were published: left out of cell keys and records while they hold
# their default, so that every earlier cell keeps its key and its records stay comparable.
NEW_TRAIN_FIELDS = {"lengths": ""}


def train_dict(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg`` as recorded: every field, less the newer ones at their defaults."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if NEW_TRAIN_FIELDS.get(k, object()) != v}


def train_config(values: dict[str, Any] | None = None) -> TrainConfig:
    return override(TrainConfig(), values or {}, "train")


def derive_seed(seed: int, purpose: str) -> int:
    """Independent streams (init, data, ...) from one run seed."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(seed: int, purpose: str, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; choose one of: auto, cpu, cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} asked for, but no CUDA device is available; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"unsupported device {name!r}; choose one of: auto, cpu, cuda")
    return device


@contextlib.contextmanager
def determinism(device: torch.device, on: bool) -> Iterator[None]:
    """PyTorch's determinism settings for one cell, restored afterwards, so that a later cell
    (a throughput measurement, say) does not inherit them; a switch is touched only when its
    value changes (``torch.use_deterministic_algorithms`` alone imports ``torch._dynamo``)."""
    cuda = device.type == "cuda"
    wanted = (on and cuda, on, not on) if cuda else (False, None, None)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if cuda and on and workspace is None:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    _set_flags(wanted, before)
    try:
        yield
    finally:
        _set_flags(before, wanted)
        if cuda and on and workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def _set_flags(wanted: tuple[Any, Any, Any], current: tuple[Any, Any, Any]) -> None:
    algorithms, cudnn_deterministic, cudnn_benchmark = wanted
    if algorithms != current[0] and algorithms is not None:
        torch.use_deterministic_algorithms(algorithms)
    if cudnn_deterministic is not None and cudnn_deterministic != current[1]:
        torch.backends.cudnn.deterministic = cudnn_deterministic
    if cudnn_benchmark is not None and cudnn_benchmark != current[2]:
        torch.backends.cudnn.benchmark = cudnn_benchmark


@dataclass(frozen=True)
class Cell:
    """Everything that defines one run: enough to rerun it exactly."""

    task: str
    model: str
    preset: str | None = None
    task_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    impl: str | None = None  # None: the architecture's default implementation on the device it runs on
    model_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    # the diagnostics taken at initialisation and after training (rnnbench.diagnostics), under the
    # name records have always given them
    probes: tuple[str, ...] = ()

    def on(self, device: str | torch.device = "cpu") -> Cell:
        """This cell with its implementation named: the architecture's default on ``device`` if none was."""
        return self if self.impl else dataclasses.replace(self, impl=resolve_model(self.model).default_for(device))

    def resolve(self, device: str | torch.device | None = None) -> ResolvedCell:
        """Every name looked up and every value validated, once: the typed values a training, its
        records and an evaluation use (with ``device``, the implementation named as it runs
        there); raises UsageError."""
        task = make_task(self.task, self.preset, self.task_params)
        arch = resolve_model(self.model)
        if self.impl:
            arch.check_impl(self.impl)
        require(
            not (arch.bidirectional and task.variable_length),
            f"task {task.name}/{task.preset} has sequences of different lengths, right-padded: a bidirectional "
            f"model ({self.model}) would read the padding before the sequence; use a unidirectional model or "
            f"a fixed-length preset",
        )
        probes = {}
        for name in self.probes:
            probes[name] = DIAGNOSTICS.get(name)
            probes[name].check(task, arch)
        cfg = train_config(self.train)
        for length in cfg.curriculum()[:1]:  # the shortest: a task of fixed length, or one below the minimum
            try:
                task.at_length(length)
            except UsageError as exc:
                raise UsageError(f"train.lengths={cfg.lengths!r}: {exc}") from None
        resolved = ResolvedCell(self, arch, arch.params(self.model_params), task, cfg, probes)
        return resolved if device is None else resolved.on(device)

    def resolved(self) -> tuple[Task, Any, TrainConfig]:
        """Validate every name and value; raises UsageError (:meth:`resolve`, as a tuple)."""
        r = self.resolve()
        return r.task, r.params, r.train

    def key(self, device: str | torch.device = "cpu") -> str:
        """The cell's identity, its implementation named as it runs on ``device``."""
        return self.resolve(device).key()


@dataclass(frozen=True)
class ResolvedCell:
    """A training cell resolved once (:meth:`Cell.resolve`): its architecture, validated
    parameters, task, training configuration and diagnostics as typed values, passed down to the
    training, its records and an evaluation in place of the names they were looked up by."""

    cell: Cell  # as given; after :meth:`on`, with its implementation named
    arch: Architecture
    params: Any  # the architecture's Params, validated
    task: Task
    train: TrainConfig
    probes: dict[str, Diagnostic]  # the cell's probes, in its order

    def on(self, device: str | torch.device = "cpu") -> ResolvedCell:
        """This cell with its implementation named: the architecture's default on ``device`` if none was."""
        if self.cell.impl:
            return self
        return dataclasses.replace(self, cell=dataclasses.replace(self.cell, impl=self.arch.default_for(device)))

    def key(self, device: str | torch.device = "cpu") -> str:
        """The cell's identity (:meth:`Cell.key`), its implementation named as it runs on ``device``."""
        cell = self.on(device).cell
        source = [source_hash(self.arch.source_files)] if self.arch.user else []
        return cell_key(
            {
                "task": [self.task.name, self.task.version, self.task.preset, self.task.identity()],
                "model": [cell.model, cell.impl, dataclasses.asdict(self.params), *source],
                "train": {k: v for k, v in train_dict(self.train).items() if k != "deterministic"},
                **({"probes": list(cell.probes)} if cell.probes else {}),
            }
        )

    def build_model(self, generator: torch.Generator) -> SequenceModel:
        """The harness model of this cell (encoder, core, readout), weights drawn from ``generator``."""
        return build_model_for(self.arch, self.cell.impl, self.task.spec, self.params, generator)


Progress = Callable[[int, int], None]


def fit(
    cell: Cell, device: str = "auto", progress: Progress | None = None, weights_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Train one cell and return its run record (status ok or diverged); with ``weights_dir``, the
    trained ``state_dict`` is saved there as ``RUN_ID.safetensors`` (rnnbench.weights)."""
    resolved = cell.resolve()  # the cell's own errors before the device's
    dev = resolve_device(device)
    return fit_resolved(resolved, dev, progress, weights_dir)


def fit_resolved(
    cell: ResolvedCell, device: torch.device, progress: Progress | None = None, weights_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """:func:`fit` for a cell already resolved, on a device already resolved."""
    cell = cell.on(device)
    with determinism(device, cell.train.deterministic):
        return _fit(cell, device, progress, weights_dir)


def batches(task: Task, cfg: TrainConfig, dev: torch.device) -> Callable[[torch.Generator], Batch]:
    """The training batch sampler: at the task's length, or at one length per batch drawn uniformly
    from ``train.lengths`` (their UniformCurriculum) with a stream of its own, so the data stream is
    the same draw for draw whatever the lengths."""
    lengths = cfg.curriculum()
    if not lengths:
        return lambda data: task.sample(cfg.batch_size, data, dev)
    pick = generator(cfg.seed, "lengths", torch.device("cpu"))
    at: dict[int, Task] = {}

    def sample(data: torch.Generator) -> Batch:
        length = lengths[int(torch.randint(len(lengths), (1,), generator=pick))]
        if length not in at:
            at[length] = task.at_length(length)
        return at[length].sample(cfg.batch_size, data, dev)

    return sample


def _fit(
    resolved: ResolvedCell,
    dev: torch.device,
    progress: Progress | None,
    weights_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    arch, mparams, task, cfg, probes = resolved.arch, resolved.params, resolved.task, resolved.train, resolved.probes
    model = resolved.build_model(generator(cfg.seed, "init", "cpu")).to(dev)
    optimizer, groups = make_optimizer(model, arch, mparams, cfg)
    data = generator(cfg.seed, "data", dev)
    next_batch = batches(task, cfg, dev)
    eval_batch = task.evaluation(cfg.eval_size, generator(EVAL_SEED, task.name, dev), dev)
    baselines = task.baselines(eval_batch)

    def evaluate() -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            metrics = evaluate_in_chunks(model, task, eval_batch)
        model.train()
        return metrics

    diagnostics = {name: {"init": probe.measure(model, task, dev)} for name, probe in probes.items()}
    meter = LoadMeter()
    history: list[dict[str, Any]] = []
    status, diverged_at, steps_to_solve = "ok", None, None
    losses: list[torch.Tensor] = []  # kept on the device: no host sync per step, one per evaluation
    metrics = evaluate()
    history.append({"step": 0, **metrics})
    train_seconds = 0.0
    step = 0
    segment = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        batch = next_batch(data)
        loss = task.loss(model(batch.x), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)  # after backward(), before step()
        optimizer.step()
        if arch.after_step is not None:
            arch.after_step(model.core, mparams)
        losses.append(loss.detach())
        if step % cfg.eval_every == 0 or step == cfg.steps:
            values = torch.stack(losses).tolist()  # the host waits for the device here, once per evaluation
            train_seconds += time.perf_counter() - segment
            bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:  # the exact first step whose loss was not finite
                status, diverged_at = "diverged", step - len(values) + 1 + bad
                break
            metrics = evaluate()
            if not all(math.isfinite(v) for v in metrics.values()):
                status, diverged_at = "diverged", step
                break
            history.append({"step": step, "train_loss": sum(values) / len(values), **metrics})
            losses = []
            if steps_to_solve is None and task.solved(metrics, baselines["baseline"]):
                steps_to_solve = step
                if cfg.early_stop:
                    break
            segment = time.perf_counter()
        if progress is not None:
            progress(step, cfg.steps)
    if status == "diverged":
        metrics = {}
    else:
        for name, probe in probes.items():
            diagnostics[name]["trained"] = probe.measure(model, task, dev)
    final = dict(metrics)
    if metrics:
        final.update(baselines)
        final["solved"] = task.solved(metrics, baselines["baseline"])
        final["steps_to_solve"] = steps_to_solve
    record = train_head(resolved, status, dev) | {"diverged_at": diverged_at}
    length = eval_batch.x.shape[1]  # the state after a whole sequence (a KV cache grows with it)
    record["model"] |= {"n_params": n_params(model), "state_size": arch.state_numbers(mparams, length, model.core)}
    if isinstance(model.core, blocks.BlockCore):  # the blocks' and norms' parameters, apart from the encoder's
        counts = model.core.counts()
        record["model"]["stack"] |= {"n_params": counts["blocks"] + counts["norms"], "block_n_params": counts["blocks"]}
    if weights_dir is not None and status == "ok":
        record["weights_file"] = save_weights(model, weights_dir, record["run_id"]).name
    return record | {
        "train": train_dict(cfg) | {"steps_done": step, **({"param_groups": groups} if groups else {})},
        "evaluated_on": task.evaluation_note(cfg.eval_size),
        "metrics": final,
        "history": history,
        **({"probes": diagnostics} if diagnostics else {}),
        "timing": {"train_seconds": train_seconds, "steps_per_second": step / train_seconds if train_seconds else None},
        "load": meter.record(),
        "env": environment(dev),
        "weights_sha256": weights_hash(model),
    }


EVAL_CHUNK_NUMBERS = 2**27  # activations per evaluation chunk (512 MB of float32)


def evaluate_in_chunks(model: torch.nn.Module, task: Task, batch: Batch) -> dict[str, float]:
    """The task's metrics over ``batch``, run in chunks of sequences small enough to fit in
    memory (MNIST's test split at T=784 does not in one), averaged with each chunk's weight
    (its number of scored targets). A batch that fits is one chunk, so results do not
    depend on the chunk size below that."""
    length = batch.x.shape[1]
    width = max(model.head.in_features, model.head.out_features)
    rows = max(1, EVAL_CHUNK_NUMBERS // (length * width))
    if len(batch) <= rows:
        return task.metrics(model(batch.x), batch)
    totals: dict[str, float] = {}
    weight = 0
    for start in range(0, len(batch), rows):
        part = batch.rows(start, start + rows)
        w = part.n_scored()
        for name, value in task.metrics(model(part.x), part).items():
            totals[name] = totals.get(name, 0.0) + w * value
        weight += w
    return {name: total / weight for name, total in totals.items()}


def make_optimizer(model: torch.nn.Module, arch: Any, mparams: Any, cfg: TrainConfig) -> tuple[Any, list[dict]]:
    """The optimiser, with the architecture's own parameter groups (learning rates) if it has any;
    returns it and a description of the groups for the record."""
    optim_cls = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[cfg.optimizer]
    if arch.param_groups is None:
        return optim_cls(model.parameters(), lr=cfg.lr), []
    groups = arch.param_groups(model.core, mparams, cfg.lr)
    groups.append({"name": "readout", "params": list(model.head.parameters()), "lr": cfg.lr})
    described = [{"name": g["name"], "lr": g["lr"], "n_params": sum(p.numel() for p in g["params"])} for g in groups]
    optimizer = optim_cls([{"params": g["params"], "lr": g["lr"]} for g in groups], lr=cfg.lr)
    return optimizer, described


def record_head(cell: Cell, status: str, task: Task, mparams: Any, device: torch.device) -> dict[str, Any]:
    """The fields every training record starts with: identity, task, model and the cell itself
    (its implementation named as it ran on ``device``); :func:`train_head` of the cell resolved."""
    return train_head(dataclasses.replace(cell.resolve(), task=task, params=mparams), status, device)


def train_head(resolved: ResolvedCell, status: str, device: torch.device) -> dict[str, Any]:
    """:func:`record_head` of a cell already resolved."""
    resolved = resolved.on(device)
    cell, arch, mparams, task = resolved.cell, resolved.arch, resolved.params, resolved.task
    lay = block_layout(arch, mparams)
    encoder = (
        blocks.record(lay, dataclasses.asdict(mparams), task.spec.encoder) if lay is not None else {"encoder": task.spec.encoder}
    )
    return head("train", resolved.key(device), status) | {
        "task": task_part(task),
        # the task's encoder, or a block's encoder and stack, before a user's source hash
        "model": configured_model(cell.model, arch, cell.impl, device, mparams, {"citation": arch.citation, **encoder}),
        "cell": dataclasses.asdict(cell),
    }


def failed_record(cell: Cell, status: str, error: str, device: str, seconds: float) -> dict[str, Any]:
    """The record of a cell that raised (``failed``) or ran out of time (``timeout``)."""
    return failed_resolved(cell.resolve(), status, error, resolve_device(device), seconds)


def failed_resolved(resolved: ResolvedCell, status: str, error: str, device: torch.device, seconds: float) -> dict[str, Any]:
    """:func:`failed_record` of a cell already resolved, on a device already resolved."""
    return train_head(resolved, status, device) | {
        "error": error,
        "train": train_dict(resolved.train),
        "metrics": {},
        "timing": {"train_seconds": seconds},
        "env": environment(device),
    }


def weights_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
