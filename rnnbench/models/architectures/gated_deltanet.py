"""Gated DeltaNet (Yang, Kautz & Hatamizadeh 2025, "Gated Delta Networks: Improving Mamba2 with
Delta Rule", arXiv:2412.06464), as fla's ``layers/gated_deltanet.py`` builds it (use_gate on,
short convs of width 4 with SiLU, no conv bias, one value head per key head).

Per layer, on u ``(B, T, D)`` with H heads of key size K = ``head_dim`` and value size
V = K·``expand_v``:

    x = RMSNorm(u),  q, k, v = SiLU(conv(W_q x)), SiLU(conv(W_k x)), SiLU(conv(W_v x)),
    q, k ← q/‖q‖, k/‖k‖ (fla's l2norm, ε = 1e−6),  β = σ(W_β x) (× 2 with allow_neg_eigval),
    g = −exp(A_log) · softplus(W_a x + dt_bias)  (one log-decay per head),
    S_t = exp(g_t) S_{t−1} then the delta update S_t = S'_t + β_t k_t (v_t − S'_tᵀ k_t)ᵀ,
    o_t = S_tᵀ q_t / √K,  out = u + W_o (RMSNorm_head(o) ⊙ w ⊙ SiLU(W_g x)).

Initialisation as fla's model: A ~ U(0, 16) (A_log = log A), dt_bias = softplus⁻¹ of dt
log-uniform in [1e−3, 0.1] (floor 1e−4), every Linear and conv weight N(0, 0.02²), norms 1;
the encoder is PyTorch's Linear default. fla's own layer defaults are H = 6, K = 256 at width
2048 (H·K = 0.75·width); here H = 2, K = 24, V = 48, i.e. H·K = 0.75·64 at width 64.

Implementations: ``reference`` (:func:`rnnbench.ops.gated_delta_rule` one step at a time),
``chunk`` (its chunk form; the default on CPU) and ``fla`` (fla's ``chunk_gated_delta_rule``,
on CUDA). State per layer: three conv windows and S ``(B, H, K, V)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams, draw
from rnnbench.ops import gated_delta_rule


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 2  # H
    head_dim: int = 24  # K per head (fla: 256)
    expand_v: float = 2.0  # V = K · expand_v
    conv_size: int = 4
    allow_neg_eigval: bool = False  # β ∈ [0, 2]

    def validate(self) -> None:
        super().validate()
        for name in ("num_heads", "head_dim", "conv_size"):
            require(getattr(self, name) >= 1, f"model.{name}={getattr(self, name)} is impossible; use 1 or more")
        require(
            self.expand_v > 0 and float(self.head_dim * self.expand_v).is_integer(),
            f"model.expand_v={self.expand_v} must make head_dim·expand_v (head_dim={self.head_dim}) a whole number",
        )
        require(
            isinstance(self.allow_neg_eigval, bool), f"model.allow_neg_eigval={self.allow_neg_eigval!r} must be true or false"
        )

    @property
    def head_v_dim(self) -> int:
        return int(self.head_dim * self.expand_v)


class GatedDeltaNetMixer(la.QKVMixer):
    """fla's GatedDeltaNet layer (use_gate=True): the rule ``(q, k, v, g, β, S0) -> (o, S)`` with
    one log-decay g per head; state (window_q, window_k, window_v, S)."""

    def __init__(self, p: Params, rule: la.Rule) -> None:
        D, H, K, V = p.hidden_size, p.num_heads, p.head_dim, p.head_v_dim
        super().__init__(rule, H)
        self.neg = p.allow_neg_eigval
        self.qkv_maps(D, H * K, H * V)
        self.a_proj, self.b_proj = nn.Linear(D, H, bias=False), nn.Linear(D, H, bias=False)
        self.A_log = nn.Parameter(torch.zeros(H))
        self.dt_bias = nn.Parameter(torch.zeros(H))
        self.short_convs(H * K, H * V, p.conv_size)
        self.g_proj = nn.Linear(D, H * V, bias=False)
        self.output_maps(V, H * V, D)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        beta = la.write_strength(self.b_proj, x, self.neg)  # (B, T, H); before g: the graph's order sums x's gradient
        g = -self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)  # log-decay (B, T, H)
        return g, beta


def init_mixer(m: nn.Module, generator: torch.Generator) -> None:
    la.fla_init(m, generator)
    H = m.heads
    with torch.no_grad():
        m.A_log.copy_(draw((H,), generator, "uniform", 0.0, 16.0).clamp_min(1e-30).log())  # A ~ U(0, 16)
        m.dt_bias.copy_(la.dt_bias(H, generator))


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    la.init_stack(core, generator, init_mixer)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and final norm 4D; per layer: RMSNorm 4D, the q, k, v, a, β
    and output-gate maps 2D(2HK + 2HV + 2H), three convs (2·conv_size + 4 for SiLU per channel),
    two L2 norms 3HK each, σ 4H, the gate (exp, softplus, products) 6H, the gated delta rule per
    head (decay KV, Sᵀk 2KV, update 2V + 2KV, Sᵀq 2KV, scale V), the gated RMSNorm 8HV, W_o 2HVD,
    the residual D."""
    D, H, K, V = p.hidden_size, p.num_heads, p.head_dim, p.head_v_dim
    conv = (2 * p.conv_size + 4) * (2 * H * K + H * V)
    per_layer = (
        4 * D
        + 2 * D * (2 * H * K + 2 * H * V + 2 * H)
        + conv
        + 6 * H * K
        + 4 * H
        + 6 * H
        + H * (7 * K * V + 3 * V)
        + 8 * H * V
        + 2 * H * V * D
        + D
    )
    return batch * length * (2 * input_size * D + 4 * D + p.num_layers * per_layer)


def state_size(p: Params) -> int:
    """Per layer: H·K·V of S plus the conv windows (2HK + HV)·(conv_size − 1)."""
    H, K, V = p.num_heads, p.head_dim, p.head_v_dim
    return p.num_layers * (H * K * V + (2 * H * K + H * V) * (p.conv_size - 1))


ARCH = la.register_family(
    name="gated_deltanet",
    title="Gated DeltaNet",
    citation="Yang, Kautz & Hatamizadeh (2025), arXiv:2412.06464",
    Params=Params,
    # fla's chunk_gated_delta_rule with g in log space and β after the sigmoid (the gate and the
    # sigmoid computed by the layer, not fused into the kernel), state K×V
    implementations=la.implementations(
        la.stacked(GatedDeltaNetMixer), gated_delta_rule, la.fla_kernel("fla.ops.gated_delta_rule", "chunk_gated_delta_rule")
    ),
    init=init,
    flops=flops,
    state_size=state_size,
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * p.num_heads * (p.head_dim + 2 * p.head_v_dim)),
    step_seconds=1e-4,  # scaled from MQAR runs beside Mamba (2.5e-4) on this machine
    equations="S_t = (I − β_t k_t k_tᵀ) exp(g_t) S_{t−1} + β_t k_t v_tᵀ, g = −exp(A_log)·softplus(W_a x + b), "
    "o = RMSNorm(S_tᵀq/√K)·SiLU(W_g x)",
    rank=45,
)
