"""The Task contract: parameters, generator, loss, metrics, baseline, solved rule."""

from __future__ import annotations

import dataclasses
import math
import operator
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from rnnbench.config import override
from rnnbench.errors import UsageError, unknown


@dataclass(frozen=True)
class IOSpec:
    """What a task feeds a model and what it expects back.

    ``input_kind="tokens"``: ``x`` is ``(B, T)`` long in ``[0, input_size)``;
    ``"real"``: ``x`` is ``(B, T, input_size)`` float.
    ``output_size`` is the number of classes (``output_kind="classes"``) or
    of real outputs per step. ``target`` says where the loss is read.
    """

    input_kind: Literal["tokens", "real"]
    input_size: int
    output_kind: Literal["classes", "real"]
    output_size: int
    target: Literal["last", "every"]
    embed_dim: int = 0  # tokens go through a learned embedding of this width; 0: one-hot

    @property
    def encoder(self) -> dict[str, Any]:
        """How inputs reach the core, as recorded: one-hot, a learned embedding, or as they are."""
        if self.input_kind == "real":
            return {"kind": "identity", "dim": self.input_size}
        if self.embed_dim:
            return {"kind": "embedding", "vocab": self.input_size, "dim": self.embed_dim}
        return {"kind": "one_hot", "dim": self.input_size}

    @property
    def core_input_size(self) -> int:
        """Features per step that reach the core after the encoder."""
        return self.encoder["dim"]


# Every metric a task reports, and which way is better. Tables, figures, comparisons and
# solved rules read the direction from here.
HIGHER_IS_BETTER: dict[str, bool] = {
    "ce": False,
    "mse": False,
    "nmse": False,
    "acc": True,
    "recall_acc": True,
    "frac_within_0.04": True,
    "scaled_acc": True,  # (acc - chance) / (1 - chance), Grazzi et al. 2025
}


# Each metric's possible values: tables never show an interval outside them. A metric not
# listed here is taken as unbounded.
METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    "ce": (0.0, math.inf),
    "mse": (0.0, math.inf),
    "nmse": (0.0, math.inf),
    "acc": (0.0, 1.0),
    "recall_acc": (0.0, 1.0),
    "frac_within_0.04": (0.0, 1.0),
}


def metric_bounds(metric: str) -> tuple[float, float]:
    """The smallest and largest value ``metric`` can take (accuracies [0, 1], losses [0, inf))."""
    return METRIC_BOUNDS.get(metric, (-math.inf, math.inf))


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (accuracies) or worse (losses)."""
    return HIGHER_IS_BETTER.get(metric, False)


def direction(metric: str) -> str:
    return "higher is better" if higher_is_better(metric) else "lower is better"


@dataclass(frozen=True)
class SolvedRule:
    """When a run counts as solved: ``metric op threshold``, the threshold times the
    memoryless baseline when ``relative``. The check and the text shown to users both
    come from this one definition."""

    metric: str
    op: Literal[">=", "<"]
    threshold: float
    relative: bool = False

    def check(self, metrics: dict[str, float], baseline: float) -> bool:
        """Whether ``metrics`` meet the rule, given the memoryless ``baseline``."""
        bound = self.threshold * baseline if self.relative else self.threshold
        return {">=": operator.ge, "<": operator.lt}[self.op](metrics[self.metric], bound)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}" + (" * baseline" if self.relative else "")


@dataclass
class Batch:
    """One batch. ``x`` and ``y`` are batch-first; ``lengths`` (``(B,)`` long)
    is set when sequences in the batch have different lengths (right-padded);
    ``mask`` (``(B, T)`` bool, the shape of ``y``) when only some targets count;
    ``loss_mask`` when the loss reads more positions than the metrics score (the
    Chomsky-hierarchy tasks train on the padding after a terminator but score up to it)."""

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    loss_mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def rows(self, start: int, stop: int) -> Batch:
        """Sequences ``start:stop`` of the batch."""
        cut = lambda t: None if t is None else t[start:stop]  # noqa: E731
        return Batch(self.x[start:stop], self.y[start:stop], cut(self.lengths), cut(self.mask), cut(self.loss_mask))

    def n_scored(self) -> int:
        """How many targets the metrics average over, up to a constant per sequence."""
        return int(self.mask.sum()) if self.mask is not None else len(self)

    def to_lists(self) -> dict[str, Any]:
        """The batch as JSON-ready lists (``rnnbench sample``), with ``lengths`` and ``mask`` when set."""
        out = {"x": self.x.tolist(), "y": self.y.tolist()}
        if self.lengths is not None:
            out["lengths"] = self.lengths.tolist()
        if self.mask is not None:
            out["mask"] = self.mask.long().tolist()
        if self.loss_mask is not None:
            out["loss_mask"] = self.loss_mask.long().tolist()
        return out


class Task(ABC):
    """A sequence task. Subclasses set the class attributes and implement the
    abstract methods; each has a frozen ``Params`` dataclass with ``validate()``.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    Params: ClassVar[type]
    presets: ClassVar[dict[str, str]]  # preset name -> one-line description
    default_preset: ClassVar[str]
    primary_metric: ClassVar[str]
    rule: ClassVar[SolvedRule]
    # Tasks sampled at any length name the parameter that is the length (``"length"``): the
    # length is then an argument of sampling (``sample_length``), and training and evaluation
    # lengths can differ from the cell's own (length generalisation, docs/formal.md).
    length_param: ClassVar[str | None] = None
    min_length: ClassVar[int] = 1

    def __init__(self, preset: str | None = None, params: dict[str, Any] | None = None) -> None:
        preset = preset or self.default_preset
        if preset not in self.presets:
            raise unknown(f"preset for task {self.name!r}", preset, self.presets)
        self.preset = preset
        self.params = override(self.preset_params(preset), params or {}, "task")

    @property
    def variable_length(self) -> bool:
        """Whether batches hold sequences of different lengths (right-padded, with ``lengths``)."""
        return False

    def at_length(self, length: int) -> Task:
        """This task with its length parameter set to ``length`` (validated); raises UsageError for a
        task of fixed length or a length below the task's minimum."""
        if self.length_param is None:
            raise UsageError(
                f"task {self.name} has no length parameter; lengths apply to the tasks sampled at any "
                "length (rnnbench list tasks marks them 'any length')"
            )
        if isinstance(length, bool) or not isinstance(length, int) or length < self.min_length:
            raise UsageError(
                f"length {length!r} is below task {self.name}'s minimum {self.min_length}; use lengths >= {self.min_length}"
            )
        if getattr(self.params, self.length_param) == length:
            return self
        return type(self)(self.preset, {**dataclasses.asdict(self.params), self.length_param: length})

    def sample_length(
        self,
        length: int,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        split: Literal["train", "test"] = "train",
    ) -> Batch:
        """A batch at input length ``length``: the length is an argument of sampling, not part of
        the task's identity (tasks with a ``length_param``)."""
        return self.at_length(length).sample(batch_size, generator, device, split)

    def preset_params(self, preset: str) -> Any:
        """The preset's default parameters (override for presets that differ)."""
        return self.Params()

    @property
    @abstractmethod
    def spec(self) -> IOSpec:
        """What the task feeds a model and what it expects back."""

    @abstractmethod
    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        split: Literal["train", "test"] = "train",
    ) -> Batch:
        """A batch made on ``device`` from ``generator`` alone, from the ``split``
        (tasks drawn from a distribution have one; finite datasets and series two)."""

    def evaluation(self, size: int, generator: torch.Generator, device: torch.device | str = "cpu") -> Batch:
        """The held-out set: ``size`` sequences of the test split drawn from ``generator``
        (a fixed seed); finite datasets return the whole test split or a fixed subset."""
        return self.sample(size, generator, device, split="test")

    def evaluation_note(self, size: int) -> str:
        """What the held-out set is, in words, for the record."""
        return f"{size} sequences drawn with the fixed evaluation seed"

    @abstractmethod
    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Training loss; ``output`` is the model's per-step output ``(B, T, output_size)``."""

    @abstractmethod
    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        """Held-out metrics by name; every name is in ``HIGHER_IS_BETTER`` and ``METRIC_BOUNDS``."""

    @abstractmethod
    def baselines(self, batch: Batch) -> dict[str, float]:
        """Scores of memoryless predictors; key ``"baseline"`` is the one tables use."""

    def solved(self, metrics: dict[str, float], baseline: float) -> bool:
        """Whether a run's metrics meet the task's ``rule``."""
        return self.rule.check(metrics, baseline)

    def identity(self) -> dict[str, Any]:
        """The parameters that define the task's data, for the cell key."""
        return dataclasses.asdict(self.params)

    def describe(self) -> dict[str, Any]:
        """Name, version, preset and parameters, as records and ``rnnbench sample`` show them."""
        return {
            "name": self.name,
            "version": self.version,
            "preset": self.preset,
            "params": dataclasses.asdict(self.params),
        }


class MaskedTokenTask(Task):
    """A token task scored only where ``batch.mask`` is set (selective copy's recall steps,
    MQAR's queries): cross-entropy and accuracy there, solved at 99% accuracy."""

    primary_metric = "acc"
    rule = SolvedRule("acc", ">=", 0.99)

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(output[batch.mask], batch.y[batch.mask])

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        picked, target = output[batch.mask], batch.y[batch.mask]  # (N, C), (N,)
        return {"ce": float(F.cross_entropy(picked, target)), "acc": float((picked.argmax(-1) == target).float().mean())}


def last_step(output: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The output at each sequence's last real step: ``(B, T, F) -> (B, F)``."""
    if batch.lengths is None:
        return output[:, -1]
    index = (batch.lengths - 1).view(-1, 1, 1).expand(-1, 1, output.shape[-1])  # (B, 1, F)
    return output.gather(1, index).squeeze(1)
