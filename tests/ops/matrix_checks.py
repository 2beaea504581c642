"""Shared checks for the matrix-state ops' tests: every form against "recurrent" (outputs,
final state and the gradient of every input), planted bugs, registry examples."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import torch

from rnnbench.ops import OPS
from rnnbench.ops.base import tensors_of

F64 = torch.float64
TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    # float32: the chunk forms sum in a different order (GEMMs over a chunk, a triangular
    # inverse); measured differences stay below 1e-5 relative at T = 43 here
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
}


def leaves(inputs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``inputs`` whose floating tensors (also inside tuples) are fresh leaves requiring grad."""

    def fresh(v: Any) -> Any:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.detach().clone().requires_grad_()
        if isinstance(v, tuple):
            return tuple(fresh(t) for t in v)
        return v

    return {k: fresh(v) for k, v in inputs.items()}


def run_form(call: Callable[..., Any], inputs: dict[str, Any], form: str, **kw: Any) -> list[torch.Tensor]:
    """Outputs, final state and the gradient of every floating input of one call, as one list.

    The loss weights each output and state with fixed random numbers, so every element's
    gradient path is exercised."""
    args = leaves(inputs)
    out = call(**args, form=form, **kw)
    results = tensors_of(out)
    gen = torch.Generator().manual_seed(99)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum() for t in results)
    wrt = tensors_of(list(args.values()))
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [t.detach() for t in results] + [torch.zeros_like(w) if g is None else g for w, g in zip(wrt, grads)]


def forms_agree(call: Callable[..., Any], inputs: dict[str, Any], form: str = "chunk", **kw: Any) -> None:
    """``form`` equals ``"recurrent"`` in outputs, final state and all input gradients, within TOL."""
    dtype = next(t.dtype for t in tensors_of(list(inputs.values())))
    got = run_form(call, inputs, form, **kw)
    want = run_form(call, inputs, "recurrent", **kw)
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert torch.isfinite(b).all(), f"reference item {i} is not finite"
        scale = b.abs().max().item()  # relative to each tensor's size, so a tiny gradient is not held to atol alone
        tol = TOL[dtype]
        torch.testing.assert_close(a, b, rtol=tol["rtol"], atol=tol["atol"] * max(scale, 1.0), msg=lambda m: f"item {i}: {m}")


def plant(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, old: str, new: str) -> None:
    """Replace ``owner.name`` (a module's function or a class's method) with a copy of its
    source in which ``old`` (found exactly once) is ``new``: a one-character bug, to show the
    comparison catches it."""
    assert len(old) == len(new) and sum(a != b for a, b in zip(old, new)) == 1, "plant one character"
    func = inspect.unwrap(getattr(owner, name))
    source = textwrap.dedent(inspect.getsource(func))  # with its decorators
    assert source.count(old) == 1, f"{old!r} is not in {name} exactly once"
    namespace: dict[str, Any] = {}
    exec(compile(source.replace(old, new), inspect.getsourcefile(func), "exec"), dict(func.__globals__), namespace)
    monkeypatch.setattr(owner, name, namespace[name])


def registered_example_agrees(name: str) -> None:
    """The registry's example inputs at hidden = 16 run in every form and agree with "recurrent";
    at hidden = 64 the default gives 2 heads of 32."""
    op = OPS.get(name)
    params = op.Params()
    params.validate()
    inputs = op.example(params, 2, 37, 16, torch.Generator().manual_seed(0), F64)
    for form in op.forms:
        if form != "recurrent":
            forms_agree(op.call, inputs, form)
    wide = op.example(params, 1, 3, 64, torch.Generator().manual_seed(0), torch.float32)
    first = next(iter(wide.values()))
    assert first.shape == (1, 3, 2, 32), first.shape
