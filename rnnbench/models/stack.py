"""Stacking single-layer cores, and the step loop that every reference shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class Stack(nn.Module):
    """``num_layers`` single-layer cores, each ``forward(x, state) -> (y, state)``, fed one into
    the next; optionally an input ``encoder`` (e.g. Linear(I, H) before residual blocks of
    width H) and a ``final`` module (e.g. a norm) after them. The state is a tuple with
    one entry per layer (each layer's own state)."""

    def __init__(self, layers: Sequence[nn.Module], encoder: nn.Module | None = None, final: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.layers = nn.ModuleList(layers)
        self.final = final

    def forward(self, x: torch.Tensor, state: tuple[Any, ...] | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        states = state if state is not None else (None,) * len(self.layers)
        if self.encoder is not None:
            x = self.encoder(x)  # (B, T, H)
        finals = []
        for layer, s in zip(self.layers, states):
            x, s = layer(x, s)  # (B, T, F_layer)
            finals.append(s)
        return (self.final(x) if self.final is not None else x), tuple(finals)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · w (Zhang & Sennrich 2019), as Mamba's blocks use it."""

    def __init__(self, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def step_loop(
    step: Callable[..., Any], state: Any, *inputs: torch.Tensor, read: Callable[[Any], torch.Tensor] = lambda s: s
) -> tuple[torch.Tensor, Any]:
    """Run ``state = step(state, *inputs_t)`` for t = 0..T-1 over ``inputs``, each ``(B, T, ...)``.

    The steps come from ``unbind(1)``, not ``inputs[:, t]``: the backward of each
    ``inputs[:, t]`` materialises a zero tensor the size of ``inputs``, which makes the
    backward O(T²). Returns the outputs ``read(state)`` stacked on axis 1 and the final state.
    """
    outputs = []
    for x_t in zip(*(x.unbind(1) for x in inputs)):
        state = step(state, *x_t)
        outputs.append(read(state))
    return torch.stack(outputs, dim=1), state
