"""Compute sqrt (Delétang et al. 2023, ``tasks/cs/compute_sqrt.py``): ⌊√n⌋ in binary, big-endian.

Input: n uniform in 1..2^ℓ − 1 on ℓ bits, most significant first; then ⌈ℓ/2⌉ blanks (id 2).
Target: ⌊√n⌋ on ⌈ℓ/2⌉ bits, most significant first, all scored. Chance 0.5 per token; the
leading output bits are biased (⌊√n⌋ is large for most n), which the ``majority`` baseline
measures. Worked example, ℓ = 6 (their ``100101`` = 37 → 6 = ``110``; their docstring's ``101``
is a slip)::

    x    = [1, 0, 0, 1, 0, 1, 2, 2, 2]
    y    = [0, 0, 0, 0, 0, 0, 1, 1, 0]
    mask = [0, 0, 0, 0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

import math

import torch

from rnnbench.tasks.formal import FormalTask, int_to_bits, nonzero_bits


class ComputeSqrtTask(FormalTask):
    name = "compute_sqrt"
    family = "cs"
    vocab, n_classes = 2, 2
    symbols = {0: "0", 1: "1"}

    def output_length(self, length: int) -> int:
        return math.ceil(length / 2)

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        bits = nonzero_bits(batch_size, length, generator)  # (B, ℓ) big-endian, n >= 1
        roots = [
            int_to_bits(math.isqrt(int("".join(map(str, row)), 2)), self.output_length(length), False) for row in bits.tolist()
        ]
        return bits, torch.tensor(roots, dtype=torch.long), None
