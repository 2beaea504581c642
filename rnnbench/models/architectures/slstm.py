"""sLSTM, the scalar-memory LSTM of xLSTM (Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp,
Klambauer, Brandstetter & Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory",
NeurIPS; NX-AI/xlstm ``blocks/slstm``, the vanilla backend's ``slstm_forward_pointwise``).

Per step, with the gates' pre-activations raw = W x_t + R h_{t−1} + b (R block-diagonal:
one head_dim × head_dim block per head and gate):

m_t = max(ĩ, m_{t−1} + log σ(f̃)),  i = min(exp(ĩ − m_t), 1),  f = min(exp(m_{t−1} + log σ(f̃) − m_t), 1),
c_t = f c_{t−1} + i tanh(z̃),  n_t = f n_{t−1} + i,  h_t = σ(õ) c_t / n_t,

exponential input and forget gates kept finite by the stabiliser m; as in the authors'
vanilla code, a step whose normaliser n is zero everywhere (the first step from a zero
state) sets m_t = ĩ.

The block around it as the authors' ``sLSTMBlock`` (pre-norm residual, ``xlstm_block.py``):
u ← u + GN(sLSTM(LN(u))) with i, f read from SiLU(causal depthwise conv1d of width
``conv_kernel`` over LN(u)) and z, o from LN(u) itself, each gate's input weights
block-diagonal per head (no bias), GN a per-head LayerNorm; then u ← u + W_down(GELU(g) ⊙ v),
(g, v) = W_up LN(u), the gated feed-forward of width ``ffn_factor``·D rounded up to a
multiple of 64. An input encoder Linear(I, D) comes first and a LayerNorm last, as
xLSTM's block stack. State per layer: (h, c, n, m), each ``(B, D)``, and the conv window
(the last conv_kernel − 1 inputs of the conv) when there is a conv.

Initialisation as the authors' code: recurrent weights R = 0; the forget gate's bias
"powerlaw_blockdependent", b_f[k] = −(−5 + 12·(k/(d − 1))^(0.3 + 1.3·l/(L − 1))) for unit k of
a head of d units in block l of L (from +5 down to −7; l/(L − 1) = 0 for one block), the
other biases 0; the gates' input weights and W_up N(0, 2/(5D)) ("small init"), W_down
N(0, (2/(L√D))²) ("Wang init"), the encoder N(0, 2/(5D)) with zero bias, the conv
PyTorch's default, every norm's weight 1.

Only ``reference``: the recurrence is nonlinear in h (R h inside the exponential gates and
the max), so no scan computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.models.contract import Architecture, ArchParams, draw, register
from rnnbench.models.stack import Stack

GATES = 4  # i, f, z, o
ROUND_UP_TO = 64  # the feed-forward width is rounded up to a multiple of this (xlstm UpProjConfigMixin)

State = tuple[torch.Tensor, ...]  # (h, c, n, m) and, with a conv, its window


@dataclass(frozen=True)
class Params(ArchParams):
    num_heads: int = 4
    conv_kernel: int = 4  # 0: no convolution before the i and f gates
    ffn_factor: float = 1.3  # 0: no feed-forward after the sLSTM

    def validate(self) -> None:
        super().validate()
        require(
            self.num_heads >= 1 and self.hidden_size % self.num_heads == 0,
            f"model.num_heads={self.num_heads} does not divide model.hidden_size={self.hidden_size}; use one of: "
            + ", ".join(str(n) for n in range(1, self.hidden_size + 1) if self.hidden_size % n == 0),
        )
        require(
            self.head_dim >= 2,
            f"model.num_heads={self.num_heads} leaves {self.head_dim} unit per head; the "
            "authors' forget-bias init spreads over a head's units and needs 2 or more: use fewer heads",
        )
        require(self.conv_kernel >= 0, f"model.conv_kernel={self.conv_kernel} is impossible; use 0 (none) or more")
        require(self.ffn_factor >= 0, f"model.ffn_factor={self.ffn_factor} is impossible; use 0 (none) or more")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def ffn_width(self) -> int:
        return math.ceil(self.ffn_factor * self.hidden_size / ROUND_UP_TO) * ROUND_UP_TO


def slstm_step(raw: torch.Tensor, state: State) -> State:
    """One step of the cell from the pre-activations raw ``(B, 4, D)`` (i, f, z, o) and
    (h, c, n, m), each ``(B, D)``, as the authors' ``slstm_forward_pointwise``."""
    _, c, n, m = state
    i_raw, f_raw, z_raw, o_raw = raw.unbind(1)
    log_f_plus_m = m + F.logsigmoid(f_raw)
    m_new = i_raw if torch.all(n == 0.0) else torch.maximum(i_raw, log_f_plus_m)  # the first step from zero
    one = torch.ones_like(i_raw)
    i = torch.minimum(torch.exp(i_raw - m_new), one)
    f = torch.minimum(torch.exp(log_f_plus_m - m_new), one)
    c = f * c + i * torch.tanh(z_raw)
    n = f * n + i
    return torch.sigmoid(o_raw) * c / n, c, n, m_new


def slstm_scan(wx: torch.Tensor, recurrent_kernel: torch.Tensor, cells: State) -> tuple[torch.Tensor, State]:
    """The cell over a sequence: ``wx`` ``(B, T, 4, D)`` the input part of the pre-activations
    (with the bias), ``recurrent_kernel`` R ``(heads, d, 4, d)`` [head, in, gate, out], ``cells``
    (h, c, n, m). Returns every h ``(B, T, D)`` and the last (h, c, n, m)."""
    B, _, _, D = wx.shape
    heads, d = recurrent_kernel.shape[0], recurrent_kernel.shape[1]
    hs = []
    for wx_t in wx.unbind(1):  # unbind, not wx[:, t]: a backward linear in T
        ry = torch.einsum("bhk,hkgj->bghj", cells[0].view(B, heads, d), recurrent_kernel)  # R h per head: (B, 4, H, d)
        cells = slstm_step(wx_t + ry.reshape(B, GATES, D), cells)
        hs.append(cells[0])
    return torch.stack(hs, 1), cells


class SLSTMBlock(nn.Module):
    """u + GN(sLSTM(LN(u))), then + FFN(LN(u)); one time step at a time."""

    def __init__(self, p: Params) -> None:
        super().__init__()
        D, heads, d = p.hidden_size, p.num_heads, p.head_dim
        self.heads, self.d, self.kernel, self.ffn = heads, d, p.conv_kernel, p.ffn_factor > 0
        self.norm = nn.LayerNorm(D, bias=False)
        if p.conv_kernel:
            self.conv = nn.Conv1d(D, D, p.conv_kernel, groups=D)  # causal: the window is prepended, no padding
        self.gate_weight = nn.Parameter(torch.zeros(GATES, heads, d, d))  # [gate, head, out, in]: i, f, z, o
        self.recurrent_kernel = nn.Parameter(torch.zeros(heads, d, GATES, d))  # [head, in, gate, out], the authors'
        self.bias = nn.Parameter(torch.zeros(GATES, D))
        self.group_norm = nn.Parameter(torch.ones(D))  # a LayerNorm per head, its weight
        if self.ffn:
            self.ffn_norm = nn.LayerNorm(D, bias=False)
            self.up = nn.Linear(D, 2 * p.ffn_width, bias=False)
            self.down = nn.Linear(p.ffn_width, D, bias=False)

    def forward(self, u: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        B, T, D = u.shape
        x = self.norm(u)  # (B, T, D)
        cells = state[:4] if state is not None else (u.new_zeros(B, D),) * 4
        gated = x
        window: tuple[torch.Tensor, ...] = ()
        if self.kernel:
            past = state[4] if state is not None else u.new_zeros(B, D, self.kernel - 1)
            xc = torch.cat([past, x.transpose(1, 2)], 2)  # (B, D, K − 1 + T)
            gated = F.silu(self.conv(xc)).transpose(1, 2)  # (B, T, D)
            window = (xc[:, :, xc.shape[2] - (self.kernel - 1) :],)
        heads = lambda v: v.view(B, T, self.heads, self.d)  # noqa: E731
        wx = torch.cat(
            [
                torch.einsum("bthk,ghjk->btghj", heads(gated), self.gate_weight[:2]),
                torch.einsum("bthk,ghjk->btghj", heads(x), self.gate_weight[2:]),
            ],
            2,
        )  # (B, T, 4, H, d)
        h, cells = slstm_scan(wx.reshape(B, T, GATES, D) + self.bias, self.recurrent_kernel, cells)
        h = h.view(B, T, self.heads, self.d)
        mean, var = h.mean(-1, keepdim=True), h.var(-1, unbiased=False, keepdim=True)
        y = ((h - mean) * torch.rsqrt(var + 1e-5)).reshape(B, T, D) * self.group_norm  # GN: per-head LayerNorm
        u = u + y
        if self.ffn:
            g, v = self.up(self.ffn_norm(u)).chunk(2, dim=-1)
            u = u + self.down(F.gelu(g) * v)
        return u, (*cells, *window)


def factory(input_size: int, p: Params) -> nn.Module:
    return Stack(
        [SLSTMBlock(p) for _ in range(p.num_layers)],
        encoder=nn.Linear(input_size, p.hidden_size),
        final=nn.LayerNorm(p.hidden_size, bias=False),
    )


def forget_bias(p: Params, block: int) -> torch.Tensor:
    """The authors' "powerlaw_blockdependent" forget-gate bias of one head, ``(head_dim,)``."""
    ratio = block / (p.num_layers - 1) if p.num_layers > 1 else 0.0
    k = torch.arange(p.head_dim, dtype=torch.float32) / (p.head_dim - 1)
    return -(-5.0 + 12.0 * k ** (0.3 + 1.3 * ratio))


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    D = p.hidden_size
    small = math.sqrt(2 / (5 * D))
    with torch.no_grad():
        core.encoder.weight.copy_(draw(core.encoder.weight.shape, generator, "normal", 0.0, small))
        core.encoder.bias.zero_()
        for l, block in enumerate(core.layers):
            block.norm.weight.fill_(1.0)
            if p.conv_kernel:
                bound = 1 / math.sqrt(p.conv_kernel)  # Conv1d's default: fan-in = kernel width (depthwise)
                block.conv.weight.copy_(draw(block.conv.weight.shape, generator, "uniform", -bound, bound))
                block.conv.bias.copy_(draw(block.conv.bias.shape, generator, "uniform", -bound, bound))
            block.gate_weight.copy_(draw(block.gate_weight.shape, generator, "normal", 0.0, small))
            block.recurrent_kernel.zero_()
            block.bias.zero_()
            block.bias[1] = forget_bias(p, l).repeat(p.num_heads)
            block.group_norm.fill_(1.0)
            if p.ffn_factor:
                block.ffn_norm.weight.fill_(1.0)
                block.up.weight.copy_(draw(block.up.weight.shape, generator, "normal", 0.0, small))
                wang = 2 / p.num_layers / math.sqrt(D)
                block.down.weight.copy_(draw(block.down.weight.shape, generator, "normal", 0.0, wang))
        core.final.weight.fill_(1.0)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D + D, the final LayerNorm 5D; per layer and token: LayerNorm
    5D, the conv 2·K·D + D and SiLU 4D, the gates' input and recurrent products 2·(2·4·D·d),
    the bias 4D, the cell 26D (log σ 4, the stabiliser 2, two exponentials with their
    differences and minima 6, σ and tanh 8, c, n, h 6), the group norm 6D, the residual D; the
    feed-forward: LayerNorm 5D, W_up 4·D·F, GELU 8F, the gate F, W_down 2·F·D, the residual D."""
    D, d, K = p.hidden_size, p.head_dim, p.conv_kernel
    conv = 2 * K * D + D + 4 * D if K else 0
    ffn = 5 * D + 4 * D * p.ffn_width + 9 * p.ffn_width + 2 * p.ffn_width * D + D if p.ffn_factor else 0
    per_layer = 5 * D + conv + 16 * D * d + 4 * D + 26 * D + 6 * D + D + ffn
    return batch * length * (2 * input_size * D + D + 5 * D + p.num_layers * per_layer)


def state_size(p: Params, length: int) -> int:
    window = p.hidden_size * (p.conv_kernel - 1) if p.conv_kernel else 0
    return p.num_layers * (4 * p.hidden_size + window)


ARCH = register(
    Architecture(
        name="slstm",
        title="sLSTM (xLSTM)",
        citation="Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer, Brandstetter & Hochreiter (2024), NeurIPS",
        Params=Params,
        implementations={"reference": factory},
        init=init,
        flops=flops,
        state_size=state_size,
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, GATES * p.hidden_size),
        step_seconds=5e-4,  # about 25 small ops a step forward and twice that backward, at ~7 µs each
        equations="m_t = max(ĩ, m_{t−1} + logσ(f̃)), c_t = f c_{t−1} + i tanh(z̃), n_t = f n_{t−1} + i, "
        "h_t = σ(õ) c_t/n_t, i = exp(ĩ − m_t), f = exp(m_{t−1} + logσ(f̃) − m_t)",
        rank=50,
    )
)
