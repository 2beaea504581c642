"""IndRNN: independently recurrent neurons, h_t = relu(W x_t + u ⊙ h_{t-1} + b), u a vector.

Li, Li, Cook, Zhu & Gao (2018). Independently Recurrent Neural Network (IndRNN): Building
A Longer and Deeper RNN. CVPR.

Initialisation and constraint as in the authors' code (Sunnydreamrain/IndRNN_pytorch):
with MAG = 2 and T the sequence length the bound is set for (``bound_length``, a model
parameter, not read from the task), U_bound = MAG^(1/T) and U_lowbound = (1/MAG)^(1/T);
u ~ U(0, U_bound) in every layer but the last, U(U_lowbound, U_bound) in the last; the
input weights W are Kaiming-uniform (a = 8, fan-in), b = 0; after every optimiser step u
is clipped to [-U_bound, U_bound] (``after_step``). Layers are stacked plainly (the
paper's batch-normalised and residual variants are not this architecture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnbench.config import require
from rnnbench.models.contract import Architecture, ArchParams, draw, register
from rnnbench.models.stack import Stack, step_loop


@dataclass(frozen=True)
class Params(ArchParams):
    bound_length: int = 100  # T in U_bound = mag^(1/T)
    mag: float = 2.0

    def validate(self) -> None:
        super().validate()
        require(self.bound_length >= 1, f"model.bound_length={self.bound_length} is impossible; use 1 or more")
        require(self.mag > 1, f"model.mag={self.mag} is impossible; use a number above 1")

    @property
    def u_bound(self) -> float:
        return self.mag ** (1.0 / self.bound_length)

    @property
    def u_lowbound(self) -> float:
        return (1.0 / self.mag) ** (1.0 / self.bound_length)


class IndRNNLayer(nn.Module):
    """One IndRNN layer, one time step at a time; state h ``(B, H)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.zeros(hidden_size, input_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.weight_hh = nn.Parameter(torch.zeros(hidden_size))  # u

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        gi = x @ self.weight_ih.T + self.bias  # (B, T, H)
        return step_loop(lambda h, g: torch.relu(g + self.weight_hh * h), h, gi)


def reference(input_size: int, p: Params) -> nn.Module:
    return Stack([IndRNNLayer(input_size if i == 0 else p.hidden_size, p.hidden_size) for i in range(p.num_layers)])


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    last = len(core.layers) - 1
    with torch.no_grad():
        for i, layer in enumerate(core.layers):
            fan_in = layer.weight_ih.shape[1]
            bound = math.sqrt(2.0 / (1 + 8**2)) * math.sqrt(3.0 / fan_in)  # kaiming_uniform_(a=8, fan_in)
            layer.weight_ih.copy_(draw(layer.weight_ih.shape, generator, "uniform", -bound, bound))
            layer.bias.zero_()
            low = p.u_lowbound if i == last else 0.0
            layer.weight_hh.copy_(draw(layer.weight_hh.shape, generator, "uniform", low, p.u_bound))


def clip_recurrent(core: nn.Module, p: Params) -> None:
    """The authors' constraint, after every optimiser step: u ∈ [-U_bound, U_bound]."""
    with torch.no_grad():
        for layer in core.layers:
            layer.weight_hh.clamp_(-p.u_bound, p.u_bound)


def flops(p: Params, batch: int, length: int, input_size: int) -> int:
    """Per layer and step: the input product 2·I·H, then u⊙h, the bias and relu (3·H)."""
    H = p.hidden_size
    return sum(batch * length * (2 * (input_size if i == 0 else H) * H + 3 * H) for i in range(p.num_layers))


ARCH = register(
    Architecture(
        name="indrnn",
        title="IndRNN (independently recurrent)",
        citation="Li, Li, Cook, Zhu & Gao (2018), CVPR",
        Params=Params,
        implementations={"reference": reference},
        init=init,
        flops=flops,
        state_size=lambda p, length: p.num_layers * p.hidden_size,
        output_size=lambda p: p.hidden_size,
        after_step=clip_recurrent,
        matmul_shape=lambda p, b, t, i: (b * t, i, p.hidden_size),
        step_seconds=6e-5,
        equations="h_t = relu(W x_t + u⊙h_{t-1} + b); u clipped to ±MAG^(1/T) after each step",
        rank=31,
    )
)
