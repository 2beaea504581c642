"""Recurrent architectures, registered by name, each in two implementations.

``fused``: ``torch.nn.RNN/LSTM/GRU`` (cuDNN on GPU, oneDNN on CPU).
``reference``: the step equations written out (:mod:`rnnbench.models.reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn

from rnnbench.config import override, require
from rnnbench.errors import unknown
from rnnbench.models import elman, gru, lstm
from rnnbench.models.base import ModelParams, SequenceModel, n_params
from rnnbench.registry import Registry
from rnnbench.tasks.base import IOSpec

IMPLEMENTATIONS = ("fused", "reference")


@dataclass(frozen=True)
class ModelSpec:
    """A named architecture: a family (its cell and fused module) and a direction."""

    name: str
    family: ModuleType
    bidirectional: bool
    description: str

    @property
    def gates(self) -> int:
        """G in the FLOP count 2·B·T·(I+H)·G·H of one layer and direction."""
        return self.family.GATES

    def build_core(self, impl: str, input_size: int, params: ModelParams) -> nn.Module:
        if impl not in IMPLEMENTATIONS:
            raise unknown("implementation", impl, IMPLEMENTATIONS)
        require(
            params.nonlinearity == "tanh" or self.family is elman,
            f"model.nonlinearity={params.nonlinearity} applies to the Elman RNN only, not {self.name!r}",
        )
        factory: Callable[..., nn.Module] = getattr(self.family, impl)
        return factory(input_size, params.hidden_size, params.num_layers, self.bidirectional, params.nonlinearity)


MODELS: Registry[ModelSpec] = Registry("model")
for _family, _base, _title in ((elman, "rnn", "Elman RNN"), (lstm, "lstm", "LSTM"), (gru, "gru", "GRU")):
    MODELS.add(_base, ModelSpec(_base, _family, False, _title))
    MODELS.add("bi" + _base, ModelSpec("bi" + _base, _family, True, f"bidirectional {_title}"))


def model_params(values: dict | None = None) -> ModelParams:
    return override(ModelParams(), values or {}, "model")


def build_model(
    name: str, impl: str, spec: IOSpec, params: ModelParams, generator: torch.Generator
) -> SequenceModel:
    """The harness model for a task: encoder, the named core, readout; weights from ``generator``."""
    arch = MODELS.get(name)
    core = arch.build_core(impl, spec.input_size, params)
    directions = 2 if arch.bidirectional else 1
    model = SequenceModel(core, params.hidden_size * directions, spec)
    model.reset_parameters(generator)
    return model


__all__ = ["IMPLEMENTATIONS", "MODELS", "ModelParams", "ModelSpec", "SequenceModel", "build_model", "model_params", "n_params"]
