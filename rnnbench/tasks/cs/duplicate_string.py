"""Duplicate string (Delétang et al. 2023, ``tasks/cs/duplicate_string.py``): s → s s.

Input: ℓ uniform bits, then 2ℓ blanks (id 2); targets at the blanks: the string twice, all
scored. Chance 0.5 per token. Worked example, ℓ = 3 (their ``101 → 101101``)::

    x    = [1, 0, 1, 2, 2, 2, 2, 2, 2]
    y    = [0, 0, 0, 1, 0, 1, 1, 0, 1]
    mask = [0, 0, 0, 1, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int


class DuplicateStringTask(FormalTask):
    name = "duplicate_string"
    family = "cs"
    vocab, n_classes = 2, 2
    symbols = {0: "0", 1: "1"}

    def output_length(self, length: int) -> int:
        return 2 * length

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        bits = draw_int(0, 2, (batch_size, length), generator)  # (B, ℓ)
        return bits, torch.cat([bits, bits], 1), None
