"""RWKV-7 "Goose" (Peng et al. 2025, "RWKV-7 Goose with Expressive Dynamic State Evolution",
arXiv:2503.14456), the time mixing of BlinkDL/RWKV-LM ``RWKV-v7/rwkv_v7_numpy.py::time_mixing``
and the channel mixing beside it, initialised as ``RWKV-v7/train_temp/src/model.py``.

Per block, on x ``(B, T, D)`` with H heads of N = ``head_size`` (layer 0 first applies ln0):

    a = LN1(x);  x̄_* = a + μ_* ⊙ (a_{t−1} − a)  for * ∈ {r, w, k, v, a, g}  (token shift),
    r, k, v = W_r x̄_r, W_k x̄_k, W_v x̄_v,
    w = exp(−e^{−1/2} σ(w₀ + tanh(x̄_w W₁) W₂))  (decay),  α = σ(a₀ + x̄_a A₁ A₂)  (in-context rate),
    v ← v + (v_first − v) ⊙ σ(v₀ + x̄_v V₁ V₂)  for layers > 0 (value residual; v_first is layer 0's v),
    g = σ(x̄_g G₁) G₂,  κ = L2norm(k ⊙ k_k) per head,  k ← k ⊙ (1 + (α − 1) ⊙ k_a),
    S_t = S_{t−1} (diag(w_t) − κ_t (κ_t ⊙ α_t)ᵀ) + v_t k_tᵀ,  o_t = S_t r_t   (S is V×K here),
    o ← GroupNorm_head(o) (eps 64e−5) + (Σ_head r ⊙ k ⊙ r_k) v,   x ← x + W_o (o ⊙ g),
    c = LN2(x);  x ← x + W_v' relu(W_k' (c + μ_k' ⊙ (c_{t−1} − c)))²   (channel mixing).

The recurrence is :func:`rnnbench.ops.dplr` with scale 1 on the transposed state (K×V):
α = −κ, β = κ ⊙ α_rate, g = log w. An encoder Linear(I, D) first and a LayerNorm (ln_out) last.

Initialisation as ``model.py`` (``RWKV_Tmix_x070.__init__`` and ``generate_init_weight``) for
layer i of L: the token-shift mixes 1 − (c/D)^(p·(1 − i/L)), w₀, a₀, v₀, k_k, k_a = 1.02 and
r_k = −0.04 from their formulas, the LoRAs' first matrices 0 and second orthogonal with gain
0.1, W_r and W_v orthogonal, W_k orthogonal with gain 0.1, W_o and the channel mix's W_v' zero
(so each block starts as the identity), W_k' orthogonal, ln_x's weight ((1 + i)/L)^0.7, the
LayerNorms 1 and 0. The LoRA ranks default (0) to the authors' suggestion max(32, round(c√D/32)·32)
with c = 2.5 (decay, α), 1.7 (value), 5 (gate). With L = 1, i/(L − 1) is taken as 0.

Implementations: ``reference`` (the op one step at a time), ``chunk`` (its chunk form; the
default on CPU) and ``fla`` (fla's ``chunk_rwkv7``, on CUDA). State per block: the token-shift
inputs of the time and channel mixing ``(B, D)`` each and S ``(B, H, K, V)``.
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
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams, linear_init
from rnnbench.ops import dplr

DECAY_SCALE = math.exp(-0.5)  # log w = −e^{−1/2} σ(·)


@dataclass(frozen=True)
class Params(ArchParams):
    head_size: int = 8  # N = K = V per head (RWKV-7: 64; rnnbench check and the tests run at hidden_size 8)
    decay_rank: int = 0  # 0: max(32, round(2.5·√D/32)·32), the authors' suggestion
    a_rank: int = 0  # 0: as decay_rank
    v_rank: int = 0  # 0: max(32, round(1.7·√D/32)·32)
    gate_rank: int = 0  # 0: max(32, round(5·√D/32)·32)
    ffn_ratio: int = 4  # the channel mixing's hidden width over D

    def validate(self) -> None:
        super().validate()
        require(
            self.head_size >= 2 and self.hidden_size % self.head_size == 0,
            f"model.head_size={self.head_size} must be at least 2 and divide model.hidden_size={self.hidden_size}",
        )
        require(self.hidden_size >= 2, f"model.hidden_size={self.hidden_size} is too small for RWKV-7; use 2 or more")
        for name in ("decay_rank", "a_rank", "v_rank", "gate_rank"):
            require(
                getattr(self, name) >= 0,
                f"model.{name}={getattr(self, name)} is impossible; use 0 (the authors' suggestion) or more",
            )
        require(self.ffn_ratio >= 1, f"model.ffn_ratio={self.ffn_ratio} is impossible; use 1 or more")

    def rank(self, name: str) -> int:
        given = getattr(self, f"{name}_rank")
        factor = {"decay": 2.5, "a": 2.5, "v": 1.7, "gate": 5.0}[name]
        return given or max(32, int(round(factor * self.hidden_size**0.5 / 32) * 32))


def shifted(x: torch.Tensor, last: torch.Tensor | None) -> torch.Tensor:
    """x_{t−1} for every t ``(B, T, D)``: ``last`` (zeros when None) before the first step."""
    first = x.new_zeros(x.shape[0], 1, x.shape[2]) if last is None else last.unsqueeze(1)
    return torch.cat([first, x[:, :-1]], 1)


class TimeMix(nn.Module):
    """RWKV_Tmix_x070 / time_mixing; state (last input, S)."""

    def __init__(self, p: Params, layer: int, rule: la.Rule) -> None:
        super().__init__()
        D, N = p.hidden_size, p.head_size
        self.rule, self.heads, self.first = rule, D // N, layer == 0
        for name in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
            setattr(self, name, nn.Parameter(torch.zeros(D)))
        self.w0, self.w1, self.w2 = nn.Parameter(torch.zeros(D)), *self._lora(D, p.rank("decay"))
        self.a0, self.a1, self.a2 = nn.Parameter(torch.zeros(D)), *self._lora(D, p.rank("a"))
        if not self.first:  # layer 0's v is v_first itself: no value residual there
            self.v0, self.v1, self.v2 = nn.Parameter(torch.zeros(D)), *self._lora(D, p.rank("v"))
        self.g1, self.g2 = self._lora(D, p.rank("gate"))
        self.k_k, self.k_a = nn.Parameter(torch.zeros(D)), nn.Parameter(torch.zeros(D))
        self.r_k = nn.Parameter(torch.zeros(D // N, N))
        self.receptance, self.key, self.value, self.output = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.ln_x = nn.GroupNorm(D // N, D, eps=64e-5)

    @staticmethod
    def _lora(D: int, rank: int) -> tuple[nn.Parameter, nn.Parameter]:
        return nn.Parameter(torch.zeros(D, rank)), nn.Parameter(torch.zeros(rank, D))

    def forward(
        self, x: torch.Tensor, v_first: torch.Tensor | None, state: tuple[Any, ...] | None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[Any, ...]]:
        B, T, D = x.shape
        H = self.heads
        last, S = state if state is not None else (None, None)
        xx = shifted(x, last) - x  # (B, T, D)
        xr, xw, xk, xv, xa, xg = (x + xx * m for m in (self.x_r, self.x_w, self.x_k, self.x_v, self.x_a, self.x_g))
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        log_w = -DECAY_SCALE * torch.sigmoid(self.w0 + torch.tanh(xw @ self.w1) @ self.w2)  # log w (B, T, D)
        if self.first:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        a = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)  # in-context rate (B, T, D)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).reshape(B, T, H, -1), dim=-1, eps=1e-12)  # κ (B, T, H, N)
        k = k * (1 + (a - 1) * self.k_a)
        heads = lambda t: t.reshape(B, T, H, -1)  # noqa: E731
        r, k, v, a = heads(r), heads(k), heads(v), heads(a)
        o, S = self.rule(r, k, v, -kk, kk * a, heads(log_w), S)  # (B, T, H, N)
        o = self.ln_x(o.reshape(B * T, D)).view(B, T, H, -1)
        o = o + (r * k * self.r_k).sum(-1, keepdim=True) * v  # the bonus of the current token
        return self.output(o.reshape(B, T, D) * g), v_first, (x[:, -1], S)


class ChannelMix(nn.Module):
    """RWKV_CMix_x070 / channel_mixing: relu(W_k x̄)² then W_v; state the last input."""

    def __init__(self, p: Params) -> None:
        super().__init__()
        D = p.hidden_size
        self.x_k = nn.Parameter(torch.zeros(D))
        self.key = nn.Linear(D, p.ffn_ratio * D, bias=False)
        self.value = nn.Linear(p.ffn_ratio * D, D, bias=False)

    def forward(self, x: torch.Tensor, last: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        k = x + (shifted(x, last) - x) * self.x_k
        return self.value(torch.relu(self.key(k)) ** 2), x[:, -1]


class RWKV7Block(nn.Module):
    """ln0 (layer 0) then x + att(ln1(x)), x + ffn(ln2(x)); state (att shift, S, ffn shift)."""

    def __init__(self, p: Params, layer: int, rule: la.Rule) -> None:
        super().__init__()
        D = p.hidden_size
        self.ln0 = nn.LayerNorm(D) if layer == 0 else None
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.att, self.ffn = TimeMix(p, layer, rule), ChannelMix(p)

    def forward(
        self, x: torch.Tensor, v_first: torch.Tensor | None, state: tuple[Any, ...] | None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[Any, ...]]:
        att_last, S, ffn_last = state if state is not None else (None, None, None)
        if self.ln0 is not None:
            x = self.ln0(x)
        dx, v_first, (att_last, S) = self.att(self.ln1(x), v_first, None if S is None else (att_last, S))
        x = x + dx
        dx, ffn_last = self.ffn(self.ln2(x), ffn_last)
        return x + dx, v_first, (att_last, S, ffn_last)


class RWKV7(nn.Module):
    """encoder Linear(I, D), the blocks (layer 0's v passed to the others), ln_out."""

    def __init__(self, input_size: int, p: Params, rule: la.Rule) -> None:
        super().__init__()
        self.encoder = nn.Linear(input_size, p.hidden_size)
        self.layers = nn.ModuleList(RWKV7Block(p, i, rule) for i in range(p.num_layers))
        self.final = nn.LayerNorm(p.hidden_size)

    def forward(self, x: torch.Tensor, state: tuple[Any, ...] | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        states = state if state is not None else (None,) * len(self.layers)
        x, v_first, finals = self.encoder(x), None, []
        for layer, s in zip(self.layers, states):
            x, v_first, s = layer(x, v_first, s)
            finals.append(s)
        return self.final(x), tuple(finals)


def build(rule: la.Rule) -> Callable[[int, Params], nn.Module]:
    return lambda input_size, p: RWKV7(input_size, p, rule)


def orthogonal_(t: torch.Tensor, gain: float, generator: torch.Generator) -> None:
    """nn.init.orthogonal_ with ``gain`` from ``generator``; ``ortho_init``'s extra √(rows/cols)
    for tall matrices is the caller's."""
    with torch.no_grad():
        t.copy_(nn.init.orthogonal_(torch.empty(t.shape), gain=gain, generator=generator))


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    """RWKV_Tmix_x070.__init__ / RWKV_CMix_x070.__init__ with generate_init_weight's matrices."""
    linear_init(core.encoder, generator)
    D, N, L = p.hidden_size, p.head_size, p.num_layers
    n = torch.arange(D, dtype=torch.float64)
    ddd = n / D
    linear = n / (D - 1) - 0.5
    zig = ((n % N) - (N - 1) / 2) / ((N - 1) / 2)
    zigzag = zig * zig.abs()

    def ortho_lora(t: torch.Tensor, scale: float) -> None:  # ortho_init(x, scale) for a 2-D x
        rows, cols = t.shape
        orthogonal_(t, (math.sqrt(rows / cols) if rows > cols else 1.0) * scale, generator)

    with torch.no_grad():
        for i, block in enumerate(core.layers):
            att, ffn = block.att, block.ffn
            r0 = i / (L - 1) if L > 1 else 0.0  # ratio_0_to_1
            r1 = 1.0 - i / L  # ratio_1_to_almost0
            for name, power in (("x_r", 0.2), ("x_w", 0.9), ("x_k", 0.7), ("x_v", 0.7), ("x_a", 0.9), ("x_g", 0.2)):
                getattr(att, name).copy_(1.0 - ddd ** (power * r1))
            www = -6 + 6 * (n / (D - 1)) ** (1 + r0**0.3)
            att.w0.copy_(www + 0.5 + zigzag * 2.5)
            att.a0.copy_(-0.19 + zigzag * 0.3 + linear * 0.4)
            loras = [("w", att.w1, att.w2), ("a", att.a1, att.a2), ("g", att.g1, att.g2)]
            if not att.first:
                att.v0.copy_(0.73 - linear * 0.4)
                loras.insert(2, ("v", att.v1, att.v2))
            for _, first, second in loras:
                first.zero_()
                ortho_lora(second, 0.1)
            att.k_k.copy_(0.71 - linear * 0.1)
            att.k_a.fill_(1.02)
            att.r_k.fill_(-0.04)
            orthogonal_(att.receptance.weight, 1.0, generator)
            orthogonal_(att.key.weight, 0.1, generator)
            orthogonal_(att.value.weight, 1.0, generator)
            att.output.weight.zero_()
            att.ln_x.weight.fill_(((1 + i) / L) ** 0.7)
            att.ln_x.bias.zero_()
            ffn.x_k.copy_(1.0 - ddd ** (r1**4))
            orthogonal_(ffn.key.weight, 1.0, generator)
            ffn.value.weight.zero_()
            for norm in (block.ln0, block.ln1, block.ln2):
                if norm is not None:
                    norm.weight.fill_(1.0)
                    norm.bias.zero_()
        core.final.weight.fill_(1.0)
        core.final.bias.zero_()


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and ln_out 7D; per block: three LayerNorms 7D each (ln0 in
    the first), the six token shifts 3D each, W_r, W_k, W_v, W_o 8D², the LoRAs 4D·rank (+ tanh /
    σ 5D each), the value residual 3D (layers > 0), κ's norm 4D, k's rescale 4D, the DPLR step per
    head (αᵀS 2KV, diag(w)S KV, β(·) 2KV, k vᵀ 2KV, S r 2KV), GroupNorm 7D, the bonus 5D, the gate D;
    the channel mix's shift 3D, W_k' and W_v' 4·ffn_ratio·D², relu² 2·ffn_ratio·D, the residuals 2D."""
    D, N = p.hidden_size, p.head_size
    H = D // N
    ranks = p.rank("decay") + p.rank("a") + p.rank("gate")
    time = 14 * D + 18 * D + 8 * D * D + 4 * D * ranks + 15 * D + 8 * D + H * 9 * N * N + 7 * D + 5 * D + D
    channel = 3 * D + 4 * p.ffn_ratio * D * D + 2 * p.ffn_ratio * D + 2 * D
    value_residual = (p.num_layers - 1) * (4 * D * p.rank("v") + 8 * D)
    return batch * length * (2 * input_size * D + 14 * D + p.num_layers * (time + channel) + value_residual)


def state_size(p: Params) -> int:
    """Per block: H·N·N of S plus the two token-shift inputs, 2D."""
    D, N = p.hidden_size, p.head_size
    return p.num_layers * ((D // N) * N * N + 2 * D)


ARCH = la.register_family(
    name="rwkv7",
    title="RWKV-7 (generalised delta rule)",
    citation="Peng et al. (2025), arXiv:2503.14456",
    Params=Params,
    # the rule (r, k, v, α, β, log w, S0): dplr with scale 1; fla's chunk_rwkv7(r, w, k, v, a, b, scale=1)
    # takes w = log w, a = α = −κ, b = β = κ ⊙ α_rate in its own order
    implementations=la.implementations(
        build,
        dplr,
        la.fla_kernel("fla.ops.rwkv7", "chunk_rwkv7", scale=1.0, arrange=lambda r, k, v, a, b, w: (r, w, k, v, a, b)),
        scale=1.0,
    ),
    init=init,
    flops=flops,
    state_size=state_size,
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, (4 + 2 * p.ffn_ratio) * p.hidden_size),
    step_seconds=1.6e-4,  # scaled from MQAR runs beside Mamba (2.5e-4) on this machine
    equations="S_t = S_{t−1}(diag(w_t) − κ_t(κ_t⊙a_t)ᵀ) + v_t k_tᵀ, o_t = S_t r_t, w, a, g by LoRAs, token shift",
    rank=49,
)
