"""Step-by-step reference implementation shared by the classic families.

Parameters carry the same names and shapes as ``torch.nn.RNN/LSTM/GRU``
(``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), so a fused module's
``state_dict()`` loads into the reference unchanged. Each family supplies one
cell: ``cell(gi, state, w_hh, b_hh) -> state`` where ``gi = x_t W_ih^T + b_ih``
is the input projection of one step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# state of one layer and direction: h (B, H), or (h, c) for LSTM
CellState = Any
Cell = Callable[[torch.Tensor, CellState, torch.Tensor, torch.Tensor], CellState]


class ReferenceRecurrent(nn.Module):
    """A stack of (bi)directional recurrent layers, looped over time in Python."""

    def __init__(
        self,
        cell: Cell,
        gates: int,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        has_cell_state: bool = False,
    ) -> None:
        super().__init__()
        self.cell, self.gates = cell, gates
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.has_cell_state = bidirectional, has_cell_state
        D = 2 if bidirectional else 1
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * D
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", nn.Parameter(torch.empty(gates * hidden_size, in_size)))
                setattr(self, f"weight_hh_{name}", nn.Parameter(torch.empty(gates * hidden_size, hidden_size)))
                setattr(self, f"bias_ih_{name}", nn.Parameter(torch.empty(gates * hidden_size)))
                setattr(self, f"bias_hh_{name}", nn.Parameter(torch.empty(gates * hidden_size)))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"] if self.bidirectional else [""]

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        D = 2 if self.bidirectional else 1
        return x.new_zeros(self.num_layers * D, x.shape[0], self.hidden_size)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``x``: (B, T, I) -> ``y``: (B, T, H·D) and the final state."""
        T = x.shape[1]
        if state is None:
            state = (self._zeros(x), self._zeros(x)) if self.has_cell_state else self._zeros(x)
        h0, c0 = state if self.has_cell_state else (state, None)
        finals: list[CellState] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes()):
                name = f"l{layer}{suffix}"
                index = layer * len(self._suffixes()) + d
                w_ih, b_ih = getattr(self, f"weight_ih_{name}"), getattr(self, f"bias_ih_{name}")
                w_hh, b_hh = getattr(self, f"weight_hh_{name}"), getattr(self, f"bias_hh_{name}")
                # all steps' input projections at once; unbind(1), not gi[:, t], whose backward
                # would materialise a zero tensor the size of gi at every step (O(T²))
                steps = (layer_input @ w_ih.T + b_ih).unbind(1)  # T × (B, G·H)
                s: CellState = (h0[index], c0[index]) if self.has_cell_state else h0[index]
                hs: list[torch.Tensor] = [x] * T
                for t in range(T) if d == 0 else reversed(range(T)):
                    s = self.cell(steps[t], s, w_hh, b_hh)
                    hs[t] = s[0] if self.has_cell_state else s  # (B, H)
                outputs.append(torch.stack(hs, dim=1))  # (B, T, H)
                finals.append(s)
            layer_input = torch.cat(outputs, dim=-1)  # (B, T, H·D)
        if self.has_cell_state:
            final = (torch.stack([s[0] for s in finals]), torch.stack([s[1] for s in finals]))
        else:
            final = torch.stack(finals)  # (L·D, B, H)
        return layer_input, final
