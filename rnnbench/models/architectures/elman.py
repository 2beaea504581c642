"""Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

Elman (1990). Finding Structure in Time. Cognitive Science 14(2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import nn

from rnnbench.models.architectures.classic import register_family
from rnnbench.models.architectures.reference import ReferenceRecurrent
from rnnbench.models.contract import ArchParams

GATES = 1


@dataclass(frozen=True)
class Params(ArchParams):
    nonlinearity: Literal["tanh", "relu"] = "tanh"


def elman_cell(
    gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, act: Callable = torch.tanh
) -> torch.Tensor:
    return act(gi + h @ w_hh.T + b_hh)  # (B, H)


def fused(input_size: int, p: Params, bidirectional: bool) -> nn.Module:
    return nn.RNN(
        input_size, p.hidden_size, p.num_layers, nonlinearity=p.nonlinearity, batch_first=True, bidirectional=bidirectional
    )


def reference(input_size: int, p: Params, bidirectional: bool) -> nn.Module:
    act = torch.tanh if p.nonlinearity == "tanh" else torch.relu
    return ReferenceRecurrent(partial(elman_cell, act=act), GATES, input_size, p.hidden_size, p.num_layers, bidirectional)


register_family(
    "rnn",
    "Elman RNN",
    "Elman (1990), Cognitive Science 14(2)",
    Params,
    GATES,
    1,
    fused,
    reference,
    "h_t = act(W_ih x_t + W_hh h_{t-1} + b)",
    1.2e-4,
    10,
)
