"""Odds first (Delétang et al. 2023, ``tasks/cs/odds_first.py``): the symbols at odd positions,
then those at even positions.

Their docstring and their code disagree. The docstring says s_1 s_3 s_5 … s_2 s_4 … (1-based odd
positions first: ``00110101 → 0100 0111``); the code outputs ``s[1::2]`` then ``s[0::2]`` (0-based
odd positions first, i.e. s_2 s_4 … s_1 s_3 …: ``00110101 → 0111 0100``). rnnbench follows the
code, which produced the published numbers.

Input: ℓ uniform bits, then ℓ blanks (id 2); targets at the blanks as above, all scored.
Chance 0.5 per token. Worked example, ℓ = 8 (their ``00110101``)::

    x    = [0, 0, 1, 1, 0, 1, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    y    = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0]   # s[1::2] = 0111, s[0::2] = 0100
    mask = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int


class OddsFirstTask(FormalTask):
    name = "odds_first"
    family = "cs"
    vocab, n_classes = 2, 2
    symbols = {0: "0", 1: "1"}

    def output_length(self, length: int) -> int:
        return length

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        bits = draw_int(0, 2, (batch_size, length), generator)  # (B, ℓ)
        return bits, torch.cat([bits[:, 1::2], bits[:, 0::2]], 1), None
