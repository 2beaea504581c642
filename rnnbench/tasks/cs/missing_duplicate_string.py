"""Missing duplicate string (Delétang et al. 2023, ``tasks/cs/missing_duplicate_string.py``).

Input (ℓ tokens): a string w of ⌊ℓ/2⌋ uniform bits written twice, ww, with the symbol at one
position (uniform over the 2⌊ℓ/2⌋) replaced by the placeholder 2, and, when ℓ is odd, the pad 3
at the end; then one blank (id 4). Target: the hidden bit. ℓ = 1 is their degenerate case: the
input [1] and the target 1. Chance 0.5. Worked example, ℓ = 7 (their ``1011213 → 0``)::

    x    = [1, 0, 1, 1, 2, 1, 3, 4]      # w = 101; the 0 of the second copy hidden
    y    = [0, 0, 0, 0, 0, 0, 0, 0]
    mask = [0, 0, 0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int

HIDDEN, PAD = 2, 3


class MissingDuplicateStringTask(FormalTask):
    name = "missing_duplicate_string"
    family = "cs"
    vocab, n_classes = 4, 2
    symbols = {0: "0", 1: "1", HIDDEN: "_", PAD: "#"}

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        B = batch_size
        if length == 1:
            return torch.ones(B, 1, dtype=torch.long), torch.ones(B, 1, dtype=torch.long), None
        half = draw_int(0, 2, (B, length // 2), generator)
        doubled = torch.cat([half, half], 1)  # (B, 2⌊ℓ/2⌋)
        where = draw_int(0, doubled.shape[1], (B, 1), generator)
        target = doubled.gather(1, where)
        doubled.scatter_(1, where, HIDDEN)
        pad = torch.full((B, length % 2), PAD, dtype=torch.long)
        return torch.cat([doubled, pad], 1), target, None
