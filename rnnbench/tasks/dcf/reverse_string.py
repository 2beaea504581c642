"""Reverse string (Delétang et al. 2023, ``tasks/dcf/reverse_string.py``): s_1 … s_ℓ → s_ℓ … s_1.

Input: ℓ uniform bits, then ℓ blanks (id 2); the targets at the blanks are the bits reversed,
all scored. Chance 0.5 per token. Worked example, ℓ = 6 (their ``011010 → 010110``)::

    x    = [0, 1, 1, 0, 1, 0, 2, 2, 2, 2, 2, 2]
    y    = [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0]
    mask = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int


class ReverseStringTask(FormalTask):
    name = "reverse_string"
    family = "dcf"
    vocab, n_classes = 2, 2
    symbols = {0: "0", 1: "1"}

    def output_length(self, length: int) -> int:
        return length

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        bits = draw_int(0, 2, (batch_size, length), generator)  # (B, ℓ)
        return bits, bits.flip(1), None
