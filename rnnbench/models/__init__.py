"""Recurrent architectures behind one contract (:mod:`rnnbench.models.contract`).

This package holds the contract and its machinery: the contract and the registry
(:mod:`~rnnbench.models.contract`), the harness's wrapper around a core
(:mod:`~rnnbench.models.harness`), users' own models and blocks (:mod:`~rnnbench.models.user`,
:mod:`~rnnbench.models.blocks`) and the stacking every core may use
(:mod:`~rnnbench.models.stack`). The built-in architectures are modules of
:mod:`rnnbench.models.architectures`, all registered when this package is imported.

The registry :data:`MODELS` is the only list of architectures. A name resolves to a
built-in, an installed ``rnnbench.models`` entry point, or a user's ``module:Name`` /
``file.py:Name``, all as :class:`Architecture` objects.

Public API::

    from rnnbench.models import build_core
    core = build_core("lstm", impl="reference", input_size=3, hidden_size=16)
    y, state = core(torch.randn(4, 10, 3))    # batch-first (B, T, I) -> (B, T, H)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from rnnbench.errors import UsageError, choices
from rnnbench.models import architectures, blocks  # noqa: F401  (architectures: registration of every built-in)
from rnnbench.models.contract import MODELS, Architecture, ArchParams, model_order, model_rank, register
from rnnbench.models.harness import SequenceModel, n_params
from rnnbench.models.user import USER_IMPL, display_name, entry_points, is_import_path, load_user_model
from rnnbench.tasks.base import IOSpec

_LOADED: dict[str, Architecture] = {}


def resolve_model(name: str) -> Architecture:
    """A registered architecture, an installed plugin, or a user's ``module:Name``."""
    if name in MODELS:
        return MODELS.get(name)
    if name in _LOADED:
        return _LOADED[name]
    if is_import_path(name) or name in entry_points():
        _LOADED[name] = load_user_model(name)
        return _LOADED[name]
    raise UsageError(
        f"unknown model {name!r}; choose one of: {choices([*MODELS, *entry_points()])}, "
        "or give your own core as package.module:Name or path/to/file.py:Name"
    )


def build_core(
    name: str, impl: str | None = None, input_size: int = 1, generator: torch.Generator | None = None, **params: Any
) -> torch.nn.Module:
    """A recurrent core by name: ``forward(x, state=None) -> (y, state)``, batch-first.

    ``impl`` picks the implementation (default: the architecture's fastest); ``params``
    are its parameters (``hidden_size``, ``num_layers`` and its own, see ``rnnbench list``);
    the weights are drawn from ``generator`` (seed 0 when none). Implementations of one
    architecture share parameter names, so ``load_state_dict`` works between them.
    """
    arch = resolve_model(name)
    return arch.build(impl, input_size, arch.params(params), generator)


def build_model(name: str, impl: str | None, spec: IOSpec, params: Any, generator: torch.Generator) -> SequenceModel:
    """The harness model for a task: encoder, the named core, readout; weights from ``generator``.

    A user's block gets the task's embedding built at its width, or a Linear from the task's
    features to its width (:mod:`rnnbench.models.blocks`)."""
    return build_model_for(resolve_model(name), impl, spec, params, generator)


def build_model_for(arch: Architecture, impl: str | None, spec: IOSpec, params: Any, generator: torch.Generator) -> SequenceModel:
    """:func:`build_model` for an architecture already resolved (a training cell's, say)."""
    spec, input_size = block_spec(arch, spec, params)
    core = arch.build(impl, input_size, params, generator)
    width = core.width if isinstance(core, blocks.BlockCore) else arch.core_output_size(core, params, input_size)
    model = SequenceModel(core, width, spec)
    model.reset_head(generator)
    return model


def block_layout(arch: Architecture, params: Any) -> blocks.Layout | None:
    """The layout of a user's block under ``params``; None for every other model."""
    layout = getattr(arch, "layout", None)
    return layout(params) if callable(layout) else None


def block_spec(arch: Architecture, spec: IOSpec, params: Any) -> tuple[IOSpec, int]:
    """The task's spec as the model sees it and the core's input size: for a block on a task
    with an embedding, the embedding at the block's width (and no encoder of its own)."""
    lay = block_layout(arch, params)
    if lay is not None and spec.encoder["kind"] == "embedding":
        return dataclasses.replace(spec, embed_dim=blocks.width_of(lay, dataclasses.asdict(params))), blocks.AT_WIDTH
    return spec, spec.core_input_size


__all__ = [
    "MODELS",
    "USER_IMPL",
    "ArchParams",
    "Architecture",
    "SequenceModel",
    "block_layout",
    "build_core",
    "build_model",
    "build_model_for",
    "display_name",
    "model_order",
    "model_rank",
    "n_params",
    "register",
    "resolve_model",
]
