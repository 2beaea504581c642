"""Users' own recurrent cores, through the same contract as the built-ins.

A model is named ``package.module:Name``, ``path/to/file.py:Name`` or by an installed
package's ``rnnbench.models`` entry point. ``Name`` is either an :class:`Architecture`
(declared exactly as the built-ins are: parameters, implementations, init, FLOPs...) or a
class or factory of a core, ``forward(x, state=None) -> (y, state)`` with batch-first
``x`` ``(B, T, I)`` and ``y`` ``(B, T, F)``. A class or factory is wrapped as an
architecture whose parameters are its constructor's keyword arguments (``input_size`` is
given by the harness; ``hidden_size`` defaults to 64 and ``num_layers`` to 1 when the
constructor requires them without a default); its one implementation is called ``user``.
A core may declare ``flops(batch, length, input_size)`` and ``state_size(length)`` (or
``state_size()`` for a state that does not grow with the length) methods; then throughput
reports GFLOP/s and roofline for it.

A class whose constructor takes a model width (``dim``, ``d_model``, ``hidden_size``,
``n_embd``) and no ``input_size`` is a width-preserving *block*, as the ecosystem writes
layers: the harness adds the encoder, the stacking and the state handling around it
(:mod:`rnnbench.models.blocks`).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from rnnbench.config import coerce
from rnnbench.errors import UsageError, choices
from rnnbench.models import blocks
from rnnbench.models.contract import Architecture

ENTRY_POINT_GROUP = "rnnbench.models"
USER_IMPL = "user"
HARNESS_DEFAULTS = {"hidden_size": 64, "num_layers": 1}
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def is_import_path(name: str) -> bool:
    """``module:Name`` or ``file.py:Name``: a model named by where to import it from (as opposed to a
    registered name; "reference" in rnnbench means the step-by-step implementation)."""
    return ":" in name


def entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_object(ref: str) -> Any:
    """Import ``module:Name`` or ``file.py:Name``.

    A file's folder goes on ``sys.path`` first, so it can import the files beside it; a
    module is looked up from the working directory too, as ``python -m`` would.
    """
    target, _, attr = ref.rpartition(":")
    if not target or not attr:
        raise UsageError(f"model {ref!r} must look like package.module:Name or path/to/file.py:Name")
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise UsageError(f"model {ref!r}: no such file {target}")
        _on_path(path.parent)
        module_name = "rnnbench_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
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
            hint = blocks.install_hint("", exc) if isinstance(exc, ImportError) else None
            raise UsageError(
                f"model {ref!r}: importing {target} failed: {type(exc).__name__}: {exc}{where(exc)}{'; ' + hint if hint else ''}"
            ) from None
    else:
        _on_path(Path.cwd())
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            hint = blocks.install_hint(target, exc)
            if hint is not None:
                raise UsageError(f"model {ref!r}: cannot import {target}: {hint}") from None
            raise UsageError(f"model {ref!r}: cannot import {target} ({exc}); is it installed or on PYTHONPATH?") from None
    return _attribute(module, ref, target, attr)


def _on_path(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _attribute(module: Any, ref: str, target: str, attr: str) -> Any:
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UsageError(f"model {ref!r}: {target} has no attribute {attr!r}") from None


def where(exc: BaseException) -> str:
    """`` (at file.py:LINE)``: the innermost frame of the traceback outside rnnbench, torch and
    the standard library, i.e. the user's line that raised; empty when there is none."""
    skip = [str(Path(m.__file__).resolve().parent) for m in (sys.modules["rnnbench"], sys.modules["torch"])]
    skip.append(os.path.dirname(os.__file__))
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not any(str(Path(f.filename).resolve()).startswith(s) for s in skip) and not f.filename.startswith("<")
    ]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def source_files(obj: Any) -> tuple[str, ...]:
    """The file that defines ``obj`` and the imported modules that live beside it."""
    module = inspect.getmodule(obj)
    path = getattr(module, "__file__", None)
    if not path:
        return ()
    folder = Path(path).resolve().parent
    files = {str(Path(path).resolve())}
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if f and Path(f).resolve().parent == folder:
            files.add(str(Path(f).resolve()))
    return tuple(sorted(files))


def source_hash(files: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            h.update(Path(f).name.encode() + b"\0" + Path(f).read_bytes())
        except OSError:
            continue
    return h.hexdigest()[:16]


def _literal(value: Any) -> Any:
    """A CLI string as the Python scalar it spells (2 -> int, 0.5 -> float, true -> bool), else the string."""
    if not isinstance(value, str):
        return value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return parsed if isinstance(parsed, (int, float, str, bool)) else value


def constructor_fields(factory: Callable[..., Any]) -> tuple[dict[str, tuple[Any, Any]], bool, bool]:
    """``{name: (type, default)}`` of the keyword arguments ``factory`` takes (less
    ``input_size``), whether it takes ``**kwargs``, and whether it takes ``input_size``."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}, True, True
    fields: dict[str, tuple[Any, Any]] = {}
    for name, p in parameters.items():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD) or name == "input_size":
            continue
        default = p.default if p.default is not inspect.Parameter.empty else HARNESS_DEFAULTS.get(name, dataclasses.MISSING)
        annotation = _TYPES.get(p.annotation, p.annotation) if isinstance(p.annotation, str) else p.annotation
        typ = (
            annotation
            if annotation in (int, float, bool, str)
            else (type(default) if isinstance(default, (int, float, bool, str)) else None)
        )
        fields[name] = (typ, default)
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return fields, var_kw, "input_size" in parameters or var_kw


def user_params(name: str, factory: Callable[..., Any], values: Mapping[str, Any]) -> Any:
    """The validated constructor arguments of a user's core, as a frozen dataclass.

    A name the constructor does not take is an error naming those it takes; a name it
    takes is passed through (and recorded), typed from its annotation or default.
    """
    fields, var_kw, _ = constructor_fields(factory)
    values = dict(values)
    lay = blocks.layout(name, factory, values.get("width_arg"))
    if lay is not None:
        fields, values = blocks.block_fields(name, lay, fields, values)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in fields:
            typ = fields[key][0]
            out[key] = coerce(value, typ, f"model.{key}") if typ is not None else _literal(value)
        elif var_kw:
            out[key] = _literal(value)
        else:
            raise UsageError(f"model {name!r} takes no parameter model.{key}; it takes: {choices(fields) or 'none'}")
    for key, (_, default) in fields.items():
        if key not in out:
            if default is dataclasses.MISSING:
                raise UsageError(
                    f"model {name!r} needs {key} (a constructor argument without a default); give it with --set model.{key}=VALUE"
                )
            out[key] = default
    if lay is not None:
        blocks.check_values(name, lay, out)
    cls = dataclasses.make_dataclass("UserParams", [(k, type(v)) for k, v in out.items()], frozen=True)
    return cls(**out)


def block_layout(factory: Callable[..., Any], name: str, params: Any) -> blocks.Layout | None:
    """The block layout of a user's class under ``params`` (None: a core or a whole model)."""
    return blocks.layout(name, factory, getattr(params, "width_arg", None))


def construct(factory: Callable[..., Any], name: str, input_size: int, params: Any) -> nn.Module:
    """Call ``factory`` with ``input_size`` (when it takes it) and the parameters; a block is
    built behind its encoder, stacked (:func:`rnnbench.models.blocks.build`)."""
    lay = block_layout(factory, name, params)
    if lay is not None:
        return blocks.build(name, factory, lay, input_size, dataclasses.asdict(params))
    _, _, takes_input = constructor_fields(factory)
    kwargs = dataclasses.asdict(params) | ({"input_size": input_size} if takes_input else {})
    module = factory(**kwargs)
    if not isinstance(module, nn.Module):
        raise UsageError(f"model {name!r} built a {type(module).__name__}, not a torch.nn.Module")
    return module


class UserArchitecture(Architecture):
    """A class or factory wrapped as an architecture (its parameters come from its signature)."""

    factory: Callable[..., Any]

    def params(self, values: Mapping[str, Any] | None = None) -> Any:
        return user_params(self.name, self.factory, dict(values or {}))

    def layout(self, params: Any = None) -> blocks.Layout | None:
        """The block layout (None for a core or a whole model), under ``params`` when given."""
        return block_layout(self.factory, self.name, params)

    def describe(self) -> str:
        """The constructor's keyword arguments with their defaults (``name=?`` when it has none);
        a block's description first."""
        fields, _, _ = constructor_fields(self.factory)
        lay = self.layout()
        if lay is not None:
            fields, _ = blocks.block_fields(self.name, lay, fields, {})
        text = ", ".join(f"{k}={'?' if d is dataclasses.MISSING else repr(d)}" for k, (_, d) in fields.items())
        if lay is not None:
            width, depth = (
                fields[k][1] if isinstance(fields[k][1], int) else default
                for k, default in ((lay.width_arg, blocks.DEFAULT_WIDTH), (lay.depth_arg or "num_layers", 1))
            )
            return f"{blocks.describe(lay, width, depth, None)}; {text}"
        return text


def wrap(name: str, obj: Any, description: str) -> Architecture:
    """``obj`` as an architecture: itself when it declares one, else its factory wrapped."""
    files = source_files(obj)
    if isinstance(obj, Architecture):
        return dataclasses.replace(obj, user=True, source_files=files, citation=obj.citation or description)
    if not callable(obj):
        raise UsageError(f"model {name!r} is a {type(obj).__name__}, not a class, factory or Architecture")
    arch = UserArchitecture(
        name=name,
        title=getattr(obj, "__name__", name),
        citation=description,
        Params=type(None),
        implementations={USER_IMPL: lambda i, p, f=obj, n=name: construct(f, n, i, p)},
        user=True,
        source_files=files,
    )
    object.__setattr__(arch, "factory", obj)
    return arch


def load_user_model(name: str) -> Architecture:
    if is_import_path(name):
        return wrap(name, load_object(name), f"user model {name}")
    ep = entry_points().get(name)
    if ep is None:
        raise KeyError(name)
    try:
        obj = ep.load()
    except Exception as exc:
        raise UsageError(f"model {name!r}: loading its entry point {ep.value} failed: {type(exc).__name__}: {exc}") from None
    return wrap(name, obj, f"plugin {ep.value}")


def display_name(arch: Architecture) -> str:
    """A short label for tables: the architecture's own name, or a user class's name."""
    return arch.title if isinstance(arch, UserArchitecture) and is_import_path(arch.name) else arch.name
