"""Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from rnnbench.models.reference import ReferenceRecurrent

GATES = 1


def elman_cell(
    gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, act: Callable = torch.tanh
) -> torch.Tensor:
    return act(gi + h @ w_hh.T + b_hh)  # (B, H)


def fused(input_size: int, hidden_size: int, num_layers: int, bidirectional: bool, nonlinearity: str) -> nn.Module:
    return nn.RNN(input_size, hidden_size, num_layers, nonlinearity=nonlinearity,
                  batch_first=True, bidirectional=bidirectional)


def reference(input_size: int, hidden_size: int, num_layers: int, bidirectional: bool, nonlinearity: str) -> nn.Module:
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    return ReferenceRecurrent(partial(elman_cell, act=act), GATES, input_size, hidden_size, num_layers, bidirectional)
