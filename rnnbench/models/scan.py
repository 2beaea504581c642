"""Parallel-in-time primitives for linear recurrences h_t = a_t ⊙ h_{t-1} + b_t (along
axis 1 of ``(B, T, ...)`` tensors), each with a plain loop twin that the tests compare
it with.

- :func:`log_scan`: the log-space scan of Heinsen (2023), for a, b > 0:
  a*_t = Σ_{s≤t} log a_s,  log h_t = a*_t + logcumsumexp_t(log b_t - a*_t),
  with h_0 entering as one more term before b_1 (``log_h0``; none means h_0 = 0).
- :func:`linear_scan`: any a, b (real or complex), chunked: a Hillis–Steele doubling
  scan inside chunks of ``chunk`` steps (log2(chunk) passes, only products of a and
  sums, so nothing overflows), then the same over the chunks' end states, then one
  pass that adds each chunk's incoming state. O(T log chunk) work in
  O(log chunk + log(T / chunk)) vectorised passes instead of T sequential steps.
"""

from __future__ import annotations

import torch


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: torch.Tensor | None = None) -> torch.Tensor:
    """h ``(B, T, ...)`` from log a and log b of the same shape, and log h_0 ``(B, ...)`` or None."""
    a_star = log_a.cumsum(1)  # (B, T, ...)
    terms = log_b - a_star
    if log_h0 is not None:
        terms = torch.cat([log_h0.unsqueeze(1), terms], 1)  # h_0 is the term before b_1
        return (a_star + torch.logcumsumexp(terms, 1)[:, 1:]).exp()
    return (a_star + torch.logcumsumexp(terms, 1)).exp()


def log_scan_loop(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: torch.Tensor | None = None) -> torch.Tensor:
    """The loop twin of :func:`log_scan` (tests only)."""
    h = log_h0.exp() if log_h0 is not None else torch.zeros_like(log_b[:, 0])
    out = []
    for la, lb in zip(log_a.unbind(1), log_b.unbind(1)):
        h = la.exp() * h + lb.exp()
        out.append(h)
    return torch.stack(out, 1)


def _doubling(a: torch.Tensor, b: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hillis–Steele along ``dim``: the cumulative products of a, and the states from zero."""
    T, offset = a.shape[dim], 1
    while offset < T:
        n = T - offset
        b = torch.cat([b.narrow(dim, 0, offset), a.narrow(dim, offset, n) * b.narrow(dim, 0, n)
                       + b.narrow(dim, offset, n)], dim)
        a = torch.cat([a.narrow(dim, 0, offset), a.narrow(dim, offset, n) * a.narrow(dim, 0, n)], dim)
        offset *= 2
    return a, b


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, chunk: int = 16) -> torch.Tensor:
    """h ``(B, T, ...)`` for h_t = a_t h_{t-1} + b_t; ``a`` broadcasts against ``b``; h_0 ``(B, ...)`` or None."""
    a = a.expand_as(b)
    B, T, rest = b.shape[0], b.shape[1], b.shape[2:]
    C = min(chunk, T)
    pad = (-T) % C
    if pad:  # a = 1, b = 0 after the end leaves the states unchanged
        a = torch.cat([a, a.new_ones(B, pad, *rest)], 1)
        b = torch.cat([b, b.new_zeros(B, pad, *rest)], 1)
    n = (T + pad) // C
    prod, states = _doubling(a.reshape(B, n, C, *rest), b.reshape(B, n, C, *rest), 2)  # within each chunk
    ends_a, ends = prod[:, :, -1], states[:, :, -1]  # (B, n, ...)
    if h0 is not None:  # h_0 enters the first chunk's end state
        ends = torch.cat([(ends_a[:, :1] * h0.unsqueeze(1) + ends[:, :1]), ends[:, 1:]], 1)
    _, carried = _doubling(ends_a, ends, 1)  # the state at each chunk's end
    first = (h0 if h0 is not None else torch.zeros_like(ends[:, 0])).unsqueeze(1)
    incoming = torch.cat([first, carried[:, :-1]], 1)  # (B, n, ...): the state entering each chunk
    h = states + prod * incoming.unsqueeze(2)
    return h.reshape(B, n * C, *rest)[:, :T]


def linear_scan_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The loop twin of :func:`linear_scan` (tests only)."""
    a = a.expand_as(b)
    h = h0 if h0 is not None else torch.zeros_like(b[:, 0])
    out = []
    for at, bt in zip(a.unbind(1), b.unbind(1)):
        h = at * h + bt
        out.append(h)
    return torch.stack(out, 1)
