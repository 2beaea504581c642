"""What every op in :mod:`rnnbench.ops` shares: argument checks that name what is wrong, the
form dispatch, the chunk-size choice, and the registry that ``rnnbench throughput --op``
and the tests read.

Convention (fla's and mamba's, batch-first): inputs ``(B, T, ...)``; every op returns
``(output, final_state)``; an optional initial state; ``form=`` names the algorithm,
always ``"recurrent"`` (one step at a time, the reference every other form is tested
against) and ``"chunk"`` (the chunkwise-parallel algorithm, the default), plus others
where they earn their place. A bad argument raises :class:`rnnbench.errors.UsageError`
(a ``ValueError``) naming the argument, the shape it has and the shape expected; the
command line prints it as one line and exits 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rnnbench.errors import UsageError, choices
from rnnbench.registry import Registry

Shape = Sequence[int | None]  # None: any size


def shape_text(shape: Shape) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def require_tensor(
    op: str, name: str, t: Any, dims: int | None = None, shape: Shape | None = None, meaning: str = ""
) -> torch.Tensor:
    """``t`` as a tensor of ``dims`` dimensions matching ``shape`` (None entries: any size)."""
    if not isinstance(t, torch.Tensor):
        raise UsageError(f"{op}: {name} must be a tensor{' ' + meaning if meaning else ''}, not {type(t).__name__}")
    expected = shape if shape is not None else (None,) * dims if dims is not None else None
    if expected is not None:
        ok = t.dim() == len(expected) and all(e is None or e == s for e, s in zip(expected, t.shape))
        if not ok:
            raise UsageError(
                f"{op}: {name} has shape {tuple(t.shape)}; expected {shape_text(expected)}" + (f" {meaning}" if meaning else "")
            )
    return t


def require_broadcast(op: str, name: str, t: torch.Tensor, target: Sequence[int], meaning: str = "") -> None:
    """``t`` must broadcast against ``target`` without changing it."""
    try:
        ok = tuple(torch.broadcast_shapes(t.shape, tuple(target))) == tuple(target)
    except RuntimeError:
        ok = False
    if not ok:
        raise UsageError(
            f"{op}: {name} has shape {tuple(t.shape)}, which does not broadcast against "
            f"{tuple(target)}{' ' + meaning if meaning else ''}"
        )


def require_same_kind(op: str, tensors: Mapping[str, torch.Tensor | None]) -> None:
    """All real or all complex; one floating dtype and one device."""
    given = {k: v for k, v in tensors.items() if v is not None}
    kinds = {k: v.is_complex() for k, v in given.items()}
    if len(set(kinds.values())) > 1:
        real = [k for k, c in kinds.items() if not c]
        cplx = [k for k, c in kinds.items() if c]
        raise UsageError(
            f"{op}: mixed real ({', '.join(real)}) and complex ({', '.join(cplx)}) inputs; give all of them real or all complex"
        )
    for k, v in given.items():
        if not (v.is_floating_point() or v.is_complex()):
            raise UsageError(f"{op}: {k} has dtype {v.dtype}; expected a floating or complex dtype")
    dtypes = {v.dtype for v in given.values()}
    if len(dtypes) > 1:
        raise UsageError(
            f"{op}: inputs have different dtypes ({', '.join(f'{k} {v.dtype}' for k, v in given.items())}); convert them to one"
        )
    devices = {v.device for v in given.values()}
    if len(devices) > 1:
        raise UsageError(f"{op}: inputs are on different devices ({', '.join(sorted(map(str, devices)))})")


def check_form(op: str, form: str, forms: Sequence[str]) -> str:
    if form not in forms:
        raise UsageError(f"{op}: unknown form {form!r}; choose one of: {choices(forms)}")
    return form


def chunk_size(T: int, given: int | None, op: str = "op") -> int:
    """The chunk length: ``given`` (at least 1), else about √(T/3), which minimises the
    3C + T/C sequential steps of the blocked scan (rnnbench.ops.chunked)."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise UsageError(f"{op}: chunk_size={given!r} is impossible; use an integer of 1 or more")
        return min(given, max(T, 1))
    return max(1, min(T, round(math.sqrt(T / 3))))


@dataclass(frozen=True)
class OpParams:
    """Shape parameters of an op's example inputs, beyond batch, length and width."""

    def validate(self) -> None:
        pass


@dataclass(frozen=True)
class Op:
    """An op as ``rnnbench throughput --op`` and the tests see it.

    ``example(params, batch, seq_len, hidden, generator, dtype)`` returns the keyword
    inputs of one call (floating inputs are the ones gradients are taken of); ``call`` is
    the public function. The op's minimum traffic, the roofline of a memory-bound op, is
    every input read once and every output written once (twice that forward+backward).
    """

    name: str
    call: Callable[..., tuple[torch.Tensor, Any]]
    forms: tuple[str, ...]
    Params: type
    example: Callable[..., dict[str, Any]]
    equations: str
    citation: str


OPS: Registry[Op] = Registry("op")


def register(op: Op) -> Op:
    return OPS.add(op.name, op)


def tensors_of(value: Any) -> list[torch.Tensor]:
    """The tensors inside a (nested tuple of) outputs or states, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_of(v)]
    return []
