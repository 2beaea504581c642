"""IRNN: a ReLU Elman RNN initialised at the identity.

h_t = relu(W_ih x_t + W_hh h_{t-1} + b), with W_hh = s·I (s = 1 in the paper), b = 0 and
W_ih ~ N(0, 0.001²) at initialisation.

Le, Jaitly & Hinton (2015). A Simple Way to Initialize Recurrent Networks of Rectified
Linear Units. arXiv:1504.00941.

``fused`` is ``torch.nn.RNN(nonlinearity="relu")``; ``reference`` is the Elman step
equations of :mod:`rnnbench.models.architectures.elman` with the same parameter names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from rnnbench.config import require
from rnnbench.models.architectures.classic import gated_flops
from rnnbench.models.architectures.elman import elman_cell
from rnnbench.models.architectures.reference import ReferenceRecurrent
from rnnbench.models.contract import Architecture, ArchParams, draw, register


@dataclass(frozen=True)
class Params(ArchParams):
    input_std: float = 0.001  # W_ih ~ N(0, input_std²)
    identity_scale: float = 1.0  # W_hh = identity_scale · I

    def validate(self) -> None:
        super().validate()
        require(self.input_std >= 0, f"model.input_std={self.input_std} is impossible; use 0 or more")


def init(core: nn.Module, p: Params, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, param in core.named_parameters():
            if name.startswith("weight_ih"):
                param.copy_(draw(param.shape, generator, "normal", 0.0, p.input_std))
            elif name.startswith("weight_hh"):
                param.copy_(p.identity_scale * torch.eye(p.hidden_size))
            else:
                param.zero_()


def fused(input_size: int, p: Params) -> nn.Module:
    return nn.RNN(input_size, p.hidden_size, p.num_layers, nonlinearity="relu", batch_first=True)


def reference(input_size: int, p: Params) -> nn.Module:
    return ReferenceRecurrent(partial(elman_cell, act=torch.relu), 1, input_size, p.hidden_size, p.num_layers)


ARCH = register(
    Architecture(
        name="irnn",
        title="IRNN (ReLU RNN, identity init)",
        citation="Le, Jaitly & Hinton (2015), arXiv:1504.00941",
        Params=Params,
        implementations={"fused": fused, "reference": reference},
        init=init,
        flops=gated_flops(1, False),
        state_size=lambda p, length: p.num_layers * p.hidden_size,
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, i + p.hidden_size, p.hidden_size),
        step_seconds=1.2e-4,
        equations="h_t = relu(W_ih x_t + W_hh h_{t-1} + b), W_hh = I, b = 0 at init",
        rank=30,
    )
)
