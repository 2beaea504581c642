"""minGRU (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?",
arXiv:2410.01201):

z_t = σ(W_z x_t + b_z),  h̃_t = g(W_h x_t + b_h),  h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t,
g(v) = v + 0.5 for v ≥ 0, σ(v) otherwise (positive, for the log-space scan).

Implementations (the recurrence is :func:`rnnbench.ops.linear_recurrence` with
a = 1 − z, b = z ⊙ h̃): ``reference`` runs it one step at a time (form ``recurrent``);
``chunk`` (the default on CPU and CUDA) with the blocked scan and its hand-written
backward (form ``chunk``), the gates computed in the same autograd node and kept for its
backward (:func:`rnnbench.models.architectures.minrnn.chunk_mix`: the bits of the gates composed
with the op under autograd, in fewer passes); ``native`` the gates and the recurrence in one C++ CPU kernel, built
at first use (:mod:`rnnbench.ops.native`: it needs a C++ compiler), whose backward recomputes
σ(k) and g(v) as it runs the reverse scan; ``log_scan`` is the paper's own parallel form, the log-space
scan of Heinsen (2023) with log(1 − z) = −softplus(k), log z = −softplus(−k),
log h̃ = log g(v), exact for positive a and b (a carried state h_0 must be positive, as
every state minGRU produces from h_0 = 0 is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnbench.models.architectures import minrnn
from rnnbench.models.contract import Architecture, ArchParams, register
from rnnbench.ops import linear_recurrence, native
from rnnbench.ops.linear import log_scan


def mix(form: str) -> Callable[[tuple[torch.Tensor, ...], torch.Tensor | None], torch.Tensor]:
    """h from the gate pre-activations (k, v) through the op's ``form``."""

    def run(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
        k, v = parts
        z = torch.sigmoid(k)  # (B, T, H)
        return linear_recurrence(1 - z, z * minrnn.g(v), h0, form=form)[0]

    return run


def mix_log_scan(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
    k, v = parts
    log_a = -F.softplus(k)  # log(1 − z)
    log_b = -F.softplus(-k) + minrnn.log_g(v)  # log z + log h̃
    return log_scan(log_a, log_b, None if h0 is None else h0.log())


@dataclass(frozen=True)
class Params(ArchParams):
    pass


ARCH = register(
    Architecture(
        name="mingru",
        title="minGRU",
        citation="Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), arXiv:2410.01201",
        Params=Params,
        implementations={
            "reference": minrnn.factory(2, mix("recurrent")),
            "chunk": minrnn.factory(2, minrnn.chunk_mix("mingru")),
            "log_scan": minrnn.factory(2, mix_log_scan),
            "native": minrnn.factory(2, minrnn.native_mix("mingru")),
        },
        requires={"native": native.unavailable},
        # chunk: the fastest here at every T (results/modern/speedup.md); on CUDA the
        # same algorithm, so numbers on both compare (log_scan launches fewer kernels: worth timing)
        defaults={"cpu": "chunk", "cuda": "chunk"},
        init=minrnn.init,
        flops=minrnn.flops(2, 6),  # σ, g, 1 − z, two products, a sum
        state_size=lambda p, length: p.num_layers * p.hidden_size,
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, i, 2 * p.hidden_size),
        step_seconds=8e-5,
        equations="h_t = (1 − z_t)⊙h_{t−1} + z_t⊙g(W_h x_t), z_t = σ(W_z x_t)",
        rank=40,
    )
)
