"""LSTM, with PyTorch's gate order (i, f, g, o):

i, f, o = σ(·), g = tanh(·) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh;
c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t).

Hochreiter & Schmidhuber (1997), Neural Computation 9(8), with the forget gate of
Gers, Schmidhuber & Cummins (2000).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.models.architectures.classic import register_family
from rnnbench.models.architectures.reference import ReferenceRecurrent
from rnnbench.models.contract import ArchParams

GATES = 4


def lstm_cell(
    gi: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], w_hh: torch.Tensor, b_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    h, c = state  # (B, H) each
    i, f, g, o = (gi + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def fused(input_size: int, p: ArchParams, bidirectional: bool) -> nn.Module:
    return nn.LSTM(input_size, p.hidden_size, p.num_layers, batch_first=True, bidirectional=bidirectional)


def reference(input_size: int, p: ArchParams, bidirectional: bool) -> nn.Module:
    return ReferenceRecurrent(lstm_cell, GATES, input_size, p.hidden_size, p.num_layers, bidirectional, has_cell_state=True)


register_family(
    "lstm",
    "LSTM",
    "Hochreiter & Schmidhuber (1997), Neural Computation 9(8)",
    ArchParams,
    GATES,
    2,
    fused,
    reference,
    "c_t = f⊙c_{t-1} + i⊙g, h_t = o⊙tanh(c_t)",
    1.2e-4,
    11,
)
