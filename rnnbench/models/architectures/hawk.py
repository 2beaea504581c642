"""Hawk: Griffin's recurrent block with the RG-LRU (De, Smith, Fernando, Botev, Cristian-Muraru,
Gu, Haroun, Berrada, Chen, Srinivasan, Desjardins, Doucet, Budden, Teh, Pascanu, de Freitas &
Gulcehre 2024, "Griffin: Mixing Gated Linear Recurrences with Local Attention for Efficient
Language Models", arXiv:2402.19427; google-deepmind/recurrentgemma ``torch/layers.py``
``RGLRU``, ``rnn_scan``, ``Conv1D`` and ``torch/modules.py`` ``RecurrentBlock``,
``MLPBlock``, ``ResidualBlock``).

The RG-LRU, on x ``(B, T, W)``: r_t = σ(W_a x_t + b_a), i_t = σ(W_x x_t + b_x) (W_a, W_x
block-diagonal, ``num_heads`` blocks), log a_t = −8·r_t·softplus(Λ),

h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ x_t),

and, as the authors' code resets the state at a sequence's first position, that step is
h = i ⊙ x (no decay, no √ scaling). The gradient of the √ is bounded as their
``SqrtBoundDerivative`` bounds it: d√u/du = 1/√(max(4u, 10⁻⁶)), at most 1000.

The residual block: u ← u + W_out[GELU(W_y v) ⊙ RG-LRU(Conv1D₄(W_x v))], v = RMSNorm(u);
then u ← u + W_down(GELU(g) ⊙ e), (g, e) = W_up RMSNorm(u), the MLP of width
``mlp_ratio``·D; GELU with the tanh approximation, RMSNorm x/√(mean x² + 10⁻⁶)·(1 + s).
An input encoder Linear(I, D) comes first (the embedding) and an RMSNorm last. The state per
layer: the conv window (the last conv_width − 1 inputs of the conv) and h, ``(B, W)``; a
carried state is a sequence continued (no reset).

Initialisation as the authors' code: Λ such that softplus(Λ) = −log ρ, ρ² ~ U[0.9², 0.999²]
(a = ρ^(8r)); the gates' blocks N(0, 1/block width), zero bias; W_x, W_y N(0, 1/D), W_out
N(0, (2/L)/W), the conv N(0, 0.01/conv_width) with zero bias; W_up N(0, 1/D), W_down
N(0, (2/L)/(r·D)), all their biases zero; the encoder N(0, 1/D) (their embedding), zero bias;
RMSNorm scales s = 0.

``reference`` runs the recurrence one step at a time (their ``rnn_scan``); ``chunk`` runs it
with :func:`rnnbench.ops.linear_recurrence` (form ``"chunk"``), the diagonal linear
recurrence with a = a_t and b = √(1 − a_t²) ⊙ i_t ⊙ x_t;
``native`` the same op as a C++ CPU kernel built at first use (form ``"native"``,
:mod:`rnnbench.ops.native`: it needs a C++ compiler).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.models.contract import Architecture, ArchParams, draw, register
from rnnbench.models.stack import Stack
from rnnbench.ops import linear_recurrence, native

MAX_SQRT_GRADIENT = 1000.0
Scan = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 4  # blocks of the gates' block-diagonal weights
    lru_width: int = 0  # W; 0: the hidden size
    mlp_ratio: int = 3
    conv_width: int = 4
    r_min: float = 0.9  # ρ ∈ [r_min, r_max]
    r_max: float = 0.999

    def validate(self) -> None:
        super().validate()
        require(self.lru_width >= 0, f"model.lru_width={self.lru_width} is impossible; use 0 (the hidden size) or more")
        W = self.width
        require(
            self.num_heads >= 1 and W % self.num_heads == 0,
            f"model.num_heads={self.num_heads} does not divide the RG-LRU width {W}; use one of: "
            + ", ".join(str(n) for n in range(1, W + 1) if W % n == 0),
        )
        require(self.mlp_ratio >= 1, f"model.mlp_ratio={self.mlp_ratio} is impossible; use 1 or more")
        require(self.conv_width >= 1, f"model.conv_width={self.conv_width} is impossible; use 1 or more")
        require(
            0 < self.r_min < self.r_max < 1,
            f"model.r_min={self.r_min}, model.r_max={self.r_max} are impossible; use 0 < r_min < r_max < 1",
        )

    @property
    def width(self) -> int:
        return self.lru_width or self.hidden_size


class SqrtBoundDerivative(torch.autograd.Function):
    """√u, whose gradient 1/(2√u) is bounded by 1000 (the authors' ``SqrtBoundDerivative``)."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        return torch.sqrt(u)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (u,) = ctx.saved_tensors
        return grad / torch.sqrt(torch.clamp(4.0 * u, min=1 / MAX_SQRT_GRADIENT**2))


def scan_reference(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    return linear_recurrence(a, b, h0, form="recurrent")


def scan_chunk(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    return linear_recurrence(a, b, h0, form="chunk")


def scan_native(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    return linear_recurrence(a, b, h0, form="native")


class RMSNormGriffin(nn.Module):
    """x / √(mean(x²) + 10⁻⁶) · (1 + s), s initialised to 0 (the authors' RMSNorm)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (self.scale + 1)


class BlockDiagonal(nn.Module):
    """y = x W + b with W block-diagonal: ``num_blocks`` blocks (the authors' BlockDiagonalLinear)."""

    def __init__(self, width: int, num_blocks: int) -> None:
        super().__init__()
        self.blocks = num_blocks
        self.w = nn.Parameter(torch.zeros(num_blocks, width // num_blocks, width // num_blocks))  # [block, in, out]
        self.b = nn.Parameter(torch.zeros(num_blocks, width // num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = x.view(*x.shape[:-1], self.blocks, -1)  # (B, T, blocks, in)
        return (torch.einsum("...hi,hij->...hj", xb, self.w) + self.b).flatten(-2)


class RGLRU(nn.Module):
    """The RG-LRU; ``forward(x, h0, first)``: ``first`` when x starts a sequence (the reset)."""

    def __init__(self, p: Params, scan: Scan) -> None:
        super().__init__()
        self.scan = scan
        self.a_param = nn.Parameter(torch.zeros(p.width))  # Λ
        self.input_gate = BlockDiagonal(p.width, p.num_heads)
        self.a_gate = BlockDiagonal(p.width, p.num_heads)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None, first: bool) -> tuple[torch.Tensor, torch.Tensor]:
        gate_x = torch.sigmoid(self.input_gate(x))  # i_t (B, T, W)
        gate_a = torch.sigmoid(self.a_gate(x))  # r_t
        log_a = -8.0 * gate_a * F.softplus(self.a_param)
        a = torch.exp(log_a)
        multiplier = SqrtBoundDerivative.apply(1 - torch.exp(2 * log_a))  # √(1 − a²)
        if first:  # the first position: h = i ⊙ x (a = 0, no scaling), as the authors' reset
            a = torch.cat([torch.zeros_like(a[:, :1]), a[:, 1:]], 1)
            multiplier = torch.cat([torch.ones_like(multiplier[:, :1]), multiplier[:, 1:]], 1)
        return self.scan(a, x * gate_x * multiplier, h0)


def causal_conv(window: torch.Tensor, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y_t = Σ_k w[k] ⊙ x_{t−K+1+k} + b (the authors' Conv1D) on x ``(B, T, W)`` after ``window``
    ``(B, W, K − 1)``, the inputs before it (zeros before a sequence's start); returns y and the
    new window."""
    K, W = w.shape
    xc = torch.cat([window, x.transpose(1, 2)], 2)  # (B, W, K − 1 + T)
    y = F.conv1d(xc, w.T.unsqueeze(1), b, groups=W).transpose(1, 2)  # (B, T, W)
    return y, xc[:, :, xc.shape[2] - (K - 1) :]


class HawkLayer(nn.Module):
    """Griffin's residual block with the recurrent temporal block; state (conv window ``(B, W,
    conv_width − 1)``, h ``(B, W)``)."""

    def __init__(self, p: Params, scan: Scan) -> None:
        super().__init__()
        D, W = p.hidden_size, p.width
        self.kernel = p.conv_width
        self.temporal_norm = RMSNormGriffin(D)
        self.linear_y = nn.Linear(D, W)
        self.linear_x = nn.Linear(D, W)
        self.conv_w = nn.Parameter(torch.zeros(p.conv_width, W))  # [shift, channel]: w[K − 1] meets x_t
        self.conv_b = nn.Parameter(torch.zeros(W))
        self.rg_lru = RGLRU(p, scan)
        self.linear_out = nn.Linear(W, D)
        self.channel_norm = RMSNormGriffin(D)
        self.ffw_up = nn.Linear(D, 2 * p.mlp_ratio * D)
        self.ffw_down = nn.Linear(p.mlp_ratio * D, D)

    def forward(
        self, u: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, _ = u.shape
        K, W = self.kernel, self.conv_w.shape[1]
        v = self.temporal_norm(u)
        y = F.gelu(self.linear_y(v), approximate="tanh")  # (B, T, W)
        x = self.linear_x(v)
        window, h0 = state if state is not None else (x.new_zeros(B, W, K - 1), None)
        x, window = causal_conv(window, x, self.conv_w, self.conv_b)
        h, h_last = self.rg_lru(x, h0, first=state is None)
        u = u + self.linear_out(h * y)
        g, e = self.ffw_up(self.channel_norm(u)).chunk(2, dim=-1)
        u = u + self.ffw_down(F.gelu(g, approximate="tanh") * e)
        return u, (window, h_last)


def build(scan: Scan) -> Callable[[int, Params], nn.Module]:
    def factory(input_size: int, p: Params) -> nn.Module:
        return Stack(
            [HawkLayer(p, scan) for _ in range(p.num_layers)],
            encoder=nn.Linear(input_size, p.hidden_size),
            final=RMSNormGriffin(p.hidden_size),
        )

    return factory


def ring_init(width: int, p: Params, generator: torch.Generator) -> torch.Tensor:
    """Λ with softplus(Λ) = −log ρ, ρ² ~ U[r_min², r_max²] (the authors' ``rnn_param_init``)."""
    rho_sq = draw((width,), generator, "uniform", p.r_min**2 + 1e-8, p.r_max**2 + 1e-8)
    log_rho = 0.5 * rho_sq.log()
    return torch.log(torch.exp(-log_rho) - 1.0)  # softplus⁻¹(−log ρ)


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    D, W = p.hidden_size, p.width
    final_scale = 2.0 / p.num_layers

    def normal(t: torch.Tensor, variance: float) -> None:
        t.copy_(draw(t.shape, generator, "normal", 0.0, math.sqrt(variance)))

    with torch.no_grad():
        normal(core.encoder.weight, 1 / D)
        core.encoder.bias.zero_()
        for layer in core.layers:
            for lin, variance in (
                (layer.linear_x, 1 / D),
                (layer.linear_y, 1 / D),
                (layer.linear_out, final_scale / W),
                (layer.ffw_up, 1 / D),
                (layer.ffw_down, final_scale / (p.mlp_ratio * D)),
            ):
                normal(lin.weight, variance)
                lin.bias.zero_()
            normal(layer.conv_w, 0.01 / p.conv_width)
            layer.conv_b.zero_()
            for gate in (layer.rg_lru.input_gate, layer.rg_lru.a_gate):
                normal(gate.w, 1 / (W // p.num_heads))
                gate.b.zero_()
            layer.rg_lru.a_param.copy_(ring_init(W, p, generator))
            layer.temporal_norm.scale.zero_()
            layer.channel_norm.scale.zero_()
        core.final.scale.zero_()


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D + D, the final RMSNorm 4D; per layer and token: RMSNorms
    2·4D, W_y and W_x 4·D·W + 2W, GELU 8W, the conv 2·K·W + W, the gates' blocks 2·2·W·(W/heads)
    + 2W, their σ 8W, log a 3W, a and a² 2W, √(1 − a²) 2W, i ⊙ x ⊙ √ 2W, the recurrence 2W, the
    branch product W, W_out 2·W·D + D, the residuals 2D, the MLP 4·D·rD + 2rD, GELU 8rD, its gate
    rD and W_down 2·rD·D + D."""
    D, W, r, K = p.hidden_size, p.width, p.mlp_ratio, p.conv_width
    per_layer = (
        8 * D
        + 4 * D * W
        + 2 * W
        + 8 * W
        + 2 * K * W
        + W
        + 4 * W * (W // p.num_heads)
        + 2 * W
        + 8 * W
        + 3 * W
        + 2 * W
        + 2 * W
        + 2 * W
        + 2 * W
        + W
        + 2 * W * D
        + D
        + 2 * D
        + 4 * D * r * D
        + 2 * r * D
        + 8 * r * D
        + r * D
        + 2 * r * D * D
        + D
    )
    return batch * length * (2 * input_size * D + D + 4 * D + p.num_layers * per_layer)


ARCH = register(
    Architecture(
        name="hawk",
        title="Hawk (Griffin's RG-LRU block)",
        citation="De, Smith, Fernando, Botev, Cristian-Muraru, Gu, Haroun, Berrada, Chen, Srinivasan, Desjardins, "
        "Doucet, Budden, Teh, Pascanu, de Freitas & Gulcehre (2024), arXiv:2402.19427",
        Params=Params,
        implementations={"reference": build(scan_reference), "chunk": build(scan_chunk), "native": build(scan_native)},
        requires={"native": native.unavailable},
        init=init,
        flops=flops,
        state_size=lambda p, length: p.num_layers * p.width * p.conv_width,  # the conv window (K − 1) and h
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * p.mlp_ratio * p.hidden_size),
        step_seconds=8e-5,
        equations="h_t = a_t⊙h_{t−1} + √(1 − a_t²)⊙(i_t⊙x_t), log a_t = −8·r_t·softplus(Λ), r, i = σ(block-diag W x)",
        defaults={"cpu": "chunk", "cuda": "chunk"},
        rank=51,
    )
)
