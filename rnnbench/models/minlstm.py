"""minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?",
arXiv:2410.01201):

f_t = σ(W_f x_t + b_f), i_t = σ(W_i x_t + b_i), h̃_t = g(W_h x_t + b_h);
f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t);  h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t.

``reference`` is the recurrence one step at a time; ``scan`` is the paper's log-space
form: with d = softplus(−k_f) − softplus(−k_i) (= log i − log f), log f' = −softplus(d)
and log i' = −softplus(−d), then the Heinsen scan (:func:`rnnbench.models.scan.log_scan`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnbench.models import minrnn
from rnnbench.models.contract import Architecture, ArchParams, register
from rnnbench.models.scan import log_scan
from rnnbench.models.stack import step_loop


def mix_reference(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
    kf, ki, v = parts
    f, i, h_tilde = torch.sigmoid(kf), torch.sigmoid(ki), minrnn.g(v)  # (B, T, H) each
    f_n, i_n = f / (f + i), i / (f + i)  # f', i'
    h = h0 if h0 is not None else torch.zeros_like(kf[:, 0])
    return step_loop(lambda h, f_n, i_n, h_tilde: f_n * h + i_n * h_tilde, h, f_n, i_n, h_tilde)[0]


def mix_scan(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
    kf, ki, v = parts
    d = F.softplus(-kf) - F.softplus(-ki)  # log i − log f
    log_f, log_i = -F.softplus(d), -F.softplus(-d)
    return log_scan(log_f, log_i + minrnn.log_g(v), None if h0 is None else h0.log())


@dataclass(frozen=True)
class Params(ArchParams):
    pass


ARCH = register(Architecture(
    name="minlstm",
    title="minLSTM",
    citation="Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), arXiv:2410.01201",
    Params=Params,
    # the loop first, so it is the default: on a CPU it is the faster one (README, "Modern recurrences")
    implementations={"reference": minrnn.factory(3, mix_reference), "scan": minrnn.factory(3, mix_scan)},
    init=minrnn.init,
    flops=minrnn.flops(3, 10),  # 2 σ, g, f + i, 2 divisions, two products, a sum
    state_size=lambda p, length: p.num_layers * p.hidden_size,
    output_size=lambda p: p.hidden_size,
    matmul_shape=lambda p, b, t, i: (b * t, i, 3 * p.hidden_size),
    step_seconds=8e-5,
    equations="h_t = f'_t⊙h_{t−1} + i'_t⊙g(W_h x_t), f' = f/(f+i), i' = i/(f+i)",
    rank=41,
))
