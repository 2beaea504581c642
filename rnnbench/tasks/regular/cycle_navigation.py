"""Cycle navigation (Delétang et al. 2023, ``tasks/regular/cycle_navigation.py``): where does a
walk on a 5-cycle end?

Input: ℓ actions, each uniform in {0, 1, 2} meaning −1 (left), stay, +1 (right); then one blank
(id 3). The walk starts at position 0. Target: the final position, (Σ (a_i − 1)) mod 5.
Chance 0.2; at short lengths the distribution is not uniform (ℓ = 1: never 2 or 3), which the
``majority`` baseline measures. Worked example, ℓ = 5 (their ``1 -1 0 -1 -1``)::

    x    = [2, 0, 1, 0, 0, 3]            # +1 −1 0 −1 −1 = −2
    y    = [0, 0, 0, 0, 0, 3]            # −2 mod 5 = 3
    mask = [0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int

CYCLE = 5


class CycleNavigationTask(FormalTask):
    name = "cycle_navigation"
    family = "regular"
    vocab, n_classes = 3, CYCLE
    symbols = {0: "-1", 1: "0", 2: "+1"}

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        actions = draw_int(0, 3, (batch_size, length), generator)  # (B, ℓ)
        return actions, ((actions - 1).sum(1) % CYCLE).unsqueeze(1), None
