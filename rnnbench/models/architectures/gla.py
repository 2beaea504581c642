"""Gated linear attention (Yang, Wang, Shen, Panda & Kim 2024, "Gated Linear Attention
Transformers with Hardware-Efficient Training", arXiv:2312.06635), as fla's ``layers/gla.py``
builds it (its defaults: expand_k 0.5, expand_v 1, no short conv, a low-rank gate of rank 16
with normaliser 16, output RMSNorm ⊙ swish gate).

Per layer, on u ``(B, T, D)`` with H heads of K = D·expand_k/H and V = D·expand_v/H:

    x = RMSNorm(u),  q, k, v = W_q x, W_k x, W_v x,
    g = logσ(W₂ W₁ x + b) / 16  (one log-decay per key channel),
    S_t = diag(exp(g_t)) S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q_t / √K,
    out = u + W_o (RMSNorm_head(o) ⊙ w ⊙ SiLU(W_g x)).

Initialisation as fla's models: every Linear weight N(0, 0.02²), the gate's bias 0, norms 1;
the encoder is PyTorch's Linear default. Implementations: ``reference``
(:func:`rnnbench.ops.gla` one step at a time), ``chunk`` (its chunk form; the default on
CPU), ``fla`` (fla's ``chunk_gla``, on CUDA). State per layer: S ``(B, H, K, V)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams
from rnnbench.ops import gla


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 2  # H (fla: 4)
    expand_k: float = 0.5  # key width D·expand_k over all heads
    expand_v: float = 1.0
    gate_rank: int = 16  # W₁'s rank
    gate_normalizer: float = 16.0  # g = logσ(·) / gate_normalizer

    @property
    def key_dim(self) -> int:
        return int(self.hidden_size * self.expand_k)

    @property
    def value_dim(self) -> int:
        return int(self.hidden_size * self.expand_v)

    def validate(self) -> None:
        super().validate()
        require(self.num_heads >= 1, f"model.num_heads={self.num_heads} is impossible; use 1 or more")
        for name, width in (("expand_k", self.key_dim), ("expand_v", self.value_dim)):
            require(
                width >= self.num_heads and width % self.num_heads == 0,
                f"model.{name}={getattr(self, name)} gives {width} channels at hidden_size={self.hidden_size}, "
                f"which model.num_heads={self.num_heads} does not divide",
            )
        require(self.gate_rank >= 1, f"model.gate_rank={self.gate_rank} is impossible; use 1 or more")
        require(self.gate_normalizer > 0, f"model.gate_normalizer={self.gate_normalizer} must be positive")


class GLAMixer(la.QKVMixer):
    """fla's GatedLinearAttention layer (no short conv, output gate fused with the norm): the rule
    ``(q, k, v, g, S0) -> (o, S)`` with a log-decay g per key channel; state S."""

    def __init__(self, p: Params, rule: la.Rule) -> None:
        D, Kd, Vd, H = p.hidden_size, p.key_dim, p.value_dim, p.num_heads
        super().__init__(rule, H)
        self.normalizer = p.gate_normalizer
        self.qkv_maps(D, Kd, Vd)
        self.g_proj = nn.Linear(D, Vd, bias=False)
        self.gk_proj = nn.Sequential(nn.Linear(D, p.gate_rank, bias=False), nn.Linear(p.gate_rank, Kd))
        self.output_maps(Vd // H, Vd, D)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        B, T, _ = x.shape
        return (F.logsigmoid(self.gk_proj(x)).reshape(B, T, self.heads, -1) / self.normalizer,)  # g (B, T, H, K)


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    la.init_stack(core, generator, la.fla_init)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and final norm 4D; per layer: RMSNorm 4D, the q, k, v and
    output-gate maps 2D(2Kd + 2Vd), the low-rank gate 2r(D + Kd) + Kd and logσ/normaliser 5Kd,
    GLA per head (exp(g) K, diag(e^g) S KV, + k vᵀ 2KV, Sᵀq 2KV, scale V), the gated RMSNorm
    8Vd, W_o 2·Vd·D, the residual D (Kd = H·K, Vd = H·V)."""
    D, H, Kd, Vd, r = p.hidden_size, p.num_heads, p.key_dim, p.value_dim, p.gate_rank
    K, V = Kd // H, Vd // H
    per_layer = (
        4 * D + 2 * D * (2 * Kd + 2 * Vd) + 2 * r * (D + Kd) + Kd + 5 * Kd + H * (K + 5 * K * V + V) + 8 * Vd + 2 * Vd * D + D
    )
    return batch * length * (2 * input_size * D + 4 * D + p.num_layers * per_layer)


ARCH = la.register_family(
    name="gla",
    title="GLA (gated linear attention)",
    citation="Yang, Wang, Shen, Panda & Kim (2024), arXiv:2312.06635",
    Params=Params,
    # fla's chunk_gla (state K×V, its default layout)
    implementations=la.implementations(la.stacked(GLAMixer), gla, la.fla_kernel("fla.ops.gla", "chunk_gla")),
    init=init,
    flops=flops,
    state_size=lambda p: p.num_layers * p.key_dim * p.value_dim // p.num_heads,  # H·K·V
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * (p.key_dim + p.value_dim)),
    step_seconds=5e-5,  # scaled from MQAR runs beside Mamba (2.5e-4) on this machine
    equations="S_t = diag(exp(g_t)) S_{t−1} + k_t v_tᵀ, g = logσ(W₂W₁x + b)/16, o = RMSNorm(S_tᵀq/√K)·SiLU(W_g x)",
    rank=46,
)
