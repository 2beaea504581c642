"""``linear_recurrence``: the diagonal linear recurrence h_t = a_t ⊙ h_{t−1} + b_t.

minGRU and minLSTM (a = 1 − z, b = z ⊙ h̃), the LRU (a = λ complex and time-invariant,
b = γ ⊙ B u) and Griffin's RG-LRU are this recurrence with different a and b.

Forms:

- ``"recurrent"``: one step at a time, the reference;
- ``"chunk"`` (default): the blocked scan of :mod:`rnnbench.ops.chunked` as one autograd
  node whose backward is the same scan run in reverse, with a shifted by one step:
  δ_t = g_t + ā_{t+1} δ_{t+1}, ∂b_t = δ_t, ∂a_t = δ_t h̄_{t−1}, ∂h_0 = ā_1 δ_1 (bars:
  complex conjugates), ∂a reduced to a's shape when it broadcasts;
- ``"log_scan"``: the minGRU paper's own form for a, b > 0 (Heinsen 2023):
  a*_t = Σ_{s≤t} log a_s, log h_t = a*_t + logcumsumexp_t(log b_t − a*_t);
- ``"native"``: a C++ CPU kernel (:mod:`rnnbench.ops.native`, built at first use), one
  sequential pass over time per lane forward and one backward (the same reverse scan), so
  the data moves once where the chunk form makes a dozen passes; CPU tensors only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from rnnbench.errors import UsageError
from rnnbench.ops import chunked, native
from rnnbench.ops.base import (
    Op,
    OpParams,
    check_form,
    chunk_size,
    register,
    require_broadcast,
    require_same_kind,
    require_tensor,
)

FORMS = ("recurrent", "chunk", "log_scan", "native")
NAME = "linear_recurrence"


def linear_recurrence(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, *, form: str = "chunk", chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """h_t = a_t ⊙ h_{t−1} + b_t along axis 1.

    Args:
        a: the decays, broadcastable against ``b`` (e.g. ``(N,)`` for a time-invariant λ).
        b: the inputs, ``(B, T, ...)``.
        h0: the state before the first step, ``(B, ...)`` (zero when None).
        form: ``"chunk"`` (default), ``"recurrent"``, ``"log_scan"`` (a, b, h0 > 0, real) or
            ``"native"`` (a C++ CPU kernel, built at first use: :mod:`rnnbench.ops.native`).
        chunk_size: the chunk length of ``"chunk"`` (default about √(T/3)).

    Returns:
        ``(h, h_T)``: every state ``(B, T, ...)`` and the last ``(B, ...)``. Real or complex.
    """
    check_form(NAME, form, FORMS)
    b = require_tensor(NAME, "b", b, meaning="(B, T, ...)")
    if b.dim() < 2:
        raise UsageError(f"{NAME}: b has shape {tuple(b.shape)}; expected (B, T, ...), at least 2 dimensions")
    a = require_tensor(NAME, "a", a)
    require_broadcast(NAME, "a", a, b.shape, "(the decays must broadcast against b's (B, T, ...))")
    if h0 is not None:
        require_tensor(NAME, "h0", h0, shape=(b.shape[0], *b.shape[2:]), meaning="(B, ...), b without its time axis")
    require_same_kind(NAME, {"a": a, "b": b, "h0": h0})
    B, T, rest = b.shape[0], b.shape[1], b.shape[2:]
    if T == 0:
        raise UsageError(f"{NAME}: b has no time steps (shape {tuple(b.shape)}); give T >= 1")
    if form == "recurrent":
        return _recurrent(a, b, h0)
    if form == "log_scan":
        if a.is_complex():
            raise UsageError(f"{NAME}: form 'log_scan' takes positive real a and b, not complex ones; use 'chunk'")
        h = log_scan(a.log().expand_as(b), b.log(), None if h0 is None else h0.log())
        return h, h[:, -1]
    F = math.prod(rest)
    if form == "native":
        native.check_tensors(NAME, {"a": a, "b": b, "h0": h0})
        h = _Native.apply(_as3(a, b.shape, F), b.reshape(B, T, F), None if h0 is None else h0.reshape(B, F))
        h = h.view(B, T, *rest)
        return h, h[:, -1]
    C = _chunk(T, chunk_size)
    h = _Chunk.apply(_as3(a, b.shape, F), b.reshape(B, T, F), None if h0 is None else h0.reshape(B, F), C)
    h = h.view(B, T, *rest)
    return h, h[:, -1]


def _chunk(T: int, given: int | None) -> int:
    return chunk_size(T, given, NAME)


def _as3(a: torch.Tensor, target: torch.Size, F: int) -> torch.Tensor:
    """a as ``(Ba, Ta, F)`` with Ba ∈ {1, B}, Ta ∈ {1, T}, broadcasting within the rest."""
    a = a.reshape((1,) * (len(target) - a.dim()) + tuple(a.shape))
    Ba, Ta = a.shape[0], a.shape[1]
    return a.expand(Ba, Ta, *target[2:]).reshape(Ba, Ta, F)


def _recurrent(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    h = h0 if h0 is not None else torch.zeros_like(b[:, 0])
    out = []
    for a_t, b_t in zip(a.expand_as(b).unbind(1), b.unbind(1)):  # unbind, not b[:, t]: a backward linear in T
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out, 1), h


def chunk_forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, C: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The chunk form's forward without autograd: a ``(Ba, Ta, F)`` (Ta ∈ {1, T}), b ``(B, T, F)``,
    h0 ``(B, F)`` or None -> (the decays as :func:`chunk_backward` takes them: chunked
    ``(C, B, n, F)`` or the time-invariant a itself, and h ``(B, T, F)``)."""
    B, T, F = b.shape
    A = a if a.shape[1] == 1 else chunked.to_chunks(a.expand(B, T, F), C, fill=1.0)
    return A, chunked.from_chunks(chunked.scan(A, chunked.to_chunks(b, C), h0), T)


def chunk_backward(
    A: torch.Tensor,
    h: torch.Tensor,
    h0: torch.Tensor | None,
    g: torch.Tensor,
    C: int,
    a_shape: tuple[int, ...],
    need_a: bool,
    need_h0: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The chunk form's backward from :func:`chunk_forward`'s A and h, h0 and the gradient g of
    h: (δ = ∂b ``(B, T, F)``, ∂a of a's ``a_shape`` or None, ∂h0 or None)."""
    B, T, F = h.shape
    Ba = a_shape[0]
    invariant = A.dim() != 4  # a itself, not chunked (at T = 1 a varying a may come either way)
    if A.is_complex():  # the backward multiplies by conjugates
        A, h = A.conj().resolve_conj(), h.conj()
        h0 = None if h0 is None else h0.conj()
    G = chunked.to_chunks(g, C)
    g_steps = G.unbind(0)
    # δ_t = g_t + ā_{t+1} δ_{t+1}: the decay of step j is a's at step j + 1
    a_next = chunked.decays(A, C) if invariant else (*A.unbind(0)[1:], chunked.next_first(A))
    e, p = chunked.local(a_next, g_steps, invariant, reverse=True)
    entering = chunked.carry(e, p, None, invariant, reverse=True)
    chunked.rerun(a_next, g_steps, entering, g_steps, reverse=True)  # δ over g
    delta = chunked.from_chunks(G, T)
    grad_a = grad_h0 = None
    if need_a:
        if invariant:  # Σ_t δ_t h̄_{t−1}, reduced over time (and the batch when a is shared)
            grad_a = _invariant_grad(g_steps, chunked.to_chunks(h, C), h0)
        else:
            grad_a = varying_grad(delta, h, h0)
        if Ba == 1:
            grad_a = grad_a.sum(0, keepdim=True)
    if h0 is not None and need_h0:
        first = A[:, 0] if invariant else A[0, :, 0]  # ā_1: (Ba, F) or (B, F)
        grad_h0 = first * delta[:, 0]
    return delta, grad_a, grad_h0


class _Chunk(torch.autograd.Function):
    """The chunk form as one autograd node: a ``(Ba, Ta, F)``, b ``(B, T, F)``, h0 ``(B, F)``.

    It keeps the chunked decays and the output h (which the caller holds anyway): the
    backward's ∂a_t = δ_t h̄_{t−1} is then one pass over h in its own layout (a time-invariant
    a's sum of them runs in the chunk layout, see ``_invariant_grad``)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, C: int) -> torch.Tensor:
        A, h = chunk_forward(a, b, h0, C)
        ctx.save_for_backward(A, h, h0)
        ctx.C, ctx.a_shape = C, a.shape
        return h

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        A, h, h0 = ctx.saved_tensors
        need = ctx.needs_input_grad
        delta, grad_a, grad_h0 = chunk_backward(A, h, h0, g, ctx.C, ctx.a_shape, need[0], need[2])
        return grad_a, delta if need[1] else None, grad_h0, None


class _Native(torch.autograd.Function):
    """The native form as one autograd node: the C++ forward and reverse scan of
    ``csrc/native.cpp``; a ``(Ba, Ta, F)``, b ``(B, T, F)``, h0 ``(B, F)`` or None."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        a, b = a.contiguous(), b.contiguous()
        h0 = None if h0 is None else h0.contiguous()
        h = native.ops().linear_recurrence_forward(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, h, h0 = ctx.saved_tensors
        grad_a, delta, grad_h0 = native.ops().linear_recurrence_backward(g.contiguous(), a, h, h0, ctx.needs_input_grad[0])
        if ctx.needs_input_grad[0] and a.shape[0] == 1:  # a shared by the batch
            grad_a = grad_a.sum(0, keepdim=True)
        return (
            grad_a if ctx.needs_input_grad[0] else None,
            delta if ctx.needs_input_grad[1] else None,
            grad_h0 if h0 is not None and ctx.needs_input_grad[2] else None,
        )


def varying_grad(delta: torch.Tensor, h: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """∂a_t = δ_t h̄_{t−1} ``(B, T, F)`` for a time-varying a, from δ and the (conjugated) states
    in their own layout: one pass."""
    grad_a = torch.empty_like(delta)
    torch.mul(delta[:, 1:], h[:, :-1], out=grad_a[:, 1:])
    if h0 is None:
        grad_a[:, 0].zero_()
    else:
        torch.mul(delta[:, 0], h0, out=grad_a[:, 0])
    return grad_a


def _invariant_grad(delta: chunked.Steps, H: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """Σ_t δ_t h̄_{t−1} ``(B, 1, F)`` from δ's chunk slabs and the chunked states: summed over
    each chunk's steps from the last, then over the chunks, the order the LRU's published
    trainings were made with (a sum in any other order rounds differently, and 500 training
    steps turn that into a different model)."""
    h_prev = (chunked.prev_last(H, h0), *H.unbind(0)[:-1])
    acc = torch.zeros_like(h_prev[0])
    for j in range(len(delta) - 1, -1, -1):
        acc.addcmul_(delta[j], h_prev[j])
    return acc.sum(1, keepdim=True)


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: torch.Tensor | None = None) -> torch.Tensor:
    """The log-space scan (Heinsen 2023): h ``(B, T, ...)`` from log a and log b of the same
    shape and log h_0 ``(B, ...)`` or None (h_0 = 0); exact for a, b > 0."""
    a_star = log_a.cumsum(1)  # (B, T, ...)
    terms = log_b - a_star
    if log_h0 is not None:
        terms = torch.cat([log_h0.unsqueeze(1), terms], 1)  # h_0 is the term before b_1
        return (a_star + torch.logcumsumexp(terms, 1)[:, 1:]).exp()
    return (a_star + torch.logcumsumexp(terms, 1)).exp()


@dataclass(frozen=True)
class Params(OpParams):
    complex: bool = False  # complex a and b (the LRU)
    invariant: bool = False  # a time-invariant decay (N,) (the LRU's λ)


def example(p: Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype) -> dict[str, Any]:
    shape = (hidden,) if p.invariant else (batch, seq_len, hidden)
    a = torch.rand(shape, generator=generator, dtype=dtype) * 0.5 + 0.5  # decays in [0.5, 1)
    b = torch.randn(batch, seq_len, hidden, generator=generator, dtype=dtype)
    if p.complex:
        phase = torch.rand(shape, generator=generator, dtype=dtype) * 2 * math.pi
        a = torch.polar(a, phase)
        b = torch.complex(b, torch.randn(b.shape, generator=generator, dtype=dtype))
    return {"a": a, "b": b}


register(
    Op(
        NAME,
        linear_recurrence,
        FORMS,
        Params,
        example,
        "h_t = a_t ⊙ h_{t−1} + b_t",
        "Blelloch (1990); Heinsen (2023), arXiv:2311.06281 (log_scan)",
    )
)
