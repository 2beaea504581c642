"""Parity check (Delétang et al. 2023, ``tasks/regular/parity_check.py``): is the number of 1s odd?

Input: ℓ bits (ids 0, 1), each uniform; then one blank (id 2). Target at the blank: the
number of 1s mod 2. Chance 0.5; the classes are balanced, so no input-blind predictor beats it.
Worked example, ℓ = 7 (``rnnbench sample --task parity_check --set task.length=7``)::

    x    = [1, 0, 1, 0, 1, 0, 0, 2]      # 1010100: three 1s
    y    = [0, 0, 0, 0, 0, 0, 0, 1]      # odd -> class 1
    mask = [0, 0, 0, 0, 0, 0, 0, 1]

Preset ``grazzi2025`` (Grazzi et al. 2025, automl/unlocking_state_tracking ``tasks/parity.py``):
the next-token format, where the answer is the token after the last bit, so it is read at the
last bit and there is no blank: ``x = [1, 0, 1, 0, 1, 0, 0]``, ``y = [0, 0, 0, 0, 0, 0, 1]``,
mask on the last position. Their sequence length n counts the answer too: n = ℓ + 1 (their
training lengths 3..40 are ℓ = 2..39). They report scaled accuracy (acc − 0.5) / 0.5
(``scaled_acc``).
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import DELETANG, DELETANG_TEXT, FormalTask, draw_int

GRAZZI = "grazzi2025"


class ParityCheckTask(FormalTask):
    name = "parity_check"
    family = "regular"
    vocab, n_classes = 2, 2
    presets = {
        DELETANG: DELETANG_TEXT + "; the answer at one blank after the bits",
        GRAZZI: "next-token format, the answer read at the last bit, no blank; scaled accuracy (Grazzi et al. 2025)",
    }
    symbols = {0: "0", 1: "1"}

    @property
    def reads_last_input(self) -> bool:
        return self.preset == GRAZZI

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        bits = draw_int(0, 2, (batch_size, length), generator)  # (B, ℓ)
        return bits, (bits.sum(1) % 2).unsqueeze(1), None
