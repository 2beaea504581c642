"""DeltaNet (Schlag, Irie & Schmidhuber 2021; Yang, Wang, Zhang, Shen & Kim 2024, "Parallelizing
Linear Transformers with the Delta Rule over Sequence Length", arXiv:2406.06484), as fla's
``layers/delta_net.py`` builds it (its defaults: conv_size 4, no conv bias, SiLU after each
conv, L2-normalised q and k, β from a linear map, RMSNorm per head, no output gate).

Per layer, on u ``(B, T, D)`` with H heads of K = V = D/H:

    x = RMSNorm(u),  q, k, v = SiLU(conv(W_q x)), SiLU(conv(W_k x)), SiLU(conv(W_v x)),
    q, k ← q/‖q‖, k/‖k‖ (per head, fla's l2norm with ε = 1e−6),  β = σ(W_β x) (× 2 with allow_neg_eigval),
    S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,  o_t = S_tᵀ q_t / √K,
    out = u + W_o RMSNorm_head(o).

``allow_neg_eigval`` (Grazzi et al. 2025, arXiv:2411.12537) lets β reach 2, so the eigenvalue
1 − β‖k‖² of the transition along k lies in [−1, 1]: a linear RNN can then track parity. An
encoder Linear(I, D) comes first and an RMSNorm last (no MLP between layers: rnnbench's
blocks compare the mixers, as its Mamba's do). Initialisation as fla's models: every Linear
and conv weight N(0, 0.02²), norms 1; the encoder is PyTorch's Linear default.

Implementations: ``reference`` (:func:`rnnbench.ops.delta_rule` one step at a time),
``chunk`` (its WY chunk form; the default on CPU) and ``fla`` (fla's ``chunk_delta_rule``
Triton kernel, on CUDA with ``pip install 'rnnbench[fla]'``). The state carried between calls
is, per layer, the three conv windows (the last conv_size − 1 inputs) and S ``(B, H, K, V)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnbench.config import require
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams
from rnnbench.ops import delta_rule


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 2  # H; K = V = hidden_size / H (fla's layer: 4 at width 1024)
    conv_size: int = 4
    allow_neg_eigval: bool = False  # β ∈ [0, 2]: eigenvalues of I − βkkᵀ in [−1, 1]

    def validate(self) -> None:
        super().validate()
        require(
            self.num_heads >= 1 and self.hidden_size % self.num_heads == 0,
            f"model.num_heads={self.num_heads} must divide model.hidden_size={self.hidden_size}",
        )
        require(self.conv_size >= 1, f"model.conv_size={self.conv_size} is impossible; use 1 or more")
        require(
            isinstance(self.allow_neg_eigval, bool), f"model.allow_neg_eigval={self.allow_neg_eigval!r} must be true or false"
        )


class DeltaNetMixer(la.QKVMixer):
    """fla's DeltaNet layer: short convs, L2-normalised q and k, β from a linear map, no output
    gate; the rule ``(q, k, v, β, S0) -> (o, S)``; state (window_q, window_k, window_v, S)."""

    def __init__(self, p: Params, rule: la.Rule) -> None:
        D, H = p.hidden_size, p.num_heads
        super().__init__(rule, H)
        self.neg = p.allow_neg_eigval
        self.qkv_maps(D, D, D)
        self.b_proj = nn.Linear(D, H, bias=False)
        self.short_convs(D, D, p.conv_size)
        self.output_maps(D // H, D, D)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (la.write_strength(self.b_proj, x, self.neg),)  # β (B, T, H)


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    la.init_stack(core, generator, la.fla_init)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and final norm 4D; per layer: RMSNorm 4D, the q, k, v and β
    maps 2D(3D + H), three convs 2·conv_size·D and SiLU 4D each, two L2 norms 3D each, σ 4H,
    the delta rule per head (Sᵀk 2KV, β(v − Sᵀk) 2V, S + k uᵀ 2KV, Sᵀq 2KV, the scale V),
    the head RMSNorm 4D, W_o 2D², the residual D."""
    D, H = p.hidden_size, p.num_heads
    K = V = D // H
    per_layer = (
        4 * D
        + 2 * D * (3 * D + H)
        + 3 * (2 * p.conv_size * D + 4 * D)
        + 6 * D
        + 4 * H
        + H * (6 * K * V + 3 * V)
        + 4 * D
        + 2 * D * D
        + D
    )
    return batch * length * (2 * input_size * D + 4 * D + p.num_layers * per_layer)


def state_size(p: Params) -> int:
    """Per layer: H·K·V of S plus three conv windows of D·(conv_size − 1)."""
    D, H = p.hidden_size, p.num_heads
    return p.num_layers * (H * (D // H) ** 2 + 3 * D * (p.conv_size - 1))


ARCH = la.register_family(
    name="deltanet",
    title="DeltaNet (delta rule)",
    citation="Schlag, Irie & Schmidhuber (2021), arXiv:2102.11174; Yang et al. (2024), arXiv:2406.06484",
    Params=Params,
    # fla's chunk_delta_rule, the kernel fla's DeltaNet layer trains with
    implementations=la.implementations(
        la.stacked(DeltaNetMixer), delta_rule, la.fla_kernel("fla.ops.delta_rule", "chunk_delta_rule")
    ),
    init=init,
    flops=flops,
    state_size=state_size,
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 4 * p.hidden_size),
    step_seconds=1e-4,  # scaled from MQAR runs beside Mamba (2.5e-4) on this machine
    equations="S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ q_t/√K, q, k L2-normalised, β = σ(W_β x)",
    rank=44,
)
