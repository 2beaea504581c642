"""expRNN: an orthogonal recurrent matrix parametrised by the exponential map.

h_t = modReLU(W x_t + B h_{t-1}),  B = expm(A - Aᵀ) (A's strict upper triangle holds the
skew-symmetric parameter), modReLU(z) = sign(z)·relu(|z| + b).

Lezcano-Casado & Martínez-Rubio (2019). Cheap Orthogonal Constraints in Neural Networks:
A Simple Parametrization of the Orthogonal and Unitary Group. ICML.

As in the authors' code (Lezcano/expRNN): W has no bias and is Kaiming-normal (relu); the
modReLU bias b ~ U(-0.01, 0.01); A is initialised block-diagonal with 2×2 blocks
[[0, s], [-s, 0]], s ~ U(-π, π) (``henaff``) or s = -sqrt((1 - cos θ)/(1 + cos θ)),
θ ~ U(0, π/2) (``cayley``); h_0 = 0. The orthogonal parameter A trains with its own
learning rate, ``orthogonal_lr_ratio`` × the run's (2e-5 against 2e-4 in the paper's copy
task, hence 0.1), through the contract's parameter groups. B is computed once per forward
call, outside the time loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from rnnbench.config import require
from rnnbench.models.contract import Architecture, ArchParams, draw, register
from rnnbench.models.stack import Stack, step_loop

EXPM_MATMULS = 8  # matrix_exp (Taylor degree ≤ 18 with scaling and squaring): about 8 H×H products


@dataclass(frozen=True)
class Params(ArchParams):
    init: Literal["henaff", "cayley"] = "henaff"
    orthogonal_lr_ratio: float = 0.1

    def validate(self) -> None:
        super().validate()
        require(
            self.orthogonal_lr_ratio > 0 and math.isfinite(self.orthogonal_lr_ratio),
            f"model.orthogonal_lr_ratio={self.orthogonal_lr_ratio} is impossible; use a positive number",
        )


def skew(a: torch.Tensor) -> torch.Tensor:
    upper = a.triu(1)
    return upper - upper.T  # (H, H)


def modrelu(z: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sign(z) * torch.relu(z.abs() + b)


class ExpRNNLayer(nn.Module):
    """One expRNN layer, one time step at a time; state h ``(B, H)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.zeros(hidden_size, input_size))
        self.log_recurrent = nn.Parameter(torch.zeros(hidden_size, hidden_size))  # A
        self.bias = nn.Parameter(torch.zeros(hidden_size))  # modReLU's b

    def recurrent(self) -> torch.Tensor:
        return torch.linalg.matrix_exp(skew(self.log_recurrent))  # B, orthogonal

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        B = self.recurrent()
        gi = x @ self.weight_ih.T  # (B, T, H)
        return step_loop(lambda h, g: modrelu(g + h @ B.T, self.bias), h, gi)


def reference(input_size: int, p: Params) -> nn.Module:
    return Stack([ExpRNNLayer(input_size if i == 0 else p.hidden_size, p.hidden_size) for i in range(p.num_layers)])


def block_skew(values: torch.Tensor, n: int) -> torch.Tensor:
    """The authors' ``create_diag_``: values at every other entry of the superdiagonal, made skew."""
    superdiag = torch.zeros(n - 1)
    superdiag[::2] = values
    a = torch.diag(superdiag, diagonal=1)
    return a - a.T


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    n = p.hidden_size
    with torch.no_grad():
        for layer in core.layers:
            fan_in = layer.weight_ih.shape[1]
            layer.weight_ih.copy_(draw(layer.weight_ih.shape, generator, "normal", 0.0, math.sqrt(2.0 / fan_in)))
            if p.init == "henaff":
                s = draw((n // 2,), generator, "uniform", -math.pi, math.pi)
            else:
                theta = draw((n // 2,), generator, "uniform", 0.0, math.pi / 2)
                s = -torch.sqrt((1.0 - torch.cos(theta)) / (1.0 + torch.cos(theta)))
            layer.log_recurrent.copy_(block_skew(s, n))
            layer.bias.copy_(draw(layer.bias.shape, generator, "uniform", -0.01, 0.01))


def param_groups(core: nn.Module, p: Params, lr: float) -> list[dict[str, Any]]:
    orthogonal = [layer.log_recurrent for layer in core.layers]
    ids = {id(t) for t in orthogonal}
    return [
        {"name": "orthogonal", "params": orthogonal, "lr": lr * p.orthogonal_lr_ratio},
        {"name": "other", "params": [t for t in core.parameters() if id(t) not in ids], "lr": lr},
    ]


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per layer: 2·B·T·(I+H)·H for the products, 3·B·T·H for modReLU, and expm(A) once per call."""
    H = p.hidden_size
    per_layer = [
        batch * length * (2 * ((input_size if i == 0 else H) + H) * H + 3 * H) + EXPM_MATMULS * 2 * H**3
        for i in range(p.num_layers)
    ]
    return sum(per_layer)


ARCH = register(
    Architecture(
        name="exprnn",
        title="expRNN (orthogonal via the exponential map)",
        citation="Lezcano-Casado & Martínez-Rubio (2019), ICML",
        Params=Params,
        implementations={"reference": reference},
        init=init,
        flops=flops,
        state_size=lambda p, length: p.num_layers * p.hidden_size,
        output_size=lambda p: p.hidden_size,
        param_groups=param_groups,
        matmul_shape=lambda p, b, t, i: (b * t, i + p.hidden_size, p.hidden_size),
        step_seconds=1.5e-4,
        equations="h_t = modReLU(W x_t + expm(A - Aᵀ) h_{t-1})",
        rank=32,
    )
)
