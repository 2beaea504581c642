"""Binary multiplication (Delétang et al. 2023, ``tasks/cs/binary_multiplication.py``): n × m, little-endian.

Input: as ``binary_addition`` (n, the separator 2 — their '×' — and m, little-endian, ℓ ≥ 3),
then ℓ blanks (id 3). Target: n × m little-endian without trailing zeros (at most ℓ − 1 digits),
the terminator 2, then zeros up to ℓ outputs. ℓ ≤ 2 is their degenerate case: ℓ bits in, and
the fixed target [] (ℓ = 1) or [0] (ℓ = 2) before the terminator.

Terminator-masked like ``binary_addition``. Chance 1/3. Worked example, ℓ = 9 (their
``001*01101``, 4 × 22 = 88)::

    x    = [0, 0, 1, 2, 0, 1, 1, 0, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    y    = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 2, 0]   # 88 = 0001101, then 2
    mask = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.cs.binary_addition import SEPARATOR, TERMINATOR, operands, small
from rnnbench.tasks.formal import FormalTask, int_to_bits


class BinaryMultiplicationTask(FormalTask):
    name = "binary_multiplication"
    family = "cs"
    vocab, n_classes = 3, 3
    symbols = {0: "0", 1: "1", SEPARATOR: "*"}

    def output_length(self, length: int) -> int:
        return length

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        if length <= 2:
            expressions, _ = small(batch_size, generator, length)
            results = [[0] * (length - 1) for _ in range(batch_size)]
        else:
            expressions, ns, ms = operands(batch_size, generator, length)
            results = [int_to_bits(n * m) for n, m in zip(ns, ms)]
        targets = [r + [TERMINATOR] + [0] * (length - 1 - len(r)) for r in results]
        scored = [[True] * (len(r) + 1) + [False] * (length - 1 - len(r)) for r in results]
        return (
            torch.tensor(expressions, dtype=torch.long),
            torch.tensor(targets, dtype=torch.long),
            torch.tensor(scored, dtype=torch.bool),
        )
