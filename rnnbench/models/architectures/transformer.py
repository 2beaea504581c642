"""A causal Transformer decoder as a core (Vaswani et al. 2017; pre-norm blocks with a GELU
MLP as GPT-2, Radford et al. 2019), the baseline every recurrent model is compared with.

On x ``(B, T, I)``: e = Linear(I, D)(x) (the token embedding), plus the positional
encoding; then per layer h ← h + Attn(LN(h)), h ← h + W₂ GELU(W₁ LN(h)) (W₁: D → r·D,
r = ``mlp_ratio``); a final LayerNorm. Attn is multi-head softmax attention,
softmax(q kᵀ/√d + bias) v per head (d = D / ``num_heads``), each query seeing only the
keys at its own step and before it.

Positional encodings (``pos_encoding``), after Delétang et al. (2023), "Neural Networks and
the Chomsky Hierarchy", ICLR (google-deepmind/neural_networks_chomsky_hierarchy,
``models/positional_encodings.py``), who sweep them and report the best:

- ``none``: the causal mask alone tells positions apart;
- ``sinusoidal``: e_p += [sin(p ω_i), cos(p ω_i)], ω_i = 10000^(−2i/D), the embedding scaled
  by √D first (Vaswani et al. §3.4, and the Chomsky code); p counts from 0 at the first step
  (the Chomsky code counts backwards from the length, so a step's encoding would depend on
  how long the sequence is, which a cache carried across pieces cannot know);
- ``learned``: e_p += P[p], a table of ``max_len`` rows (GPT-2; Zoology's recall baseline);
  a longer sequence is an error;
- ``rope``: q and k rotated pairwise, (x_{2k}, x_{2k+1}) by the angle p·10000^(−k/(d/2))
  (Su et al. 2021; the pairing of the Chomsky code);
- ``alibi``: the score of key j for query i gets −m_h·(i − j), with the slopes m_h of
  Press et al. (2022)'s official code (their causal form; the Chomsky code's version for
  non-causal attention adds 0.5 below the diagonal to break left/right symmetry, which a
  causal mask already breaks).

State: the keys and values of every step so far, per layer, ``((k, v), ...)`` with k, v
``(B, num_heads, P, d)`` (keys after RoPE); the position offset of the next piece is P, the
cache's length. So ``forward(x, state)`` continues a sequence exactly as a recurrence does,
and the state grows with T: 2·L·D·T numbers per sequence.

Implementations, sharing every parameter name: ``reference`` attends one query at a time to
the cache up to its own step (the recurrent view), ``fused`` runs
``torch.nn.functional.scaled_dot_product_attention`` over the whole piece with the cache
prepended (``is_causal`` when there is no cache and no bias, which lets CUDA use its flash
kernels; otherwise an explicit mask offset by the cache's length).

Initialisation as GPT-2: every Linear N(0, 0.02²) with zero bias, the two projections that
end a residual branch N(0, (0.02/√(2L))²), learned positions N(0, 0.02²), LayerNorms 1 and 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.errors import UsageError
from rnnbench.models.contract import Architecture, ArchParams, draw, register

KV = tuple[torch.Tensor, torch.Tensor]  # keys and values (B, heads, P, d)
MAX_TIMESCALE = 10_000.0  # sinusoidal and RoPE wavelengths, as the Chomsky code's max_time
INIT_STD = 0.02  # GPT-2


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.0
    pos_encoding: Literal["none", "sinusoidal", "learned", "rope", "alibi"] = "rope"
    max_len: int = 1024  # rows of the learned table (pos_encoding=learned only)

    def validate(self) -> None:
        super().validate()
        require(self.num_heads >= 1, f"model.num_heads={self.num_heads} is impossible; use 1 or more")
        divisors = [str(n) for n in range(1, self.hidden_size + 1) if self.hidden_size % n == 0]
        require(
            self.hidden_size % self.num_heads == 0,
            f"model.num_heads={self.num_heads} does not divide model.hidden_size={self.hidden_size}; "
            f"use one of: {', '.join(divisors)}",
        )
        require(
            self.pos_encoding != "rope" or self.head_dim % 2 == 0,
            f"model.pos_encoding='rope' rotates pairs of a head's {self.head_dim} dimensions, an odd number "
            f"(hidden_size {self.hidden_size} / num_heads {self.num_heads}); use a num_heads that leaves an "
            "even head size, or another pos_encoding: alibi, learned, none, sinusoidal",
        )
        require(self.mlp_ratio >= 1, f"model.mlp_ratio={self.mlp_ratio} is impossible; use 1 or more")
        require(0 <= self.dropout < 1, f"model.dropout={self.dropout} is impossible; use a number in [0, 1)")
        require(self.max_len >= 1, f"model.max_len={self.max_len} is impossible; use 1 or more")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def sinusoid(positions: torch.Tensor, width: int) -> torch.Tensor:
    """[sin(p ω_i) for i < ⌈D/2⌉, cos(p ω_i) ...] with ω_i = 10000^(−2i/D): ``(T, D)``."""
    inv_freq = MAX_TIMESCALE ** (-torch.arange(0, width, 2, dtype=positions.dtype, device=positions.device) / width)
    angles = positions[:, None] * inv_freq  # (T, ⌈D/2⌉)
    return torch.cat([angles.sin(), angles.cos()], -1)[:, :width]


def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x ``(B, heads, T, d)`` with each pair (x_{2k}, x_{2k+1}) at position p rotated by
    p·10000^(−k/(d/2))."""
    half = x.shape[-1] // 2
    inv_freq = MAX_TIMESCALE ** (-torch.arange(half, dtype=x.dtype, device=x.device) / half)
    angles = positions.to(x.dtype)[:, None] * inv_freq  # (T, d/2)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]  # (B, heads, T, d/2) each
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], -1).flatten(-2)


def alibi_slopes(num_heads: int) -> list[float]:
    """Press et al.'s slopes: 2^(−8i/n) for i = 1..n when n is a power of 2; otherwise those of
    the power of 2 below n, then every other one of twice that power (their official code)."""

    def power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_2(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: num_heads - closest]


class Attention(nn.Module):
    """Multi-head causal self-attention over the cache and the piece; returns the new cache."""

    def __init__(self, p: Params, fused: bool) -> None:
        super().__init__()
        D = p.hidden_size
        self.heads, self.d, self.fused = p.num_heads, p.head_dim, fused
        self.pos_encoding, self.dropout = p.pos_encoding, p.dropout
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        if p.pos_encoding == "alibi":
            self.register_buffer("slopes", torch.tensor(alibi_slopes(p.num_heads)), persistent=False)

    def forward(self, x: torch.Tensor, cache: KV | None, offset: int) -> tuple[torch.Tensor, KV]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, self.d).permute(2, 0, 3, 1, 4)  # (B, heads, T, d) each
        if self.pos_encoding == "rope":
            positions = torch.arange(offset, offset + T, device=x.device)
            q, k = rope(q, positions), rope(k, positions)
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)  # (B, heads, P + T, d)
        out = self.attend_fused(q, k, v, offset) if self.fused else self.attend_steps(q, k, v, offset)
        return self.proj(out.transpose(1, 2).reshape(B, T, D)), (k, v)

    def distance_bias(self, queries: torch.Tensor, keys: int) -> torch.Tensor:
        """−m_h·(i − j) for query positions ``queries`` and keys 0..keys−1: ``(heads, T, keys)``."""
        j = torch.arange(keys, device=queries.device)
        return -self.slopes.to(self.qkv.weight.dtype)[:, None, None] * (queries[:, None] - j).to(self.qkv.weight.dtype)

    def attend_steps(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offset: int) -> torch.Tensor:
        """One query at a time: the query at position offset + t sees keys 0..offset + t."""
        outputs = []
        for t, q_t in enumerate(q.unbind(2)):  # unbind, not q[:, :, t]: a backward linear in T
            n = offset + t + 1
            scores = (k[:, :, :n] @ q_t.unsqueeze(-1)).squeeze(-1) / math.sqrt(self.d)  # (B, heads, n)
            if self.pos_encoding == "alibi":
                scores = scores + self.distance_bias(torch.tensor([n - 1], device=q.device), n)[:, 0]
            probs = torch.softmax(scores, -1)
            if self.dropout and self.training:
                probs = F.dropout(probs, self.dropout)
            outputs.append((probs.unsqueeze(-2) @ v[:, :, :n]).squeeze(-2))  # (B, heads, d)
        return torch.stack(outputs, 2)  # (B, heads, T, d)

    def attend_fused(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offset: int) -> torch.Tensor:
        T, S = q.shape[2], k.shape[2]
        dropout = self.dropout if self.training else 0.0
        if offset == 0 and self.pos_encoding != "alibi":  # the flash kernels' case
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        queries = torch.arange(offset, offset + T, device=q.device)
        visible = torch.arange(S, device=q.device) <= queries[:, None]  # (T, S): key j ≤ the query's position
        mask: torch.Tensor = visible
        if self.pos_encoding == "alibi":
            mask = self.distance_bias(queries, S).masked_fill(~visible, float("-inf"))  # (heads, T, S)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)


class Block(nn.Module):
    """h + Attn(LN(h)), then + MLP(LN(h)), each branch followed by dropout."""

    def __init__(self, p: Params, fused: bool) -> None:
        super().__init__()
        D = p.hidden_size
        self.norm1 = nn.LayerNorm(D)
        self.attn = Attention(p, fused)
        self.norm2 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, p.mlp_ratio * D)
        self.fc2 = nn.Linear(p.mlp_ratio * D, D)
        self.drop = nn.Dropout(p.dropout)

    def forward(self, h: torch.Tensor, cache: KV | None, offset: int) -> tuple[torch.Tensor, KV]:
        a, cache = self.attn(self.norm1(h), cache, offset)
        h = h + self.drop(a)
        return h + self.drop(self.fc2(F.gelu(self.fc1(self.norm2(h))))), cache


class Transformer(nn.Module):
    """The core: embedding and positions, ``num_layers`` blocks, a final LayerNorm; the state
    is one (k, v) cache per layer."""

    def __init__(self, input_size: int, p: Params, fused: bool) -> None:
        super().__init__()
        D = p.hidden_size
        self.p = p
        self.encoder = nn.Linear(input_size, D)
        if p.pos_encoding == "learned":
            self.positions = nn.Parameter(torch.zeros(p.max_len, D))
        self.drop = nn.Dropout(p.dropout)
        self.layers = nn.ModuleList([Block(p, fused) for _ in range(p.num_layers)])
        self.final = nn.LayerNorm(D)

    def forward(self, x: torch.Tensor, state: tuple[KV, ...] | None = None) -> tuple[torch.Tensor, tuple[KV, ...]]:
        p, T = self.p, x.shape[1]
        offset = 0 if state is None else state[0][0].shape[2]
        h = self.encoder(x)  # (B, T, D)
        if p.pos_encoding == "learned":
            if offset + T > p.max_len:
                raise UsageError(
                    f"the sequence reaches step {offset + T} but model.max_len={p.max_len} "
                    f"(pos_encoding='learned' has a row per position); set model.max_len={offset + T} "
                    "or more, or use a pos_encoding without a limit: alibi, none, rope, sinusoidal"
                )
            h = h + self.positions[offset : offset + T]
        elif p.pos_encoding == "sinusoidal":
            positions = torch.arange(offset, offset + T, device=x.device, dtype=h.dtype)
            h = h * math.sqrt(p.hidden_size) + sinusoid(positions, p.hidden_size)
        h = self.drop(h)
        caches = []
        for layer, cache in zip(self.layers, state if state is not None else (None,) * len(self.layers)):
            h, cache = layer(h, cache, offset)
            caches.append(cache)
        return self.final(h), tuple(caches)


def build(fused: bool) -> Any:
    def factory(input_size: int, p: Params) -> nn.Module:
        return Transformer(input_size, p, fused)

    return factory


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    residual_std = INIT_STD / math.sqrt(2 * p.num_layers)
    with torch.no_grad():
        for module in core.modules():
            if isinstance(module, nn.Linear):
                module.weight.copy_(draw(module.weight.shape, generator, "normal", 0.0, INIT_STD))
                module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        for block in core.layers:  # the projections that end a residual branch
            block.attn.proj.weight.copy_(draw(block.attn.proj.weight.shape, generator, "normal", 0.0, residual_std))
            block.fc2.weight.copy_(draw(block.fc2.weight.shape, generator, "normal", 0.0, residual_std))
        if p.pos_encoding == "learned":
            core.positions.copy_(draw(core.positions.shape, generator, "normal", 0.0, INIT_STD))


def attention_flops(p: Params, keys: int) -> int:
    """One query over ``keys`` keys, all heads: q·k 2D, scale and softmax (max, subtract, exp,
    sum, divide) 6 per head, the ALiBi bias 1 per head, probs·v 2D."""
    per_key = 4 * p.hidden_size + 6 * p.num_heads + (p.num_heads if p.pos_encoding == "alibi" else 0)
    return per_key * keys


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the embedding 2·I·D + D, the positions D (sinusoidal 2D), the final LayerNorm
    5D; per layer and token: LayerNorms 2·5D, q, k, v 6D² + 3D, RoPE 6D, the output projection
    2D² + D, the MLP 4rD² + rD + D, GELU 8rD, residuals 2D; and the attention, whose query at
    step t sees t keys: Σ_t t = T(T + 1)/2 key visits per layer, the T² term."""
    D, r = p.hidden_size, p.mlp_ratio
    positions = {"learned": D, "sinusoidal": 2 * D}.get(p.pos_encoding, 0)
    per_token = 2 * input_size * D + D + positions + 5 * D
    per_layer_token = (
        10 * D
        + 6 * D * D
        + 3 * D
        + (6 * D if p.pos_encoding == "rope" else 0)
        + 2 * D * D
        + D
        + 4 * r * D * D
        + r * D
        + D
        + 8 * r * D
        + 2 * D
    )
    visits = length * (length + 1) // 2
    return batch * (length * (per_token + p.num_layers * per_layer_token) + p.num_layers * attention_flops(p, visits))


ARCH = register(
    Architecture(
        name="transformer",
        title="Transformer (causal decoder)",
        citation="Vaswani et al. (2017), NeurIPS; pre-norm GPT-2 blocks, Radford et al. (2019)",
        Params=Params,
        implementations={"fused": build(fused=True), "reference": build(fused=False)},
        init=init,
        flops=flops,
        state_size=lambda p, length: 2 * p.num_layers * p.hidden_size * length,  # keys and values of every step
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, p.mlp_ratio * p.hidden_size),
        step_seconds=2e-5,
        equations="h += softmax(q kᵀ/√d + causal mask) v, h += W₂ GELU(W₁ LN(h)); state: the KV cache",
        rank=60,
    )
)
