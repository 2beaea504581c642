"""xLSTM's mLSTM (Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer, Brandstetter &
Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory", arXiv:2405.04517), as NX-AI/xlstm's
``blocks/mlstm/layer.py`` and ``cell.py`` build the layer and ``xlstm_block.py`` the block
(its defaults: proj_factor 2, conv width 4, q/k/v block size 4, 4 heads, no bias).

Per layer, on u ``(B, T, D)`` with inner width E = proj_factor·D in H heads of E/H:

    x = LayerNorm(u),  x_m, z = proj_up(x)  (E each),
    c = SiLU(conv(x_m))  (causal depthwise, width conv_size, with bias),
    q, k = W_q c, W_k c;  v = W_v x_m  (block-diagonal maps of blocks qkv_blocksize),
    ĩ, f̃ = W_i [q, k, v] + b_i, W_f [q, k, v] + b_f  (one gate per head),
    h̃ = mLSTM(q, k, v, ĩ, f̃)  (:func:`rnnbench.ops.mlstm`: the stabilised recurrence, keys / √(E/H)),
    out = u + proj_down((MultiHeadLayerNorm(h̃) + skip ⊙ c) ⊙ SiLU(z)).

Its LayerNorms have no bias and a weight stored as an offset from 1 (xlstm's
``residual_weight``: the weight is 1 + w, w = 0 at initialisation). An encoder Linear(I, D)
comes first and a LayerNorm last (xlstm's post-blocks norm).

Initialisation as the authors': proj_up and the q, k, v maps N(0, 2/(5D)) ("small init"),
proj_down N(0, (2/(L·√D))²) with L = num_layers ("wang init"), the gates' weights 0, the forget
bias linspace(3, 6) over heads, the input bias N(0, 0.1²), the skip 1, the conv PyTorch's default.
xlstm rounds E up to a multiple of 64; rnnbench takes proj_factor·D as it is.

Implementations: ``reference`` (the op one step at a time, xlstm's
``recurrent_step_stabilized_simple``) and ``chunk`` (its chunk form; the default on CPU).
State per layer: the conv window ``(B, E, conv_size − 1)`` and (C ``(B, H, K, V)``, n
``(B, H, K)``, m ``(B, H)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams
from rnnbench.ops import mlstm


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 4
    proj_factor: float = 2.0
    conv_size: int = 4
    qkv_blocksize: int = 4

    @property
    def inner(self) -> int:
        return round(self.proj_factor * self.hidden_size)

    def validate(self) -> None:
        super().validate()
        require(self.proj_factor > 0, f"model.proj_factor={self.proj_factor} must be positive")
        for name in ("num_heads", "conv_size", "qkv_blocksize"):
            require(getattr(self, name) >= 1, f"model.{name}={getattr(self, name)} is impossible; use 1 or more")
        require(
            self.inner % self.num_heads == 0 and self.inner % self.qkv_blocksize == 0,
            f"the inner width proj_factor·hidden_size = {self.inner} must be a multiple of model.num_heads="
            f"{self.num_heads} and of model.qkv_blocksize={self.qkv_blocksize}",
        )


class XLayerNorm(nn.Module):
    """xlstm's LayerNorm: no bias, weight 1 + w (w = 0 at initialisation), eps 1e−5; over the
    last axis, or over each head's channels of ``(B, T, H, d)`` (its MultiHeadLayerNorm)."""

    def __init__(self, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # per head, the weight over all H·d channels
            B, T, H, d = x.shape
            y = F.layer_norm(x, (d,), eps=self.eps).reshape(B, T, H * d)
            return y * (1 + self.weight)
        return F.layer_norm(x, (x.shape[-1],), 1 + self.weight, None, self.eps)


class HeadwiseLinear(nn.Module):
    """xlstm's LinearHeadwiseExpand (factor 1, no bias): a block-diagonal map with blocks of
    ``block`` channels; weight ``(E/block, block, block)``, out = W_b · x_b per block."""

    def __init__(self, size: int, block: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(size // block, block, block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = x.unflatten(-1, (self.weight.shape[0], -1))  # (B, T, nb, block)
        return torch.einsum("...hd,hod->...ho", xb, self.weight).flatten(-2)


class MLSTMMixer(nn.Module):
    """xlstm's mLSTMLayer; state (conv window, (C, n, m))."""

    def __init__(self, p: Params, cell: la.Rule) -> None:
        super().__init__()
        D, E, H = p.hidden_size, p.inner, p.num_heads
        self.cell, self.heads, self.inner = cell, H, E
        self.proj_up = nn.Linear(D, 2 * E, bias=False)
        self.q_proj, self.k_proj, self.v_proj = (HeadwiseLinear(E, p.qkv_blocksize) for _ in range(3))
        self.conv = la.ShortConv(E, p.conv_size, bias=True)
        self.igate, self.fgate = nn.Linear(3 * E, H), nn.Linear(3 * E, H)
        self.outnorm = XLayerNorm(E)
        self.learnable_skip = nn.Parameter(torch.ones(E))
        self.proj_down = nn.Linear(E, D, bias=False)

    def forward(self, x: torch.Tensor, state: tuple[Any, ...] | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        B, T, _ = x.shape
        H = self.heads
        window, cell_state = state if state is not None else (None, None)
        x_m, z = self.proj_up(x).split(self.inner, dim=-1)  # (B, T, E) each
        c, window = self.conv(x_m, window)  # SiLU(conv(x_m))
        q, k, v = self.q_proj(c), self.k_proj(c), self.v_proj(x_m)
        qkv = torch.cat([q, k, v], -1)  # (B, T, 3E)
        i, f = self.igate(qkv), self.fgate(qkv)  # (B, T, H)
        h, cell_state = self.cell(*(t.reshape(B, T, H, -1) for t in (q, k, v)), i, f, cell_state)  # (B, T, H, E/H)
        h = self.outnorm(h) + self.learnable_skip * c  # (B, T, E)
        return self.proj_down(h * F.silu(z)), (window, cell_state)


def init_mixer(m: MLSTMMixer, p: Params, generator: torch.Generator) -> None:
    """The authors' init of one layer (the module docstring's)."""
    D, H, L = p.hidden_size, p.num_heads, p.num_layers
    small = math.sqrt(2 / (5 * D))  # small_init_init_(·, dim=embedding_dim)
    with torch.no_grad():
        la.normal_(m.proj_up.weight, small, generator)
        la.normal_(m.proj_down.weight, 2 / L / math.sqrt(D), generator)  # wang_init_
        m.learnable_skip.fill_(1.0)
        for proj in (m.q_proj, m.k_proj, m.v_proj):
            la.normal_(proj.weight, small, generator)
        la.conv_init(m.conv, generator)
        m.outnorm.weight.zero_()
        m.fgate.weight.zero_()
        m.fgate.bias.copy_(torch.linspace(3.0, 6.0, H))
        m.igate.weight.zero_()
        la.normal_(m.igate.bias, 0.1, generator)


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    la.init_stack(core, generator, lambda m, g: init_mixer(m, p, g), norm_weight=0.0)  # xlstm's norms: weight 1 + w, w = 0


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and final norm 5D; per layer: LayerNorm 5D, proj_up 4DE, the
    conv 2·conv_size·E and SiLU 4E, q, k, v 6·b·E (b the block size), the gates 2·3E·2H, the
    mLSTM per head (gates ~12, C update 3KV, n 3K, Cᵀq 2KV, nᵀq 2K, the division V), the head
    LayerNorm 5E, skip 2E, SiLU gate 5E, proj_down 2ED, the residual D."""
    D, E, H = p.hidden_size, p.inner, p.num_heads
    K = V = E // H
    per_layer = (
        5 * D
        + 4 * D * E
        + 2 * p.conv_size * E
        + 4 * E
        + 6 * p.qkv_blocksize * E
        + 12 * E * H
        + H * (12 + 5 * K * V + 5 * K + V)
        + 5 * E
        + 2 * E
        + 5 * E
        + 2 * E * D
        + D
    )
    return batch * length * (2 * input_size * D + 5 * D + p.num_layers * per_layer)


def state_size(p: Params) -> int:
    """Per layer: C (H·K·V), n (H·K) and m (H), plus the conv window E·(conv_size − 1)."""
    E, H = p.inner, p.num_heads
    K = E // H
    return p.num_layers * (H * K * K + H * K + H + E * (p.conv_size - 1))


ARCH = la.register_family(
    name="mlstm",
    title="mLSTM (xLSTM's matrix LSTM)",
    citation="Beck et al. (2024), arXiv:2405.04517",
    Params=Params,
    implementations=la.implementations(la.stacked(MLSTMMixer, norm=XLayerNorm), mlstm),
    init=init,
    flops=flops,
    state_size=state_size,
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * p.inner),
    step_seconds=1.6e-4,  # scaled from MQAR runs beside Mamba (2.5e-4) on this machine
    equations="C_t = f_t C_{t−1} + i_t k_t v_tᵀ, n_t = f_t n_{t−1} + i_t k_t, h = C_tᵀq/max(|n_tᵀq|, e^{−m}), "
    "exponential gates stabilised by m",
    rank=48,
)
