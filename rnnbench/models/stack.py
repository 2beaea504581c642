"""Stacking single-layer cores, and the step loop that every reference shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class Stack(nn.Module):
    """``num_layers`` single-layer cores, each ``forward(x, state) -> (y, state)``, fed one into
    the next. The state is a tuple with one entry per layer (each layer's own state)."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, state: tuple[Any, ...] | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        states = state if state is not None else (None,) * len(self.layers)
        finals = []
        for layer, s in zip(self.layers, states):
            x, s = layer(x, s)  # (B, T, F_layer)
            finals.append(s)
        return x, tuple(finals)


def step_loop(step: Callable[[torch.Tensor, Any], Any], inputs: torch.Tensor, state: Any,
              read: Callable[[Any], torch.Tensor] = lambda s: s) -> tuple[torch.Tensor, Any]:
    """Run ``state = step(inputs_t, state)`` for t = 0..T-1 over ``inputs`` ``(B, T, ...)``.

    The steps come from ``unbind(1)``, not ``inputs[:, t]``: the backward of each
    ``inputs[:, t]`` materialises a zero tensor the size of ``inputs``, which makes the
    backward O(T²). Returns the outputs ``read(state)`` stacked on axis 1 and the final state.
    """
    outputs = []
    for x_t in inputs.unbind(1):
        state = step(x_t, state)
        outputs.append(read(state))
    return torch.stack(outputs, dim=1), state
