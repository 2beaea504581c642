"""Even pairs (Delétang et al. 2023, ``tasks/regular/even_pairs.py``): is the number of unequal
adjacent pairs (01 or 10) odd?

Input: ℓ uniform bits, then one blank (id 2). Target: the number of positions i with
s_i ≠ s_{i+1}, mod 2 — which is simply [s_1 ≠ s_ℓ] (every change of symbol must be undone to
come back), so a model need only remember the first bit. Chance 0.5 (ℓ = 1 has no pair: class 0).
Worked example, ℓ = 7::

    x    = [0, 1, 0, 1, 0, 0, 1, 2]      # 0101001: 2 '10' and 3 '01' pairs
    y    = [0, 0, 0, 0, 0, 0, 0, 1]      # 5 unequal pairs: odd -> class 1
    mask = [0, 0, 0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int


class EvenPairsTask(FormalTask):
    name = "even_pairs"
    family = "regular"
    vocab, n_classes = 2, 2
    symbols = {0: "0", 1: "1"}

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        bits = draw_int(0, 2, (batch_size, length), generator)  # (B, ℓ)
        unequal = (bits[:, 1:] != bits[:, :-1]).long().sum(1)  # (B,)
        return bits, (unequal % 2).unsqueeze(1), None
