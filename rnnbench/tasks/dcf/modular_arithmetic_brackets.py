"""Modular arithmetic with brackets (Delétang et al. 2023, ``tasks/dcf/modular_arithmetic_brackets.py``).

Input: an expression of exactly ℓ tokens from their grammar, then one blank (id 11). Ids: digits
0..4, + 5, − 6, × 7, ( 8, ) 9 (10 is their unknown 'x', never drawn here; it keeps their one-hot
width). Target: the value mod 5. The grammar builds an expression of length n as
(their ``generate_one_expression_and_result``, with ``mult=True`` as their constants use):

- n = 1: a digit d; n = 2: ``-d``; n = 3: ``(d)``; n = 4: ``(-d)``;
- n ≥ 5: a left length a uniform in 1..n−4, the right length n − a − 3, an operator uniform
  among + − ×, and ``(left op right)``.

Chance 0.2. Worked example, ℓ = 7: a = 1, a right part of 3 tokens, ×: ``(2*(3))`` = 6 = 1 mod 5::

    x    = [8, 2, 7, 8, 3, 9, 9, 11]
    y    = [0, 0, 0, 0, 0, 0, 0, 1]
    mask = [0, 0, 0, 0, 0, 0, 0, 1]

The random draws come from the task's ``torch.Generator`` (their code uses numpy's global RNG).
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import Draws, FormalTask

MODULUS = 5
PLUS, MINUS, TIMES, OPEN, CLOSE, UNKNOWN = 5, 6, 7, 8, 9, 10


def expression(n: int, draws: Draws, ops: int, ids: dict[str, int]) -> tuple[list[int], int]:
    """An expression of exactly ``n`` tokens and its value mod 5; ``ops`` = 3 allows ×, 2 only + and −."""
    if n == 1:
        d = draws.integer(0, MODULUS)
        return [d], d
    if n == 2:
        d = draws.integer(0, MODULUS)
        return [ids["-"], d], -d % MODULUS
    if n == 3:
        d = draws.integer(0, MODULUS)
        return [ids["("], d, ids[")"]], d
    if n == 4:
        d = draws.integer(0, MODULUS)
        return [ids["("], ids["-"], d, ids[")"]], -d % MODULUS
    left_length = draws.integer(1, n - 3)
    left, a = expression(left_length, draws, ops, ids)
    right, b = expression(n - left_length - 3, draws, ops, ids)
    op = draws.integer(0, ops)
    value = ((a + b) if op == 0 else (a - b) if op == 1 else (a * b)) % MODULUS
    return [ids["("], *left, ids["+-*"[op]], *right, ids[")"]], value


IDS = {"+": PLUS, "-": MINUS, "*": TIMES, "(": OPEN, ")": CLOSE}


class ModularArithmeticBracketsTask(FormalTask):
    name = "modular_arithmetic_brackets"
    family = "dcf"
    vocab, n_classes = 11, MODULUS
    symbols = {**{d: str(d) for d in range(MODULUS)}, PLUS: "+", MINUS: "-", TIMES: "*", OPEN: "(", CLOSE: ")", UNKNOWN: "x"}

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        draws = Draws(generator)
        rows = [expression(length, draws, 3, IDS) for _ in range(batch_size)]
        return (
            torch.tensor([r[0] for r in rows], dtype=torch.long),
            torch.tensor([[r[1]] for r in rows], dtype=torch.long),
            None,
        )
