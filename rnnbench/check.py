"""``rnnbench check``: quick probes of a recurrent model's contract on random input.

A *core* follows ``forward(x, state=None) -> (y, state)``; a *whole model* maps a
batch-first input ``(B, T, F)`` to a tensor; a *block* (``dim``/``d_model``, no
``input_size``) is probed as rnnbench runs it, behind its encoder from F features.
Probes that cannot apply (causality for a bidirectional model or one that returns
only the last step, state carry-over for a whole model or a block that takes no
state) are reported as n/a with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnbench.errors import UsageError
from rnnbench.models import blocks, resolve_model
from rnnbench.models.user import constructor_fields, where

B, T, F, H = 3, 7, 5, 8  # B != T != F, so an axis mix-up cannot hide behind equal sizes
ATOL = 1e-5
AXIS_HINT = (
    "it mixes samples across the batch: a sequence-first nn.RNN/LSTM/GRU (batch_first=False, "
    "the default) fed batch-first input treats the batch axis as time, and output[:, -1] then "
    "takes the last batch element, not the last step; use batch_first=True or transpose the input"
)
CRASH_HINT = (
    "this is the batch/time mix-up: {modules} with batch_first=False (the default) reads axis 0 of "
    "batch-first input (B={B}, T={T}, F={F}) as time and axis 1 as the batch, so a state built from "
    "x.size(0) holds B={B} sequences where the layer expects T={T}; use batch_first=True"
)
# constructor arguments a whole model's probes fill in when the user gives none (a small output)
OUTPUT_ARGS = blocks.OUTPUT_ARGS
RUN_NOTE = (
    "rnnbench run and sweep train cores, forward(x, state=None) -> (y, state), and add the task's encoder "
    "and readout; this whole model can be checked but not trained by them"
)


@dataclass
class ProbeResult:
    name: str
    status: str  # pass, FAIL, n/a
    detail: str = ""


class Subject:
    """The model under test, rebuilt from a seed whenever a probe needs fresh weights."""

    def __init__(self, factory: Callable[[int], nn.Module], bidirectional: bool | None) -> None:
        self.factory = factory
        self.bidirectional = bidirectional
        self.module = self.build(0)
        self.error: str | None = None
        try:
            out = self.module(randn(0))
        except (blocks.ConventionError, blocks.NeedsCUDA):  # one line, nothing can be probed
            raise
        except Exception as exc:  # reported by the shape probe, with the user's file:line
            self.error = crash_explanation(self.module, exc)
            out = None
        self.is_core = isinstance(out, tuple)

    @property
    def block(self) -> blocks.BlockCore | None:
        """The harness's wrapper when the model is a user's block."""
        return self.module if isinstance(self.module, blocks.BlockCore) else None

    def kind(self) -> str:
        """``core``, ``whole model``, ``did not run``, or a block's description."""
        if self.block is not None:
            return f"{self.block.describe()}; the probes feed it F={F} features"
        return "core" if self.is_core else ("did not run" if self.error else "whole model")

    def build(self, seed: int) -> nn.Module:
        """The model with weights drawn from ``seed`` (and the global RNG forked around it)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.factory(seed)

    def run(self, x: torch.Tensor, state: Any = None, module: nn.Module | None = None) -> tuple[torch.Tensor, Any]:
        module = module or self.module
        if self.is_core:
            y, s = module(x) if state is None else module(x, state)
            return y, s
        return module(x), None


def randn(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*(shape or (B, T, F)), generator=torch.Generator().manual_seed(seed))


def crash_explanation(module: nn.Module, exc: Exception) -> str:
    """The exception in one line with the user's file:line, and the batch/time mix-up named
    when a sequence-first recurrent layer is inside."""
    text = f"raised {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}{where(exc)}"
    if (reason := blocks.cuda_requirement(exc)) is not None:
        text += f"; it needs a CUDA device: {reason}"
    seq_first = sorted({type(m).__name__ for m in module.modules() if isinstance(m, nn.RNNBase) and not m.batch_first})
    if seq_first:
        text += "; " + CRASH_HINT.format(modules="/".join(f"nn.{n}" for n in seq_first), B=B, T=T, F=F)
    return text


def _shape(sub: Subject) -> ProbeResult:
    if sub.error:
        return ProbeResult("shape contract", "FAIL", f"on input (B={B}, T={T}, F={F}) the model {sub.error}")
    y, _ = sub.run(randn(1))
    if not isinstance(y, torch.Tensor):
        return ProbeResult("shape contract", "FAIL", f"output is a {type(y).__name__}, not a tensor")
    if y.shape[0] != B:
        return ProbeResult(
            "shape contract",
            "FAIL",
            f"input (B={B}, T={T}, F={F}) gave output {tuple(y.shape)}: the first axis must be the batch ({B})",
        )
    if sub.is_core and (y.dim() != 3 or y.shape[1] != T):
        return ProbeResult("shape contract", "FAIL", f"a core must return y of shape (B, T, features); got {tuple(y.shape)}")
    return ProbeResult("shape contract", "pass", f"(B, T, F)={B, T, F} -> {tuple(y.shape)}")


def _batch_independence(sub: Subject) -> ProbeResult:
    x = randn(2)
    x2 = x.clone()
    x2[0] = randn(3, T, F)
    y, _ = sub.run(x)
    y2, _ = sub.run(x2)
    if y.shape[0] != B:
        return ProbeResult("batch independence", "FAIL", f"the output's first axis is {y.shape[0]}, not the batch; " + AXIS_HINT)
    changed = (y[1:] - y2[1:]).abs().max().item()
    if changed > ATOL:
        return ProbeResult(
            "batch independence",
            "FAIL",
            f"changing sample 0 changed the other samples' outputs by up to {changed:.2g}; " + AXIS_HINT,
        )
    return ProbeResult("batch independence", "pass")


def _causality(sub: Subject) -> ProbeResult:
    if sub.bidirectional:
        return ProbeResult("causality", "n/a", "bidirectional model")
    y, _ = sub.run(randn(4))
    if y.dim() != 3 or y.shape[1] != T:
        return ProbeResult("causality", "n/a", "the model returns no per-step output")
    t = 3
    x = randn(4)
    x2 = x.clone()
    x2[:, t] += 1.0
    y2, _ = sub.run(x2)
    changed = (y[:, :t] - y2[:, :t]).abs().max().item()
    if changed > ATOL:
        return ProbeResult(
            "causality",
            "FAIL",
            f"changing step {t} changed outputs before it by up to {changed:.2g}; "
            "a unidirectional model must not see the future (bidirectional? pass --bidirectional)",
        )
    return ProbeResult("causality", "pass")


def perturbed(sub: Subject) -> nn.Module:
    """The model with every floating weight moved by N(0, 0.1²) (seeded): a residual branch that
    starts at zero (RWKV-7's output projections, GPT-2's "zero" init) cuts the first step off the
    last output at initialisation only, which training undoes; a structural defect stays."""
    module = sub.build(0)
    g = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for t in module.parameters():
            if t.is_floating_point():
                t.add_(0.1 * torch.randn(t.shape, generator=g, dtype=t.dtype))
    return module


INIT_ONLY = "only at its initialisation (a residual branch that starts at zero?): with the weights perturbed it passes"


def _order(sub: Subject) -> ProbeResult:
    x = randn(5)
    y, _ = sub.run(x)
    yr, _ = sub.run(x.flip(1))
    last = (lambda v: v[:, -1]) if y.dim() == 3 and y.shape[1] == T else (lambda v: v)
    if (last(y) - last(yr)).abs().max().item() <= ATOL:
        return ProbeResult(
            "order sensitivity",
            "FAIL",
            "reversing the steps left the final output unchanged: "
            "the model ignores order (does it pool over time, or read only one step?)",
        )
    return ProbeResult("order sensitivity", "pass")


def _carry_over(sub: Subject) -> ProbeResult:
    if not sub.is_core:
        return ProbeResult("state carry-over", "n/a", "a whole model takes no state")
    if sub.bidirectional:
        return ProbeResult("state carry-over", "n/a", "bidirectional model")
    block = sub.block
    if block is not None and not block.takes_state:
        return ProbeResult(
            "state carry-over",
            "n/a",
            f"not applicable: the block takes no state (its forward has none of the keywords {', '.join(blocks.STATE_KEYWORDS)})",
        )
    x = randn(6)
    y, _ = sub.run(x)
    k = 4
    y1, s = sub.run(x[:, :k])
    if block is not None and all(v is None for v in s):
        return ProbeResult(
            "state carry-over",
            "n/a",
            f"not applicable: the block takes {block.convention.state_keyword}= "
            "but returned no state to hand over (y alone, or None in its place)",
        )
    if block is None:
        y2, _ = sub.run(x[:, k:], s)
        diff = (torch.cat([y1, y2], 1) - y).abs().max().item()
        if diff > ATOL:
            return ProbeResult(
                "state carry-over",
                "FAIL",
                f"two chunks with the state handed over differ from one pass by "
                f"{diff:.2g}; the returned state must continue the sequence",
            )
        return ProbeResult("state carry-over", "pass")
    return _block_carry_over(sub, x, y, k, y1, s)


def _block_carry_over(sub: Subject, x: torch.Tensor, y: torch.Tensor, k: int, y1: torch.Tensor, s: Any) -> ProbeResult:
    """A block's state continues the sequence in a chunk, or else one step at a time after a
    chunk, as decoding hands it over (mamba_ssm's layers take their state one step at a time
    only, and the minGRU authors' layer a longer chunk only for a batch of one)."""
    try:
        y2, _ = sub.run(x[:, k:], s)
        diff = (torch.cat([y1, y2], 1) - y).abs().max().item()
        chunk = None if diff <= ATOL else f"it differs from one pass by {diff:.2g}"
    except (blocks.ConventionError, blocks.NeedsCUDA):
        raise
    except Exception as exc:
        chunk = crash_explanation(sub.module, exc)
    if chunk is None:
        return ProbeResult("state carry-over", "pass", f"a chunk of {T - k} steps after one of {k}, its state handed over")
    outputs, (y1, s) = [], sub.run(x[:, :k])  # afresh: a cache object may have been changed in place
    outputs.append(y1)
    for t in range(k, T):
        y_t, s = sub.run(x[:, t : t + 1], s)
        outputs.append(y_t)
    diff = (torch.cat(outputs, 1) - y).abs().max().item()
    if diff > ATOL:
        return ProbeResult(
            "state carry-over",
            "FAIL",
            f"{k} steps then one at a time, the state handed over, differ from "
            f"one pass by {diff:.2g} (a chunk of {T - k} after {k}: {chunk}); the returned state must "
            "continue the sequence",
        )
    return ProbeResult(
        "state carry-over",
        "pass",
        f"one step at a time after a chunk of {k} steps, as decoding; a chunk "
        f"of {T - k} steps after the state did not continue it: {chunk}",
    )


def _gradient_reach(sub: Subject) -> ProbeResult:
    def reach(module: nn.Module | None) -> float:
        x = randn(7).requires_grad_()
        y, _ = sub.run(x, module=module)
        last = y[:, -1] if y.dim() == 3 and y.shape[1] == T else y
        (grad,) = torch.autograd.grad(last.sum(), x, allow_unused=True)
        return 0.0 if grad is None else grad[:, 0].abs().max().item()

    at_init = reach(None)
    if at_init == 0.0:
        if sub.is_core and (moved := reach(perturbed(sub))) > 0.0:
            return ProbeResult(
                "gradient reach", "pass", f"no gradient from the first step {INIT_ONLY} (max |d y_last / d x_0| = {moved:.2g})"
            )
        return ProbeResult(
            "gradient reach",
            "FAIL",
            "the last step's output has no gradient with respect to the first "
            "input step: information from the start cannot reach the end",
        )
    return ProbeResult("gradient reach", "pass", f"max |d y_last / d x_0| = {at_init:.2g}")


def _determinism(sub: Subject) -> ProbeResult:
    x = randn(8)
    a, _ = sub.run(x, module=sub.build(11))
    b, _ = sub.run(x, module=sub.build(11))
    if not torch.equal(a, b):
        return ProbeResult(
            "seeded determinism",
            "FAIL",
            "two builds from the same seed gave different outputs; draw all randomness from torch's seeded generators",
        )
    return ProbeResult("seeded determinism", "pass")


PROBES = [_shape, _batch_independence, _causality, _order, _carry_over, _gradient_reach, _determinism]


def run_checks(sub: Subject) -> list[ProbeResult]:
    if sub.error:  # nothing else can run
        return [_shape(sub)] + [
            ProbeResult(p.__name__.strip("_").replace("_", " "), "n/a", "the model did not run") for p in PROBES[1:]
        ]
    results = []
    for probe in PROBES:
        try:
            results.append(probe(sub))
        except (blocks.ConventionError, blocks.NeedsCUDA):  # one line, at the CLI exit status 2
            raise
        except Exception as exc:  # a probe that crashes is a failure of the contract, reported, not raised
            name = probe.__name__.strip("_").replace("_", " ")
            results.append(ProbeResult(name, "FAIL", crash_explanation(sub.module, exc)))
    return results


def subjects(name: str, impl: str | None, bidirectional: bool, values: dict[str, Any] | None = None) -> list[tuple[str, Subject]]:
    """The model under test, one subject per implementation (all of them unless ``impl`` names one).

    ``values`` are model parameters (``--set model.NAME=VALUE``); a whole model's required
    output-size argument (``num_classes``, ``output_size``, ...) gets 2 unless given.
    """
    arch = resolve_model(name)
    values = dict(values or {})
    factory = getattr(arch, "factory", None)
    lay = blocks.layout(name, factory, values.get("width_arg")) if factory is not None else None
    if lay is not None:  # a small width, unless given by its own name or as hidden_size
        if lay.width_arg not in values and "hidden_size" not in values:
            values[lay.width_arg] = H
    elif factory is not None:
        fields, _, _ = constructor_fields(factory)
        if "hidden_size" in fields:
            values.setdefault("hidden_size", H)
        for key in OUTPUT_ARGS:
            if key in fields and fields[key][1] is dataclasses.MISSING:
                values.setdefault(key, 2)
    else:
        values.setdefault("hidden_size", H)
    params = arch.params(values)
    # all the implementations this machine can build (the authors' kernels need their package and a
    # GPU); one named explicitly is built, or refused in one line saying what is missing
    impls = [arch.check_impl(impl)] if impl else arch.available_implementations()
    out = []
    for i in impls:
        build = lambda seed, i=i: arch.build(i, F, params, torch.Generator().manual_seed(seed))  # noqa: E731
        try:
            out.append((f"{name} ({i})", Subject(build, arch.bidirectional or bidirectional)))
        except UsageError:
            raise
        except Exception as exc:  # the constructor itself raised
            if (reason := blocks.cuda_requirement(exc)) is not None:
                raise UsageError(blocks.needs_cuda_message(name, reason)) from None
            raise UsageError(f"model {name!r} could not be built: {type(exc).__name__}: {exc}{where(exc)}") from None
    return out


__all__ = ["RUN_NOTE", "ProbeResult", "Subject", "run_checks", "subjects"]
