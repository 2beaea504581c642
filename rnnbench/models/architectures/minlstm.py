"""minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?",
arXiv:2410.01201):

f_t = σ(W_f x_t + b_f), i_t = σ(W_i x_t + b_i), h̃_t = g(W_h x_t + b_h);
f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t);  h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t.

The recurrence is :func:`rnnbench.ops.linear_recurrence` with a = f', b = i' ⊙ h̃:
``reference`` one step at a time, ``chunk`` (the default) the blocked scan with the gates in
the same autograd node (:func:`rnnbench.models.architectures.minrnn.chunk_mix`: the bits of
the gates composed with the op under autograd, in fewer passes);
``native`` the gates and the recurrence in one C++ CPU kernel, built at first use
(:mod:`rnnbench.ops.native`: it needs a C++ compiler), whose backward recomputes the gates
as it runs the reverse scan;
``log_scan`` is the paper's log-space form: with d = softplus(−k_f) − softplus(−k_i)
(= log i − log f), log f' = −softplus(d) and log i' = −softplus(−d), then the Heinsen scan.
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
    """h from the gate pre-activations (k_f, k_i, v) through the op's ``form``."""

    def run(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
        kf, ki, v = parts
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)  # (B, T, H) each
        total = f + i
        return linear_recurrence(f / total, i / total * minrnn.g(v), h0, form=form)[0]

    return run


def mix_log_scan(parts: tuple[torch.Tensor, ...], h0: torch.Tensor | None) -> torch.Tensor:
    kf, ki, v = parts
    d = F.softplus(-kf) - F.softplus(-ki)  # log i − log f
    log_f, log_i = -F.softplus(d), -F.softplus(-d)
    return log_scan(log_f, log_i + minrnn.log_g(v), None if h0 is None else h0.log())


@dataclass(frozen=True)
class Params(ArchParams):
    pass


ARCH = register(
    Architecture(
        name="minlstm",
        title="minLSTM",
        citation="Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), arXiv:2410.01201",
        Params=Params,
        implementations={
            "reference": minrnn.factory(3, mix("recurrent")),
            "chunk": minrnn.factory(3, minrnn.chunk_mix("minlstm")),
            "log_scan": minrnn.factory(3, mix_log_scan),
            "native": minrnn.factory(3, minrnn.native_mix("minlstm")),
        },
        requires={"native": native.unavailable},
        defaults={"cpu": "chunk", "cuda": "chunk"},
        init=minrnn.init,
        flops=minrnn.flops(3, 10),  # 2 σ, g, f + i, 2 divisions, two products, a sum
        state_size=lambda p, length: p.num_layers * p.hidden_size,
        output_size=lambda p: p.hidden_size,
        matmul_shape=lambda p, b, t, i: (b * t, i, 3 * p.hidden_size),
        step_seconds=8e-5,
        equations="h_t = f'_t⊙h_{t−1} + i'_t⊙g(W_h x_t), f' = f/(f+i), i' = i/(f+i)",
        rank=41,
    )
)
