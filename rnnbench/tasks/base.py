"""The Task contract: parameters, generator, loss, metrics, baseline, solved rule."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from rnnbench.config import override
from rnnbench.errors import unknown


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


@dataclass
class Batch:
    """One batch. ``x`` and ``y`` are batch-first; ``lengths`` (``(B,)`` long)
    is set when sequences in the batch have different lengths (right-padded)."""

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None

    def to_lists(self) -> dict[str, Any]:
        out = {"x": self.x.tolist(), "y": self.y.tolist()}
        if self.lengths is not None:
            out["lengths"] = self.lengths.tolist()
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
    solved_rule: ClassVar[str]
    higher_is_better: ClassVar[bool] = False  # of the primary metric

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

    def preset_params(self, preset: str) -> Any:
        """The preset's default parameters (override for presets that differ)."""
        return self.Params()

    @property
    @abstractmethod
    def spec(self) -> IOSpec: ...

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu") -> Batch:
        """A batch made on ``device`` from ``generator`` alone."""

    @abstractmethod
    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Training loss; ``output`` is the model's per-step output ``(B, T, output_size)``."""

    @abstractmethod
    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]: ...

    @abstractmethod
    def baselines(self, batch: Batch) -> dict[str, float]:
        """Scores of memoryless predictors; key ``"baseline"`` is the one tables use."""

    @abstractmethod
    def solved(self, metrics: dict[str, float], baseline: float) -> bool: ...

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "preset": self.preset,
            "params": dataclasses.asdict(self.params),
        }


def last_step(output: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The output at each sequence's last real step: ``(B, T, F) -> (B, F)``."""
    if batch.lengths is None:
        return output[:, -1]
    index = (batch.lengths - 1).view(-1, 1, 1).expand(-1, 1, output.shape[-1])  # (B, 1, F)
    return output.gather(1, index).squeeze(1)
