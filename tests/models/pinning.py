"""Helpers that pin an architecture's ``reference`` to numbers known without rnnbench's code.

- :func:`run_reference`: build the ``reference`` core of an :class:`arch_examples.Example` in float64,
  load every parameter from the example's weights by name (a missing, extra or misshapen name
  is an error), run it and return the output, the final state's leaves and (when the example
  asks) the gradient of L = Σ y⊙w + Σ state with respect to the input and every parameter.
- :func:`assert_matches`: compare that with the expected numbers, element by element.
- :func:`assert_distribution`: a Kolmogorov–Smirnov test that accepts the stated distribution
  and rejects each of the wrong ones given (so the test is known to have the power to see a
  wrong scale or range with these samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from arch_examples import Example, loss_weights
from scipy import stats

from rnnbench.models import build_core

# element-wise: |got − want| <= atol + rtol·|want|
TOLERANCE = {"rtol": 1e-9, "atol": 1e-12, "grad_rtol": 1e-8, "grad_atol": 1e-11}


def leaves(state: Any) -> list[torch.Tensor]:
    """The tensors of a nested-tuple state, in order; complex ones as (..., 2) real views."""
    if isinstance(state, torch.Tensor):
        return [torch.view_as_real(state) if state.is_complex() else state]
    if isinstance(state, (tuple, list)):
        return [t for s in state for t in leaves(s)]
    return []


def to_torch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.tensor(value, dtype=torch.float64)
    if isinstance(value, (tuple, list)):
        return tuple(to_torch(v) for v in value)
    return value


def build_reference(example: Example) -> torch.nn.Module:
    """The example's reference core, float64, every parameter set from ``example.weights``."""
    core = build_core(example.model, "reference", input_size=example.input_size, **example.params).double()
    names = dict(core.named_parameters())
    missing, extra = sorted(set(names) - set(example.weights)), sorted(set(example.weights) - set(names))
    assert not missing and not extra, f"{example.id}: weights missing {missing}, not parameters of the core {extra}"
    with torch.no_grad():
        for name, value in example.weights.items():
            p = names[name]
            assert tuple(p.shape) == value.shape, f"{example.id}: {name} is {tuple(p.shape)}, the example gives {value.shape}"
            p.copy_(torch.tensor(value, dtype=torch.float64))
    return core


def run_reference(example: Example, core: torch.nn.Module | None = None) -> dict[str, Any]:
    """{"output", "state": [leaves], "grad": {"input" | parameter name: array}} as NumPy arrays."""
    core = core if core is not None else build_reference(example)
    x = torch.tensor(example.x, dtype=torch.float64, requires_grad=True)
    state0 = to_torch(example.state0)
    y, state = core(x) if state0 is None else core(x, state0)
    out: dict[str, Any] = {"output": y.detach().numpy(), "state": [s.detach().numpy() for s in leaves(state)]}
    if example.grad:
        w = torch.tensor(loss_weights(tuple(y.shape)), dtype=torch.float64)
        loss = (y * w).sum() + sum(s.sum() for s in leaves(state))
        names = [n for n, _ in core.named_parameters()]
        grads = torch.autograd.grad(loss, [x, *core.parameters()], allow_unused=True)
        out["grad"] = {
            n: (torch.zeros_like(p) if g is None else g).detach().numpy()
            for n, p, g in zip(["input", *names], [x, *core.parameters()], grads)
        }
    return out


def assert_matches(got: dict[str, Any], want: dict[str, Any], example: Example) -> None:
    """Element-wise comparison of output, each state leaf and each gradient."""
    tol = TOLERANCE | example.tolerance

    def close(a: np.ndarray, b: Any, what: str, rtol: float, atol: float) -> None:
        b = np.asarray(b, dtype=np.float64)
        assert a.shape == b.shape, f"{example.id} {what}: shape {a.shape}, expected {b.shape}"
        err = np.abs(a - b) - (atol + rtol * np.abs(b))
        worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
        assert err.size == 0 or err.max() <= 0, (
            f"{example.id} {what}: {a[worst]!r} at {tuple(int(i) for i in worst)}, expected {b[worst]!r} (from {example.source})"
        )

    close(got["output"], want["output"], "output", tol["rtol"], tol["atol"])
    assert len(got["state"]) == len(want["state"]), (
        f"{example.id}: {len(got['state'])} state tensors, expected {len(want['state'])}"
    )
    for i, (a, b) in enumerate(zip(got["state"], want["state"])):
        close(a, b, f"final state [{i}]", tol["rtol"], tol["atol"])
    if example.grad:
        assert set(got["grad"]) == set(want["grad"]), (
            f"{example.id}: gradients of {sorted(got['grad'])}, expected {sorted(want['grad'])}"
        )
        for name in want["grad"]:
            close(got["grad"][name], want["grad"][name], f"gradient of {name}", tol["grad_rtol"], tol["grad_atol"])


def assert_distribution(
    samples: torch.Tensor | np.ndarray, right: Any, wrong: Sequence[Any] = (), what: str = "", alpha: float = 1e-3
) -> None:
    """``samples`` pass a KS test against the frozen scipy distribution ``right`` (p > alpha) and
    fail it against every distribution in ``wrong`` (frozen distributions or CDF functions; p < alpha): the sample is large enough
    to tell the stated law from a wrong scale, shift or range."""
    x = np.asarray(
        samples.detach().double().flatten() if isinstance(samples, torch.Tensor) else samples, dtype=np.float64
    ).ravel()
    p = stats.kstest(x, right.cdf).pvalue
    assert p > alpha, f"{what}: KS test rejects the stated distribution (p = {p:.2g}, n = {x.size})"
    for dist in wrong:
        q = stats.kstest(x, getattr(dist, "cdf", dist)).pvalue
        name = f"{dist.dist.name}{dist.args}" if hasattr(dist, "dist") else getattr(dist, "__name__", repr(dist))
        assert q < alpha, (
            f"{what}: the KS test cannot tell the stated distribution from a wrong one, {name} "
            f"(p = {q:.2g}, n = {x.size}); use more samples"
        )
