"""GRU, with PyTorch's gate order (r, z, n):

r, z = σ(·) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh;
n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn));  h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}.

Cho et al. (2014). Learning Phrase Representations using RNN Encoder-Decoder. EMNLP.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.models.architectures.classic import register_family
from rnnbench.models.architectures.reference import ReferenceRecurrent
from rnnbench.models.contract import ArchParams

GATES = 3


def gru_cell(gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    gh = h @ w_hh.T + b_hh  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def fused(input_size: int, p: ArchParams, bidirectional: bool) -> nn.Module:
    return nn.GRU(input_size, p.hidden_size, p.num_layers, batch_first=True, bidirectional=bidirectional)


def reference(input_size: int, p: ArchParams, bidirectional: bool) -> nn.Module:
    return ReferenceRecurrent(gru_cell, GATES, input_size, p.hidden_size, p.num_layers, bidirectional)


register_family(
    "gru",
    "GRU",
    "Cho et al. (2014), EMNLP",
    ArchParams,
    GATES,
    1,
    fused,
    reference,
    "h_t = (1-z)⊙n + z⊙h_{t-1}, n = tanh(W_in x + r⊙(W_hn h + b_hn))",
    3.3e-4,
    12,
)
