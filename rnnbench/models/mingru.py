"""minGRU (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?",
arXiv:2410.01201):

z_t = σ(W_z x_t + b_z),  h̃_t = g(W_h x_t + b_h),  h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t,
g(v) = v + 0.5 for v ≥ 0, σ(v) otherwise (positive, for the log-space scan).

Implementations: ``reference`` is the recurrence one step at a time; ``scan`` is the
paper's parallel form, the log-space scan of Heinsen (2023) with log(1 − z) = −softplus(k),
log z = −softplus(−k), log h̃ = log g(v) (:func:`rnnbench.models.scan.log_scan`), chosen
because it is the paper's own and it is exact for positive a and b. A carried state h_0
must be positive for the scan (every state minGRU produces from h_0 = 0 is).
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
    k, v = parts
    z, h_tilde = torch.sigmoid(k), minrnn.g(v)  # (B, T, H) each
    h = h0 if h0 is not None else torch.zeros_like(k[:, 0])
    return step_loop(lambda h, z, h_tilde: (1 - z) * h + z * h_tilde, h, z, h_tilde)[0]


def mix_scan(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
    k, v = parts
    log_a = -F.softplus(k)  # log(1 − z)
    log_b = -F.softplus(-k) + minrnn.log_g(v)  # log z + log h̃
    return log_scan(log_a, log_b, None if h0 is None else h0.log())


@dataclass(frozen=True)
class Params(ArchParams):
    pass


ARCH = register(Architecture(
    name="mingru",
    title="minGRU",
    citation="Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), arXiv:2410.01201",
    Params=Params,
    # the loop first, so it is the default: on a CPU it is the faster one (README, "Modern recurrences")
    implementations={"reference": minrnn.factory(2, mix_reference), "scan": minrnn.factory(2, mix_scan)},
    init=minrnn.init,
    flops=minrnn.flops(2, 6),  # σ, g, 1 − z, two products, a sum
    state_size=lambda p, length: p.num_layers * p.hidden_size,
    output_size=lambda p: p.hidden_size,
    matmul_shape=lambda p, b, t, i: (b * t, i, 2 * p.hidden_size),
    step_seconds=8e-5,
    equations="h_t = (1 − z_t)⊙h_{t−1} + z_t⊙g(W_h x_t), z_t = σ(W_z x_t)",
    rank=40,
))
