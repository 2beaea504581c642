"""Shared parts of minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024,
"Were RNNs All We Needed?", arXiv:2410.01201): the candidate activation g, its logarithm,
stacking, the fused layers (the chunk form's gates in one autograd node, the native C++
kernel), and the FLOP count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.models.contract import linear_init
from rnnbench.models.stack import Stack
from rnnbench.ops import chunked, linear, native
from rnnbench.ops.base import chunk_size, require_same_kind, require_tensor


def g(v: torch.Tensor) -> torch.Tensor:
    """v + 0.5 for v ≥ 0, σ(v) otherwise: continuous, positive, so h stays positive."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v >= 0, (F.relu(v) + 0.5).log(), -F.softplus(-v))


class MinLayer(nn.Module):
    """One layer: ``proj`` (Linear(in, gates·H)) and a recurrence ``mix(parts, h0) -> h`` (or
    ``mix(u, h0)`` on the whole projection u when ``mix.whole``, a fused kernel that writes u's
    gradient in one piece); layers after the first add their input back (a residual connection; the paper's language
    models also add normalisation and an MLP, which are not part of the recurrence)."""

    def __init__(self, input_size: int, hidden_size: int, gates: int, mix: Callable[..., torch.Tensor], residual: bool) -> None:
        super().__init__()
        self.hidden_size, self.mix, self.residual = hidden_size, mix, residual
        self.proj = nn.Linear(input_size, gates * hidden_size)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.proj(x)
        if getattr(self.mix, "whole", False):
            h = self.mix(u, h0)
        else:
            h = self.mix(u.chunk(self.proj.out_features // self.hidden_size, dim=-1), h0)  # parts (B, T, H) each
        return (x + h if self.residual else h), h[:, -1]


def native_mix(kind: str) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """The gates and the recurrence of ``kind`` (``mingru``, ``minlstm``) in one pass of the native
    C++ kernel (:mod:`rnnbench.ops.native`), from the whole projection u ``(B, T, gates·H)``."""

    def run(u: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        native.check_tensors(f"{kind} native", {"u": u, "h0": h0})
        return _Fused.apply(kind, u, h0)

    run.whole = True  # type: ignore[attr-defined]  # MinLayer passes the projection unsplit
    return run


class _Fused(torch.autograd.Function):
    """A fused layer as one autograd node: the kernel reads the gate pre-activations in place and
    writes h; its backward recomputes the gates rather than keeping them, and writes the
    projection's gradient in one piece (no concatenation of the parts' gradients)."""

    @staticmethod
    def forward(ctx: Any, kind: str, u: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        u = u if u.stride(-1) == 1 else u.contiguous()
        h0 = None if h0 is None else h0.contiguous()
        h = getattr(native.ops(), f"{kind}_forward")(u, h0)
        ctx.save_for_backward(u, h, h0)
        ctx.kind = kind
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, h, h0 = ctx.saved_tensors
        du, dh0 = getattr(native.ops(), f"{ctx.kind}_backward")(g.contiguous(), u, h, h0)
        return None, du, dh0 if h0 is not None else None


def g_fast(v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """g(v) from v and s = σ(v), equal to :func:`g` bit for bit: max(v + 0.5, σ(v)), since
    v + 0.5 ≥ σ(v) exactly when v ≥ 0 (σ lies below its tangent 0.5 + v/4 there and above it
    for v < 0); vectorised, where ``torch.where`` is a scalar loop on a CPU (3.4 ms against
    0.3 ms over (16, 1024, 64) here)."""
    return torch.maximum(v + 0.5, s)


def g_backward(grad: torch.Tensor, v: torch.Tensor, s: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """∂g(v) into ``out``, the bits autograd gives :func:`g`: grad where v ≥ 0, σ's backward
    (grad (1 − s) s) elsewhere, picked by a lerp with weight 0 or 1 (exact for finite values)."""
    sig = torch.ops.aten.sigmoid_backward(grad, s)
    step = torch.ge(v, 0, out=torch.empty_like(s))  # 1.0 or 0.0, written as floats (a bool tensor's cast is 4x slower)
    return torch.lerp(sig, grad, step, out=out)


def chunk_mix(kind: str) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """The gates and the recurrence of ``kind`` (``mingru``, ``minlstm``) as one autograd node over
    the chunk form of :func:`rnnbench.ops.linear_recurrence`, from the whole projection u
    ``(B, T, gates·H)``: the gates are computed in its forward (σ's and g(v) kept for the
    backward, minLSTM's i' recomputed), g(v) without ``torch.where``'s scalar loop, and the
    backward writes u's gradient in one piece (no split and concatenation). Its values and
    gradients are those of the gates composed with the op under autograd (``mix("chunk")``), bit
    for bit (tests/models/test_minrnn_fused.py)."""
    fn = {"mingru": _MinGRUChunk, "minlstm": _MinLSTMChunk}[kind]

    def run(u: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        B, T, W = u.shape
        if h0 is not None:
            require_tensor(kind, "h0", h0, shape=(B, W // fn.gates), meaning="(B, H)")
            require_same_kind(kind, {"u": u, "h0": h0})
        return fn.apply(u, h0, chunk_size(T, None, linear.NAME))

    run.whole = True  # type: ignore[attr-defined]  # MinLayer passes the projection unsplit
    return run


def _one_minus(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.sub(1, z, out=out)


class _MinGRUChunk(torch.autograd.Function):
    """minGRU's a = 1 − σ(k), b = σ(k) ⊙ g(v) and the chunk scan; u = [k, v] ``(B, T, 2H)``."""

    gates = 2

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, h0: torch.Tensor | None, C: int) -> torch.Tensor:
        H = u.shape[-1] // 2
        k, v = u[..., :H], u[..., H:]
        z, s = torch.sigmoid(k), torch.sigmoid(v)
        gv = g_fast(v, s)
        A = chunked.map_to_chunks(_one_minus, z, C=C, fill=1.0)  # 1 − z, written in the scan's layout
        h = chunked.from_chunks(chunked.scan(A, chunked.map_to_chunks(torch.mul, gv, z, C=C), h0), u.shape[1])
        ctx.save_for_backward(u, z, s, gv, A, h, h0)  # gv kept: recomputing it is two passes
        ctx.C = C
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, z, s, gv, A, h, h0 = ctx.saved_tensors
        H = u.shape[-1] // 2
        v = u[..., H:]
        delta, grad_a, grad_h0 = linear.chunk_backward(A, h, h0, grad, ctx.C, tuple(h.shape), True, ctx.needs_input_grad[1])
        du = torch.empty_like(u)
        dz = (delta * gv).sub_(grad_a)  # ∂b ⊙ g(v) + (−∂a): autograd's two paths into z
        torch.ops.aten.sigmoid_backward.grad_input(dz, z, grad_input=du[..., :H])
        g_backward(delta.mul_(z), v, s, du[..., H:])  # ∂g = ∂b ⊙ z
        return du, grad_h0, None


class _MinLSTMChunk(torch.autograd.Function):
    """minLSTM's f' = f / (f + i), i' = i / (f + i) (f = σ(k_f), i = σ(k_i)), b = i' ⊙ g(v) and
    the chunk scan; u = [k_f, k_i, v] ``(B, T, 3H)``. The backward follows autograd's formulas
    (∂(x/y)/∂y as −grad ⊙ ((x/y)/y)) so that its bits are autograd's."""

    gates = 3

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, h0: torch.Tensor | None, C: int) -> torch.Tensor:
        H = u.shape[-1] // 3
        kf, ki, v = u[..., :H], u[..., H : 2 * H], u[..., 2 * H :]
        f, i, s = torch.sigmoid(kf), torch.sigmoid(ki), torch.sigmoid(v)
        total = f + i
        gv = g_fast(v, s)
        A = chunked.map_to_chunks(torch.div, f, total, C=C, fill=1.0)  # f' = f / total, in the scan's layout
        h = chunked.from_chunks(chunked.scan(A, chunked.map_to_chunks(torch.mul, i / total, gv, C=C), h0), u.shape[1])
        ctx.save_for_backward(u, f, i, total, s, gv, A, h, h0)
        ctx.C = C
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, f, i, total, s, gv, A, h, h0 = ctx.saved_tensors
        H = u.shape[-1] // 3
        v = u[..., 2 * H :]
        delta, grad_a, grad_h0 = linear.chunk_backward(A, h, h0, grad, ctx.C, tuple(h.shape), True, ctx.needs_input_grad[1])
        du = torch.empty_like(u)
        i_ = i / total
        grad_i_ = delta * gv  # ∂(i') = ∂b ⊙ g(v)
        g_backward(delta.mul_(i_), v, s, du[..., 2 * H :])  # ∂g = ∂b ⊙ i'
        # ∂total = −(∂a ⊙ (f/total)/total) − ∂i' ⊙ i'/total, from a = f/total and i' = i/total, kept
        # un-negated (rounding is symmetric, so −x − y = −(x + y) bit for bit); each numerator's
        # own share is grad / total
        minus_total = (grad_a * ((f / total) / total)).add_(grad_i_ * (i_ / total))
        grad_f = (grad_a / total).sub_(minus_total)
        grad_i = (grad_i_ / total).sub_(minus_total)
        torch.ops.aten.sigmoid_backward.grad_input(grad_f, f, grad_input=du[..., :H])
        torch.ops.aten.sigmoid_backward.grad_input(grad_i, i, grad_input=du[..., H : 2 * H])
        return du, grad_h0, None


def factory(gates: int, mix: Callable[..., torch.Tensor]) -> Callable[[int, Any], nn.Module]:
    """An implementation: ``num_layers`` layers of ``gates`` projections mixed by ``mix``."""

    def build(input_size: int, p: Any) -> nn.Module:
        return Stack(
            [
                MinLayer(input_size if i == 0 else p.hidden_size, p.hidden_size, gates, mix, residual=i > 0)
                for i in range(p.num_layers)
            ]
        )

    return build


def init(core: nn.Module, p: Any, generator: torch.Generator) -> None:
    for layer in core.layers:
        linear_init(layer.proj, generator)


def flops(gates: int, elementwise: int) -> Callable[[Any, int, int, int], int]:
    """The projection 2·in·(gates·H) plus ``elementwise``·H per token and layer (+H for residuals)."""

    def count(p: Any, batch: int, length: int, input_size: int) -> int:
        H = p.hidden_size
        per_token = sum(
            2 * (input_size if i == 0 else H) * gates * H + elementwise * H + (H if i > 0 else 0) for i in range(p.num_layers)
        )
        return batch * length * per_token

    return count
