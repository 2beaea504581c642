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
from rnnbench.errors import UsageError, choices, unknown
from rnnbench.models import elman, gru, lstm
from rnnbench.models.base import ModelParams, SequenceModel, init_uniform_, n_params
from rnnbench.models.user import UserModel, entry_points, is_reference, load_user_model
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


def resolve_model(name: str) -> ModelSpec | UserModel:
    """A registered architecture, an installed plugin, or a user's ``module:Name``."""
    if name in MODELS:
        return MODELS.get(name)
    if is_reference(name) or name in entry_points():
        return load_user_model(name)
    raise UsageError(f"unknown model {name!r}; choose one of: {choices([*MODELS, *entry_points()])}, "
                     "or give your own core as package.module:Name or path/to/file.py:Name")


def build_model(
    name: str, impl: str, spec: IOSpec, params: ModelParams, generator: torch.Generator
) -> SequenceModel:
    """The harness model for a task: encoder, the named core, readout; weights from ``generator``.

    Built-in cores take PyTorch's default init drawn from ``generator``; a user's
    core is built with the global RNG seeded from ``generator`` (and restored after),
    so its own init is just as reproducible.
    """
    arch = resolve_model(name)
    if isinstance(arch, UserModel):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            core = arch.build_core(impl, spec.input_size, params)
        model = SequenceModel(core, arch.output_size(core, spec.input_size), spec)
    else:
        core = arch.build_core(impl, spec.input_size, params)
        init_uniform_(core, generator)
        model = SequenceModel(core, params.hidden_size * (2 if arch.bidirectional else 1), spec)
    model.reset_head(generator)
    return model


__all__ = ["IMPLEMENTATIONS", "MODELS", "ModelParams", "ModelSpec", "SequenceModel", "UserModel", "build_model",
           "model_params", "n_params", "resolve_model"]
