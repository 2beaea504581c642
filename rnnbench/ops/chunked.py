"""The blocked (reduce-then-scan) scan of a diagonal linear recurrence, without autograd:
the engine of :func:`rnnbench.ops.linear_recurrence`'s ``"chunk"`` form and of its
hand-written backward (DESIGN.md, section 6b).

A sequence ``(B, T, F)`` is laid out as ``(C, B, n, F)``: n = ⌈T/C⌉ chunks of C steps,
step j of every chunk one contiguous ``(B, n, F)`` slab (contiguous slabs run 3-4× faster
than strided ones on a CPU). Then, for h_t = a_t ⊙ h_{t−1} + b_t:

1. every chunk's recurrence from zero, all chunks at once (C steps on ``(B, n, F)`` slabs),
   with the product of its a: the chunk's end state e_k and total decay P_k;
2. the carry, n small steps: s_{k+1} = P_k ⊙ s_k + e_k from s_0 = h_0;
3. every chunk again from its carried state, writing the states over the chunked b (b_j
   is read just before h_j takes its place, so no third buffer).

3C + n vectorised multiply-adds instead of T, and only multiply-adds: exact for any sign
of a and b, and for complex values. Padding after T is a = 1, b = 0, which leaves the
state unchanged, so the last padded state is h_T and no pass is spent on it.

Passes over memory, not steps, are what it costs at long T (a full pass over (16, 1024, 64)
is 0.3-3 ms on this project's 2-core VM, depending on what is in cache): the layout copies
are one pass each, the two scans two each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def n_chunks(T: int, C: int) -> int:
    return -(-T // C)


def to_chunks(x: torch.Tensor, C: int, fill: float = 0.0) -> torch.Tensor:
    """``(B, T, F)`` (any strides, e.g. expanded) -> ``(C, B, n, F)`` contiguous, positions
    after T set to ``fill``; one copy, written in the destination's order."""
    return map_to_chunks(_copy, x, C=C, fill=fill)


def map_to_chunks(op: Callable[..., Any], *xs: torch.Tensor, C: int, fill: float = 0.0) -> torch.Tensor:
    """``op(*xs, out=...)`` of ``(B, T, F)`` tensors written straight into the layout
    ``(C, B, n, F)``, positions after T set to ``fill``: the bits of ``to_chunks(op(*xs), C,
    fill)`` for an elementwise op (its rounding does not depend on where it writes), in one
    pass instead of two."""
    B, T, F = xs[0].shape
    n, full = n_chunks(T, C), T // C
    out = xs[0].new_empty(C, B, n, F)
    if full:
        op(*(x[:, : full * C].reshape(B, full, C, F) for x in xs), out=out[:, :, :full].permute(1, 2, 0, 3))
    rest = T - full * C
    if rest:
        op(*(x[:, full * C :] for x in xs), out=out[:rest, :, full].transpose(0, 1))
        out[rest:, :, full].fill_(fill)
    return out


def _copy(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return out.copy_(x)


def from_chunks(h: torch.Tensor, T: int) -> torch.Tensor:
    """``(C, B, n, F)`` -> ``(B, T, F)`` contiguous, dropping the padding; one copy."""
    C, B, n, F = h.shape
    full = T // C
    out = h.new_empty(B, T, F)
    view = h.permute(1, 2, 0, 3)  # (B, n, C, F)
    if full:
        out[:, : full * C].view(B, full, C, F).copy_(view[:, :full])
    rest = T - full * C
    if rest:
        out[:, full * C :].copy_(view[:, full, :rest])
    return out


Steps = Sequence[torch.Tensor]  # one (B, n, F) slab per chunk step, or a time-invariant (Ba, 1, F) decay


def decays(a: torch.Tensor, C: int) -> Steps:
    """a_j at every chunk step j: the slabs of chunked ``a``, or a time-invariant a C times."""
    return (a,) * C if a.dim() != 4 else a.unbind(0)


def scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """The states ``(C, B, n, F)`` of h_t = a_t ⊙ h_{t−1} + b_t over chunked ``b``, written
    over ``b``; ``a`` is chunked like ``b`` or time-invariant ``(Ba, 1, F)`` (Ba ∈ {1, B});
    ``h0`` ``(B, F)`` or None."""
    C, invariant = b.shape[0], a.dim() != 4
    a_steps, b_steps = decays(a, C), b.unbind(0)  # views made once: indexing in the loop costs a dispatch
    e, p = local(a_steps, b_steps, invariant)
    rerun(a_steps, b_steps, carry(e, p, h0, invariant), b_steps)
    return b


def local(a: Steps, b: Steps, invariant: bool, reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Every chunk's recurrence from zero, all chunks at once: end states e ``(B, n, F)`` (in
    reverse: the states at each chunk's first step, running from its last) and total decays
    p (``(B, n, F)``, or ``(Ba, 1, F)`` for a time-invariant a: a^C)."""
    order = range(len(b) - 1, -1, -1) if reverse else range(len(b))
    first, *rest = order
    e = b[first]
    if invariant:
        p = a[0]
        for j in rest:
            e = torch.addcmul(b[j], a[j], e)
            p = p * a[0]
        return e, p
    p = a[first].clone()
    for j in rest:  # one loop, so each a_j slab is read once while it is in cache
        e = torch.addcmul(b[j], a[j], e)
        p.mul_(a[j])
    return e, p


def carry(e: torch.Tensor, p: torch.Tensor, h0: torch.Tensor | None, invariant: bool, reverse: bool = False) -> torch.Tensor:
    """The state entering each chunk ``(B, n, F)``: s_{k+1} = p_k ⊙ s_k + e_k from s_0 = h0
    (or zero), n small steps written in place (in reverse: from the last chunk); p is
    ``(B, n, F)``, or ``(Ba, 1, F)`` for a time-invariant decay (a^C)."""
    n = e.shape[1]
    entering = torch.empty_like(e)
    # views made once (one dispatch each) rather than indexed per step (three per step)
    es, into = e.unbind(1), entering.unbind(1)
    ps = (p[:, 0],) * n if invariant else p.unbind(1)
    chunks = list(range(n - 1, -1, -1) if reverse else range(n))
    if h0 is None:
        into[chunks[0]].zero_()
    else:
        into[chunks[0]].copy_(h0)
    for prev, k in zip(chunks, chunks[1:]):
        torch.addcmul(es[prev], ps[prev], into[prev], out=into[k])
    return entering


def rerun(a: Steps, b: Steps, entering: torch.Tensor, out: Steps, reverse: bool = False) -> None:
    """Every chunk again from its entering state, writing step j's states into ``out[j]``
    (which may be ``b[j]``: it is read first)."""
    state = entering
    for j in range(len(b) - 1, -1, -1) if reverse else range(len(b)):
        state = torch.addcmul(b[j], a[j], state, out=out[j])


def next_first(a: torch.Tensor) -> torch.Tensor:
    """a at the first step of the next chunk, ``(B, n, F)`` from chunked ``a`` (zero after the last)."""
    out = torch.zeros_like(a[0])
    out[:, :-1].copy_(a[0, :, 1:])
    return out


def prev_last(h: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """h at the last step of the previous chunk, ``(B, n, F)`` from chunked ``h`` (h0, or zero, before the first)."""
    out = torch.empty_like(h[0])
    out[:, 1:].copy_(h[-1, :, :-1])
    if h0 is None:
        out[:, 0].zero_()
    else:
        out[:, 0].copy_(h0)
    return out
