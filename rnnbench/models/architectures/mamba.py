"""Mamba's selective state-space block (Gu & Dao 2023, "Mamba: Linear-Time Sequence
Modeling with Selective State Spaces", arXiv:2312.00752, Algorithm 2 and the reference
``selective_scan_ref`` of state-spaces/mamba).

Per layer, on u ``(B, T, D)``: x, z = in_proj(RMSNorm(u)) (width E·D each, E = ``expand``);
x ← SiLU(causal depthwise conv1d of width ``d_conv`` over x); (Δ_r, B, C) = x_proj(x) of
widths (R = ceil(D/16), N, N); Δ = softplus(dt_proj(Δ_r)); A = −exp(A_log);
h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t x_t (state E·D × N), y_t = C_t · h_t + D ⊙ x_t;
out = u + out_proj(y ⊙ SiLU(z)). An input encoder Linear(I, D) comes first and an RMSNorm
last, as Mamba's language model has an embedding and a final norm. The recurrent state
carried between calls is, per layer, the conv window (the last d_conv − 1 inputs) and h.

Initialisation as the reference code: Δ's bias so that softplus(bias) is log-uniform in
[dt_min, dt_max], dt_proj's weight U(±R^-½), A_log = log(1..N) per channel, D = 1, the
conv and the linear maps PyTorch's defaults (drawn from the run's generator).

The scan is :func:`rnnbench.ops.selective_scan`: ``reference`` runs it one step at a time
as ``selective_scan_ref`` writes it (materialising exp(Δ A) and Δ B x, (B, T, E·D, N));
``chunk`` (the default) with the blocked scan, which builds them per chunk step and keeps
only each chunk's entering state for its backward; ``native`` with the same algorithm as a
C++ CPU kernel built at first use (:mod:`rnnbench.ops.native`: it needs a C++ compiler);
``cuda`` with mamba_ssm's
``selective_scan_fn`` CUDA kernel (on CUDA, ``pip install 'rnnbench[mamba]'``; the kernel takes
no initial state, so a carried h_0 is added by linearity: C_t · (exp(A Σ_{s≤t} Δ_s) ⊙ h_0)).
``neg_eigval`` maps the decay to 2·exp(ΔA) − 1 ∈ (−1, 1] (Grazzi et al. 2025,
arXiv:2411.12537), in the reference, chunk and native forms. The state is E·D·N numbers per
sequence, E·N = 32 times minGRU's at the same width, which is what its cost is made of.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.errors import UsageError
from rnnbench.models.architectures import linear_attention as la
from rnnbench.models.contract import ArchParams, draw, linear_init
from rnnbench.models.stack import RMSNorm, Stack
from rnnbench.ops import selective_scan

Scan = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Params(ArchParams):
    d_state: int = 16  # N
    expand: int = 2  # E
    d_conv: int = 4
    dt_min: float = 0.001
    dt_max: float = 0.1
    neg_eigval: bool = False  # decay 2·exp(ΔA) − 1 ∈ (−1, 1] (Grazzi et al. 2025)

    def validate(self) -> None:
        super().validate()
        for name in ("d_state", "expand", "d_conv"):
            require(getattr(self, name) >= 1, f"model.{name}={getattr(self, name)} is impossible; use 1 or more")
        require(
            0 < self.dt_min < self.dt_max,
            f"model.dt_min={self.dt_min}, model.dt_max={self.dt_max} are impossible; use 0 < dt_min < dt_max",
        )
        require(isinstance(self.neg_eigval, bool), f"model.neg_eigval={self.neg_eigval!r} must be true or false")

    @property
    def dt_rank(self) -> int:
        return math.ceil(self.hidden_size / 16)


def scan(form: str) -> Scan:
    """The selective scan through the op's ``form``: (x, Δ, A, B, C, h0, neg) -> (y, h_T)."""
    return lambda x, delta, A, Bm, Cm, h0, neg=False: selective_scan(x, delta, A, Bm, Cm, h0, form=form, neg_eigval=neg)


def cuda_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    Bm: torch.Tensor,
    Cm: torch.Tensor,
    h0: torch.Tensor | None,
    neg: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mamba_ssm's ``selective_scan_fn`` (channels first, D, z and the Δ bias left to the layer).
    It starts from h = 0; the scan is linear in h_0, so a carried state adds
    y_t += C_t · (exp(A Σ_{s≤t} Δ_s) ⊙ h_0) and h_T += exp(A Σ Δ) ⊙ h_0."""
    la.on_cuda(x, "mamba_ssm's selective_scan_fn")
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    y, h = selective_scan_fn(
        x.transpose(1, 2), delta.transpose(1, 2), A, Bm.transpose(1, 2), Cm.transpose(1, 2), return_last_state=True
    )
    y, h = y.transpose(1, 2), h.to(x.dtype)  # (B, T, ED), (B, ED, N)
    if h0 is not None:
        decay = torch.exp(delta.cumsum(1).unsqueeze(-1) * A)  # (B, T, ED, N), only when a state is carried
        y = y + torch.einsum("btdn,bdn,btn->btd", decay, h0, Cm)
        h = h + decay[:, -1] * h0
    return y, h


class MambaLayer(nn.Module):
    """u + Mamba(RMSNorm(u)); state (conv window ``(B, E·D, d_conv − 1)``, h ``(B, E·D, N)``)."""

    def __init__(self, p: Params, scan: Scan) -> None:
        super().__init__()
        D, ED, N, R = p.hidden_size, p.expand * p.hidden_size, p.d_state, p.dt_rank
        self.scan, self.sizes, self.neg = scan, (ED, N, R, p.d_conv), p.neg_eigval
        self.norm = RMSNorm(D)
        self.in_proj = nn.Linear(D, 2 * ED, bias=False)
        self.conv = nn.Conv1d(ED, ED, p.d_conv, groups=ED)  # causal: the window is prepended, no padding
        self.x_proj = nn.Linear(ED, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, ED)
        self.A_log = nn.Parameter(torch.zeros(ED, N))
        self.D = nn.Parameter(torch.ones(ED))
        self.out_proj = nn.Linear(ED, D, bias=False)

    def forward(
        self, u: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        ED, N, R, K = self.sizes
        window, h0 = state if state is not None else (u.new_zeros(u.shape[0], ED, K - 1), None)
        x, z = self.in_proj(self.norm(u)).chunk(2, dim=-1)  # (B, T, ED) each
        xc = torch.cat([window, x.transpose(1, 2)], 2)  # (B, ED, K − 1 + T)
        x = F.silu(self.conv(xc)).transpose(1, 2)  # (B, T, ED)
        dt_r, Bm, Cm = self.x_proj(x).split([R, N, N], dim=-1)
        delta = F.softplus(self.dt_proj(dt_r))  # (B, T, ED)
        y, h = self.scan(x, delta, -torch.exp(self.A_log), Bm, Cm, h0, self.neg)
        y = y + x * self.D
        return u + self.out_proj(y * F.silu(z)), (xc[:, :, xc.shape[2] - (K - 1) :], h)


def build(scan: Scan, kernel: bool = False) -> Callable[[int, Params], nn.Module]:
    def factory(input_size: int, p: Params) -> nn.Module:
        if kernel and p.neg_eigval:
            raise UsageError(
                "mamba_ssm's selective_scan_fn has no negative eigenvalues; use --impl chunk "
                "(or reference) with model.neg_eigval=true"
            )
        return Stack(
            [MambaLayer(p, scan) for _ in range(p.num_layers)],
            encoder=nn.Linear(input_size, p.hidden_size),
            final=RMSNorm(p.hidden_size),
        )

    return factory


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    linear_init(core.encoder, generator)
    ED, N, R = p.expand * p.hidden_size, p.d_state, p.dt_rank
    with torch.no_grad():
        for layer in core.layers:
            for lin in (layer.in_proj, layer.x_proj, layer.out_proj):
                linear_init(lin, generator)
            la.conv_init(layer.conv, generator)
            std = R**-0.5
            layer.dt_proj.weight.copy_(draw(layer.dt_proj.weight.shape, generator, "uniform", -std, std))
            log_dt = draw((ED,), generator, "uniform", math.log(p.dt_min), math.log(p.dt_max))
            dt = log_dt.exp().clamp(min=1e-4)
            layer.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)
            layer.A_log.copy_(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(ED, 1))
            layer.D.fill_(1.0)
            layer.norm.weight.fill_(1.0)
        core.final.weight.fill_(1.0)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·D and final norm 4D; per layer: RMSNorm 4D, in_proj 4·D·ED,
    conv 2·d_conv·ED, SiLU 4ED, x_proj 2·ED·(R+2N), dt_proj 2·R·ED, softplus 2ED, the scan
    (exp(ΔA) 2·ED·N, ΔBx 2·ED·N, update 2·ED·N, C·h 2·ED·N), D skip 2ED, gate 5ED,
    out_proj 2·ED·D, residual D."""
    D, ED, N, R = p.hidden_size, p.expand * p.hidden_size, p.d_state, p.dt_rank
    per_layer = (
        4 * D
        + 4 * D * ED
        + 2 * p.d_conv * ED
        + 4 * ED
        + 2 * ED * (R + 2 * N)
        + 2 * R * ED
        + 2 * ED
        + 8 * ED * N
        + 2 * ED
        + 5 * ED
        + 2 * ED * D
        + D
    )
    return batch * length * (2 * input_size * D + 4 * D + p.num_layers * per_layer)


ARCH = la.register_family(
    name="mamba",
    title="Mamba selective SSM",
    citation="Gu & Dao (2023), arXiv:2312.00752",
    Params=Params,
    implementations={
        "reference": build(scan("recurrent")),
        "chunk": build(scan("chunk")),
        "native": build(scan("native")),
        "cuda": build(cuda_scan, kernel=True),
    },
    init=init,
    flops=flops,
    state_size=lambda p, length: p.num_layers * (p.expand * p.hidden_size * (p.d_state + p.d_conv - 1)),
    matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * p.expand * p.hidden_size),
    step_seconds=2.5e-4,
    equations="h_t = exp(Δ_t A)⊙h_{t−1} + Δ_t B_t x_t, y_t = C_t·h_t + D⊙x_t, Δ, B, C from x_t",
    rank=43,
)
