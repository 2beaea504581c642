"""LRU, the Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023,
"Resurrecting Recurrent Neural Networks for Long Sequences", ICML):

x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t),  y_t = Re(C x_t) + D ⊙ u_t,  λ = exp(−exp(ν) + i·exp(θ)),

a complex diagonal recurrence with N states. Ring initialisation: u1, u2 ~ U(0, 1),
ν = log(−½ log(u1 (r_max² − r_min²) + r_min²)), θ = log(max_phase · u2),
γ = sqrt(1 − |λ|²) (learned as log γ), B, C complex Gaussian scaled by 1/sqrt(2H) and
1/sqrt(N), D ~ N(0, 1). Layers as in the reference code (NicolasZucchet/minimal-LRU):
an input encoder Linear(I, H), then per layer u + GLU(GELU(LRU(LayerNorm(u)))).

One layer is linear in its input up to its output nonlinearity, so it cannot gate what it
stores on what it reads (the adding problem needs value × marker before the sum): use
``num_layers`` ≥ 2 for such tasks, as the paper's deep models do.

The recurrence is :func:`rnnbench.ops.linear_recurrence` with the time-invariant complex
a = λ: ``reference`` runs it one step at a time, ``chunk`` (the default) with the blocked
scan (only products and sums of λ, |λ| < 1, so nothing over- or underflows; λ's gradient
is reduced over batch and time inside the op); ``native`` the same op as a C++ CPU kernel built
at first use (form ``"native"``, :mod:`rnnbench.ops.native`: it needs a C++ compiler).
``reference`` computes the layer as the equations read (complex B u, Re(C x)); ``chunk`` and
``native`` the same layer in real arithmetic around the scan (:class:`RealLRULayer`), tested
equal to it. Parameters are real tensors (the real and imaginary parts of B and C), so float64
runs compute in complex128.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config import require
from rnnbench.models.contract import Architecture, ArchParams, draw, linear_init, register
from rnnbench.models.stack import Stack
from rnnbench.ops import linear_recurrence, native

Recurrence = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass(frozen=True)
class Params(ArchParams):
    d_state: int = 64  # N
    r_min: float = 0.9
    r_max: float = 0.999
    max_phase: float = 2 * math.pi

    def validate(self) -> None:
        super().validate()
        require(self.d_state >= 1, f"model.d_state={self.d_state} is impossible; use 1 or more")
        require(
            0 <= self.r_min < self.r_max <= 1,
            f"model.r_min={self.r_min}, model.r_max={self.r_max} are impossible; use 0 <= r_min < r_max <= 1",
        )
        require(self.max_phase > 0, f"model.max_phase={self.max_phase} is impossible; use a positive number")


def recurrence(form: str) -> Recurrence:
    """x_t = λ ⊙ x_{t−1} + γ ⊙ B u_t through the op's ``form``."""
    return lambda lam, bu, x0: linear_recurrence(lam, bu, x0, form=form)[0]


class LRULayer(nn.Module):
    """u + GLU(GELU(LRU(LayerNorm(u)))); state x ``(B, N)`` complex."""

    def __init__(self, hidden: int, states: int, recurrence: Recurrence) -> None:
        super().__init__()
        self.recurrence = recurrence
        self.norm = nn.LayerNorm(hidden)
        self.nu_log = nn.Parameter(torch.zeros(states))
        self.theta_log = nn.Parameter(torch.zeros(states))
        self.gamma_log = nn.Parameter(torch.zeros(states))
        self.B_re = nn.Parameter(torch.zeros(states, hidden))
        self.B_im = nn.Parameter(torch.zeros(states, hidden))
        self.C_re = nn.Parameter(torch.zeros(hidden, states))
        self.C_im = nn.Parameter(torch.zeros(hidden, states))
        self.D = nn.Parameter(torch.zeros(hidden))
        self.out1 = nn.Linear(hidden, hidden)
        self.out2 = nn.Linear(hidden, hidden)

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.norm(u)  # (B, T, H)
        lam = torch.exp(torch.complex(-self.nu_log.exp(), self.theta_log.exp()))  # (N,)
        gamma = self.gamma_log.exp()
        bu = torch.complex(v @ self.B_re.T, v @ self.B_im.T) * gamma  # (B, T, N)
        x = self.recurrence(lam, bu, x0)  # (B, T, N) complex
        y = x.real @ self.C_re.T - x.imag @ self.C_im.T + self.D * v  # Re(C x) + D ⊙ v: (B, T, H)
        y = F.gelu(y)
        return u + self.out1(y) * torch.sigmoid(self.out2(y)), x[:, -1]


class RealLRULayer(LRULayer):
    """The same layer and parameters in real arithmetic around the complex scan: γ folded into
    B's rows, B's real and imaginary parts interleaved so that one matmul's (B, T, 2N) output
    is B u's complex view (no copy), Re(C x) one matmul over x's real view, the GLU's two maps
    one matmul. Measured at B=16, T=1024, H=N=64 forward+backward, it halves the time of the
    layer around the native scan (results/README.md, "The LRU's layer"): the complex
    tensors' autograd (torch.complex, x.real's strided copies, complex products) cost more
    than the scan."""

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.norm(u)  # (B, T, H)
        B, T, H = v.shape
        N = self.nu_log.shape[0]
        lam = torch.exp(torch.complex(-self.nu_log.exp(), self.theta_log.exp()))  # (N,)
        w_in = (torch.stack([self.B_re, self.B_im], 1) * self.gamma_log.exp()[:, None, None]).reshape(2 * N, H)
        bu = torch.view_as_complex((v @ w_in.T).view(B, T, N, 2))  # γ ⊙ B v: (B, T, N) complex
        x = self.recurrence(lam, bu, x0)
        w_out = torch.stack([self.C_re, -self.C_im], -1).reshape(H, 2 * N)  # Re(C x) = [Re x, Im x] · [C_re, −C_im]
        y = F.gelu(torch.addcmul(torch.view_as_real(x).reshape(B, T, 2 * N) @ w_out.T, self.D, v))
        glu = F.linear(y, torch.cat([self.out1.weight, self.out2.weight]), torch.cat([self.out1.bias, self.out2.bias]))
        return u + F.glu(glu, -1), x[:, -1]


def build(recurrence: Recurrence, layer: type[LRULayer] = LRULayer) -> Callable[[int, Params], nn.Module]:
    def factory(input_size: int, p: Params) -> nn.Module:
        return Stack(
            [layer(p.hidden_size, p.d_state, recurrence) for _ in range(p.num_layers)],
            encoder=nn.Linear(input_size, p.hidden_size),
        )

    return factory


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    linear_init(core.encoder, generator)
    H, N = p.hidden_size, p.d_state
    with torch.no_grad():
        for layer in core.layers:
            u1, u2 = draw((N,), generator), draw((N,), generator)
            nu_log = torch.log(-0.5 * torch.log(u1 * (p.r_max**2 - p.r_min**2) + p.r_min**2))
            layer.nu_log.copy_(nu_log)
            layer.theta_log.copy_(torch.log(p.max_phase * u2.clamp_min(1e-12)))
            modulus = torch.exp(-nu_log.exp())
            layer.gamma_log.copy_(torch.log(torch.sqrt(1 - modulus**2)))
            for name, scale in (
                ("B_re", 1 / math.sqrt(2 * H)),
                ("B_im", 1 / math.sqrt(2 * H)),
                ("C_re", 1 / math.sqrt(N)),
                ("C_im", 1 / math.sqrt(N)),
                ("D", 1.0),
            ):
                t = getattr(layer, name)
                t.copy_(draw(t.shape, generator, "normal", 0.0, scale))
            linear_init(layer.out1, generator)
            linear_init(layer.out2, generator)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per token: the encoder 2·I·H; per layer: LayerNorm 5H, B u 4NH, γ 2N, the complex
    recurrence 8N, Re(C x) 4NH + H, D ⊙ v 2H, GELU 8H, GLU 4H² + 3H, the residual H."""
    H, N = p.hidden_size, p.d_state
    per_layer = 5 * H + 4 * N * H + 2 * N + 8 * N + 4 * N * H + H + 2 * H + 8 * H + 4 * H * H + 3 * H + H
    return batch * length * (2 * input_size * H + p.num_layers * per_layer)


ARCH = register(
    Architecture(
        name="lru",
        title="LRU (linear recurrent unit)",
        citation="Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De (2023), ICML",
        Params=Params,
        implementations={
            "reference": build(recurrence("recurrent")),
            "chunk": build(recurrence("chunk"), RealLRULayer),
            "native": build(recurrence("native"), RealLRULayer),
        },
        requires={"native": native.unavailable},
        defaults={"cpu": "chunk", "cuda": "chunk"},
        init=init,
        flops=flops,
        state_size=lambda p, length: p.num_layers * 2 * p.d_state,  # N complex numbers per layer
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, p.hidden_size, 2 * p.d_state),
        step_seconds=1e-4,
        equations="x_t = λ⊙x_{t−1} + γ⊙(B u_t), y_t = Re(C x_t) + D⊙u_t, λ = exp(−exp(ν) + i·exp(θ))",
        rank=42,
    )
)
