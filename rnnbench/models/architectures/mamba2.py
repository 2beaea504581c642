"""Mamba-2 (Dao & Gu 2024, "Transformers are SSMs: Generalized Models and Efficient Algorithms
Through Structured State Space Duality", arXiv:2405.21060), as state-spaces/mamba's
``modules/mamba2.py`` builds it (rmsnorm on, norm_before_gate off, D per head, conv bias on,
no in/out projection bias, no gated-MLP part).

Per layer, on u ``(B, T, D)`` with E = expand·D inner channels in H = E/P heads of P =
``headdim``, G = ``ngroups`` and N = ``d_state``:

    z, xBC, dt_raw = in_proj(RMSNorm(u))  (widths E, E + 2GN, H),
    x, B, C = SiLU(conv(xBC))  (causal depthwise, width d_conv),
    dt = softplus(dt_raw + dt_bias),  A = −exp(A_log),
    h_t = exp(dt_t A) h_{t−1} + dt_t x_t B_tᵀ  (per head, h ∈ R^{P×N}),  y_t = h_t C_t + D ⊙ x_t,
    out = u + out_proj(RMSNorm_group(y ⊙ SiLU(z))).

With ``neg_eigval`` the decay exp(dt A) becomes 2·exp(dt A) − 1 ∈ (−1, 1] (Grazzi et al.
2025, arXiv:2411.12537). An encoder Linear(I, D) first and an RMSNorm last, as Mamba's
language model; no MLP (mamba's Mamba-2 models have d_intermediate = 0).

Initialisation as the module: A ~ U(1, 16) (A_log = log A), dt_bias = softplus⁻¹ of dt
log-uniform in [dt_min, dt_max] (floor 1e−4), D = 1, the norm 1, in_proj, out_proj and the conv
PyTorch's defaults (mamba_ssm's language model rescales out_proj by 1/√n_layer as well; rnnbench's
Mamba and Mamba-2 keep the module's own init).

Implementations: ``reference`` (:func:`rnnbench.ops.ssd` one step at a time, as
``Mamba2.step``), ``chunk`` (the SSD chunk form; the default on CPU, chunk length
``chunk_size``) and ``cuda`` (mamba_ssm's ``mamba_chunk_scan_combined`` Triton kernel, on CUDA
with ``pip install 'rnnbench[mamba]'``). State per layer: the conv window ``(B, E + 2GN,
d_conv − 1)`` and h ``(B, H, P, N)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.errors import UsageError
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams, draw, linear_init
from rnnbench.ops import ssd

Scan = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (x, dt, A, B, C, h0, chunk_size, neg) -> (y, h)


@dataclass(frozen=True)
class Params(ArchParams):
    d_state: int = 16  # N (mamba: 128)
    headdim: int = 16  # P (mamba: 64)
    expand: int = 2
    ngroups: int = 1
    d_conv: int = 4
    chunk_size: int = 32  # the chunk form's chunk length (mamba: 256 on a GPU)
    dt_min: float = 0.001
    dt_max: float = 0.1
    neg_eigval: bool = False  # decay 2·exp(dt A) − 1 ∈ (−1, 1]

    @property
    def d_inner(self) -> int:
        return self.expand * self.hidden_size

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim

    def validate(self) -> None:
        super().validate()
        for name in ("d_state", "headdim", "expand", "ngroups", "d_conv", "chunk_size"):
            require(getattr(self, name) >= 1, f"model.{name}={getattr(self, name)} is impossible; use 1 or more")
        require(self.d_inner % self.headdim == 0, f"model.headdim={self.headdim} must divide expand·hidden_size = {self.d_inner}")
        require(
            self.nheads % self.ngroups == 0,
            f"model.ngroups={self.ngroups} must divide the {self.nheads} heads (expand·hidden_size/headdim)",
        )
        require(
            0 < self.dt_min < self.dt_max,
            f"model.dt_min={self.dt_min}, model.dt_max={self.dt_max} are impossible; use 0 < dt_min < dt_max",
        )
        require(isinstance(self.neg_eigval, bool), f"model.neg_eigval={self.neg_eigval!r} must be true or false")


def scan(form: str) -> Scan:
    return lambda x, dt, A, Bm, Cm, h0, chunk, neg: ssd(
        x, dt, A, Bm, Cm, initial_state=h0, form=form, chunk_size=chunk if form == "chunk" else None, neg_eigval=neg
    )


def cuda_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    Bm: torch.Tensor,
    Cm: torch.Tensor,
    h0: torch.Tensor | None,
    chunk: int,
    neg: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mamba_ssm's ``mamba_chunk_scan_combined`` with D, z and dt_bias left to the layer (dt
    already through softplus), as :func:`rnnbench.ops.ssd` takes them."""
    la.on_cuda(x, "mamba_ssm's mamba_chunk_scan_combined")
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

    y, h = mamba_chunk_scan_combined(x, dt, A, Bm, Cm, chunk_size=chunk, initial_states=h0, return_final_states=True)
    return y, h.to(x.dtype)


class GroupRMSNormGated(nn.Module):
    """mamba's ``RMSNormGated`` with norm_before_gate=False: RMSNorm(y ⊙ SiLU(z)) over each of
    the G groups of E/G channels, times a weight per channel (eps 1e−5)."""

    def __init__(self, size: int, groups: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        v = y * F.silu(z)  # (B, T, E)
        v = la.rms(v.unflatten(-1, (self.groups, -1)), self.eps).flatten(-2)
        return v * self.weight


class Mamba2Mixer(nn.Module):
    """Mamba2 without its inference cache; state (conv window, h)."""

    def __init__(self, p: Params, scan: Scan) -> None:
        super().__init__()
        D, E, G, N, H = p.hidden_size, p.d_inner, p.ngroups, p.d_state, p.nheads
        self.scan, self.p = scan, p
        self.in_proj = nn.Linear(D, 2 * E + 2 * G * N + H, bias=False)  # [z, x, B, C, dt]
        self.conv = la.ShortConv(E + 2 * G * N, p.d_conv, bias=True)
        self.dt_bias = nn.Parameter(torch.zeros(H))
        self.A_log = nn.Parameter(torch.zeros(H))
        self.D = nn.Parameter(torch.ones(H))
        self.norm = GroupRMSNormGated(E, G)
        self.out_proj = nn.Linear(E, D, bias=False)

    def forward(self, u: torch.Tensor, state: tuple[Any, ...] | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        p = self.p
        Bt, T, _ = u.shape
        E, G, N, H = p.d_inner, p.ngroups, p.d_state, p.nheads
        window, h0 = state if state is not None else (None, None)
        z, xBC, dt = self.in_proj(u).split([E, E + 2 * G * N, H], dim=-1)
        xBC, window = self.conv(xBC, window)  # SiLU(conv(·)) (B, T, E + 2GN)
        x, Bm, Cm = xBC.split([E, G * N, G * N], dim=-1)
        x = x.reshape(Bt, T, H, p.headdim)  # (B, T, H, P)
        dt = F.softplus(dt + self.dt_bias)  # (B, T, H)
        y, h = self.scan(
            x, dt, -self.A_log.exp(), Bm.reshape(Bt, T, G, N), Cm.reshape(Bt, T, G, N), h0, p.chunk_size, p.neg_eigval
        )
        y = y + x * self.D[:, None]  # D skip per head
        return self.out_proj(self.norm(y.reshape(Bt, T, E), z)), (window, h)


def build(scan: Scan, kernel: bool = False) -> Callable[[int, Params], nn.Module]:
    def factory(input_size: int, p: Params) -> nn.Module:
        if kernel and p.neg_eigval:
            raise UsageError(
                "mamba_ssm's mamba_chunk_scan_combined has no negative eigenvalues; "
                "use --impl chunk (or reference) with model.neg_eigval=true"
            )
        return la.stack(input_size, p, lambda: Mamba2Mixer(p, scan))

    return factory


def init_mixer(m: Mamba2Mixer, generator: torch.Generator) -> None:
    """The module's own init: in_proj, the conv and out_proj PyTorch's defaults, dt_bias, A ~ U(1, 16), D = 1."""
    p = m.p
    with torch.no_grad():
        linear_init(m.in_proj, generator)
        la.conv_init(m.conv, generator)
        m.dt_bias.copy_(la.dt_bias(p.nheads, generator, p.dt_min, p.dt_max))
        m.A_log.copy_(draw((p.nheads,), generator, "uniform", 1.0, 16.0).log())  # A ~ U(1, 16)
        m.D.fill_(1.0)
        m.norm.weight.fill_(1.0)
        linear_init(m.out_proj, generator)


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    la.init_stack(core, generator, init_mixer)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and final norm 4D; per layer: RMSNorm 4D, in_proj
    2D(2E + 2GN + H), the conv 2·d_conv·(E + 2GN) and SiLU 4(E + 2GN), softplus 3H, exp(dt A) 2H,
    dt ⊙ x E, the scan per head (decay PN, outer product 2PN, y = h C 2PN), the D skip 2E, the
    gate 5E, the grouped RMSNorm 4E, out_proj 2ED, the residual D."""
    D, E, G, N, H = p.hidden_size, p.d_inner, p.ngroups, p.d_state, p.nheads
    C = E + 2 * G * N
    per_layer = (
        4 * D
        + 2 * D * (2 * E + 2 * G * N + H)
        + 2 * p.d_conv * C
        + 4 * C
        + 5 * H
        + E
        + 5 * E * N
        + 2 * E
        + 5 * E
        + 4 * E
        + 2 * E * D
        + D
    )
    return batch * length * (2 * input_size * D + 4 * D + p.num_layers * per_layer)


def state_size(p: Params) -> int:
    """Per layer: H·P·N = E·N of h plus the conv window (E + 2GN)·(d_conv − 1)."""
    return p.num_layers * (p.d_inner * p.d_state + (p.d_inner + 2 * p.ngroups * p.d_state) * (p.d_conv - 1))


ARCH = la.register_family(
    name="mamba2",
    title="Mamba-2 (SSD)",
    citation="Dao & Gu (2024), arXiv:2405.21060",
    Params=Params,
    implementations={"reference": build(scan("recurrent")), "chunk": build(scan("chunk")), "cuda": build(cuda_scan, kernel=True)},
    init=init,
    flops=flops,
    state_size=state_size,
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * p.d_inner + 2 * p.ngroups * p.d_state + p.nheads),
    step_seconds=1.2e-4,  # scaled from MQAR runs beside Mamba (2.5e-4) on this machine
    equations="h_t = exp(dt_t A) h_{t−1} + dt_t x_t B_tᵀ per head (scalar A), y_t = h_t C_t + D x_t, "
    "out = W_o RMSNorm(y ⊙ SiLU(z))",
    rank=47,
)
