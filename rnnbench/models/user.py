"""Users' own recurrent cores, named ``package.module:Name``, ``path/to/file.py:Name``,
or by an installed package's ``rnnbench.models`` entry point.

``Name`` is a class or factory called with the keyword arguments it accepts among
``input_size``, ``hidden_size`` and ``num_layers``. It must return a core:
``forward(x, state=None) -> (y, state)`` with batch-first ``x`` ``(B, T, I)`` and
``y`` ``(B, T, F)``; the harness adds the task's encoder and readout as for the
built-in models.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnbench.errors import UsageError

ENTRY_POINT_GROUP = "rnnbench.models"
CONSTRUCTOR_ARGS = ("input_size", "hidden_size", "num_layers")


def is_reference(name: str) -> bool:
    """``module:Name`` or ``file.py:Name`` (as opposed to a registered name)."""
    return ":" in name


def entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_object(ref: str) -> Any:
    """Import ``module:Name`` or ``file.py:Name`` without touching sys.path."""
    target, _, attr = ref.rpartition(":")
    if not target or not attr:
        raise UsageError(f"model {ref!r} must look like package.module:Name or path/to/file.py:Name")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"model {ref!r}: no such file {target}")
        module_name = "rnnbench_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        if module_name in sys.modules:  # loaded once per process, like any import
            return _attribute(sys.modules[module_name], ref, target, attr)
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # so that inspect and pickle can find its classes
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise UsageError(f"model {ref!r}: importing {target} failed: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UsageError(f"model {ref!r}: cannot import {target} ({exc}); is it installed or on PYTHONPATH?") from None
    return _attribute(module, ref, target, attr)


def _attribute(module: Any, ref: str, target: str, attr: str) -> Any:
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UsageError(f"model {ref!r}: {target} has no attribute {attr!r}") from None


def construct(factory: Callable[..., Any], name: str, **values: Any) -> nn.Module:
    """Call ``factory`` with the constructor arguments its signature accepts."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in values.items() if accepts_any or k in parameters}
    try:
        module = factory(**kwargs)
    except TypeError as exc:
        raise UsageError(f"model {name!r} could not be built with {kwargs}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise UsageError(f"model {name!r} built a {type(module).__name__}, not a torch.nn.Module")
    return module


@dataclass(frozen=True)
class UserModel:
    """A user's core, loaded by reference or entry point; it has one implementation."""

    name: str
    factory: Callable[..., Any]
    description: str = "user model"
    bidirectional: bool = False
    gates: int = 0  # unknown: no FLOP count

    def build_core(self, impl: str, input_size: int, params: Any) -> nn.Module:
        if impl != "fused":
            raise UsageError(f"model {self.name!r} is a user model with one implementation; drop --impl {impl}")
        return construct(self.factory, self.name, input_size=input_size, hidden_size=params.hidden_size,
                         num_layers=params.num_layers)

    def output_size(self, core: nn.Module, input_size: int) -> int:
        """The core's feature size, from one step on a zero input."""
        with torch.no_grad():
            out = core(torch.zeros(1, 1, input_size))
        if not isinstance(out, tuple) or not isinstance(out[0], torch.Tensor) or out[0].dim() != 3:
            raise UsageError(f"model {self.name!r} does not follow the core contract forward(x, state=None) -> "
                             f"(y, state) with y of shape (B, T, F); check it with: rnnbench check {self.name}")
        return out[0].shape[-1]


def load_user_model(name: str) -> UserModel:
    if is_reference(name):
        return UserModel(name, load_object(name))
    ep = entry_points().get(name)
    if ep is None:
        raise KeyError(name)
    return UserModel(name, ep.load(), f"plugin from {ep.value}")
