"""Shared parts of minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024,
"Were RNNs All We Needed?", arXiv:2410.01201): the candidate activation g, its logarithm,
stacking, the fused native layer, and the FLOP count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.models.contract import linear_init
from rnnbench.models.stack import Stack
from rnnbench.ops import native


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
