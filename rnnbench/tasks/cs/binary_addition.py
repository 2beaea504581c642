"""Binary addition (Delétang et al. 2023, ``tasks/cs/binary_addition.py``): n + m, little-endian.

Input (ℓ tokens, ℓ ≥ 3): n in binary, least significant bit first, over a uniform 1..ℓ−2 digits,
the separator 2, then m over the remaining ℓ − 1 − |n| digits, each number uniform among the
non-zero ones of its width (leading zeros, at the end in little-endian, allowed). Then ℓ + 1
blanks (id 3). Target: n + m little-endian without trailing zeros, the terminator 2, then zeros
up to ℓ + 1 outputs. ℓ ≤ 2 is their degenerate case: the input is a number in 0..2^ℓ − 2 on ℓ
bits and the target that number.

Terminator-masked: the mask scores up to and including the terminator, the loss reads every
output. Chance 1/3 (classes 0, 1, 2). Worked example, ℓ = 9 (their ``001+01101``, 4 + 22 = 26)::

    x    = [0, 0, 1, 2, 0, 1, 1, 0, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    y    = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 2, 0, 0, 0, 0]   # 26 = 01011, then 2
    mask = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, bits_to_int, draw_int, int_to_bits, nonzero_bits

SEPARATOR, TERMINATOR = 2, 2


def operands(batch_size: int, generator: torch.Generator, length: int) -> tuple[list[list[int]], list[int], list[int]]:
    """Their ``_sample_expressions_and_results`` for ℓ ≥ 3: the expressions and the two numbers."""
    widths = draw_int(1, length - 1, (batch_size,), generator).tolist()  # |n| in 1..ℓ-2
    bits = draw_int(0, 2, (batch_size, length - 1), generator)  # a part that is all zeros is drawn again
    expressions, ns, ms = [], [], []
    for row, w in enumerate(widths):
        n_bits, m_bits = bits[row, :w], bits[row, w:]
        while not n_bits.any():
            n_bits = nonzero_bits(1, w, generator)[0]
        while not m_bits.any():
            m_bits = nonzero_bits(1, length - 1 - w, generator)[0]
        n, m = n_bits.tolist(), m_bits.tolist()
        expressions.append(n + [SEPARATOR] + m)
        ns.append(bits_to_int(n))
        ms.append(bits_to_int(m))
    return expressions, ns, ms


def small(batch_size: int, generator: torch.Generator, length: int) -> tuple[list[list[int]], list[int]]:
    """ℓ ≤ 2: numbers in 0..2^ℓ − 2 on ℓ bits."""
    numbers = draw_int(0, 2**length - 1, (batch_size,), generator).tolist()
    return [int_to_bits(v, length) for v in numbers], numbers


class BinaryAdditionTask(FormalTask):
    name = "binary_addition"
    family = "cs"
    vocab, n_classes = 3, 3
    symbols = {0: "0", 1: "1", SEPARATOR: "+"}

    def output_length(self, length: int) -> int:
        return length + 1

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        if length <= 2:
            expressions, numbers = small(batch_size, generator, length)
            results = [int_to_bits(v) for v in numbers]
        else:
            expressions, ns, ms = operands(batch_size, generator, length)
            results = [int_to_bits(n + m) for n, m in zip(ns, ms)]
        targets = [r + [TERMINATOR] + [0] * (length - len(r)) for r in results]
        scored = [[True] * (len(r) + 1) + [False] * (length - len(r)) for r in results]
        return (
            torch.tensor(expressions, dtype=torch.long),
            torch.tensor(targets, dtype=torch.long),
            torch.tensor(scored, dtype=torch.bool),
        )
