"""The classic families (Elman RNN, LSTM, GRU) as architectures: each registers a
unidirectional and a bidirectional name with two implementations, ``fused``
(``torch.nn.RNN/LSTM/GRU``: cuDNN on GPU, oneDNN on CPU) and ``reference`` (the step
equations in :mod:`rnnbench.models.architectures.reference`, with the fused module's parameter names)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from rnnbench.models.contract import Architecture, register, uniform_init


def gated_flops(gates: int, bidirectional: bool) -> Callable[[Any, int, int, int], int]:
    """2·B·T·(I+H)·G·H per layer and direction; layers above the first read H·D features."""
    D = 2 if bidirectional else 1

    def flops(p: Any, batch: int, length: int, input_size: int) -> int:
        H = p.hidden_size
        return sum(
            D * 2 * batch * length * ((input_size if layer == 0 else H * D) + H) * gates * H for layer in range(p.num_layers)
        )

    return flops


def register_family(
    name: str,
    title: str,
    citation: str,
    Params: type,
    gates: int,
    cell_states: int,
    fused: Callable[[int, Any, bool], nn.Module],
    reference: Callable[[int, Any, bool], nn.Module],
    equations: str,
    step_seconds: float,
    rank: int,
) -> None:
    """Register ``name`` and ``bi<name>``."""
    for bidirectional in (False, True):
        D = 2 if bidirectional else 1
        register(
            Architecture(
                name=("bi" if bidirectional else "") + name,
                title=("bidirectional " if bidirectional else "") + title,
                citation=citation,
                Params=Params,
                implementations={
                    "fused": lambda i, p, bi=bidirectional: fused(i, p, bi),
                    "reference": lambda i, p, bi=bidirectional: reference(i, p, bi),
                },
                init=uniform_init,
                flops=gated_flops(gates, bidirectional),
                state_size=lambda p, length, D=D: cell_states * p.num_layers * D * p.hidden_size,
                output_size=lambda p, D=D: p.hidden_size * D,
                bidirectional=bidirectional,
                matmul_shape=lambda p, b, t, i: (b * t, i + p.hidden_size, gates * p.hidden_size),
                step_seconds=step_seconds,
                equations=equations,
                rank=rank + (10 if bidirectional else 0),
            )
        )
