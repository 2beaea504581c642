"""Modular arithmetic without brackets (Delétang et al. 2023, ``tasks/regular/modular_arithmetic.py``).

Input: an expression of odd length — digits 0..4 (ids 0..4) at even positions, operators at odd
ones, each uniform among + (id 5), − (id 6) and × (id 7) — then one blank (id 9; id 8 is their
padding symbol '_', never drawn, kept so that the one-hot has their width). Target: the value
mod 5, with × binding tighter than + and −, and a − negating the term after it
(``1 − 2 × 3 = 1 + (−2) × 3``). Chance 0.2.

Worked example, ℓ = 9 (their ``0 × 1 + 4 × 3 − 2``; ``rnnbench sample --task modular_arithmetic
--set task.length=9``)::

    x    = [0, 7, 1, 5, 4, 7, 3, 6, 2, 9] # 0×1 + 4×3 − 2 = 10, then the blank
    y    = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] # 10 mod 5 = 0
    mask = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]

Another of theirs: ``1 − 1 − 1`` = 4. Pitfall: the expression has odd length, so an even ℓ
becomes ℓ − 1 (their sampler subtracts one): ``task.length=10`` gives 9 tokens and a blank, as
above, and the test lengths 41..500 evaluate each odd length twice (their average does too).

Preset ``grazzi2025`` (automl/unlocking_state_tracking ``tasks/modular_arithmetic.py``): the same
strings and answers — their '=' is our blank, the answer the token after it — with their
sequence length n = ℓ + 2 (expression, '=', answer); they report scaled accuracy
(acc − 0.2) / 0.8 (``scaled_acc``).
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import DELETANG, DELETANG_TEXT, FormalTask, draw_int

MODULUS = 5
PLUS, MINUS, TIMES, PAD = 5, 6, 7, 8
GRAZZI = "grazzi2025"


def evaluate(expression: torch.Tensor) -> torch.Tensor:
    """The value mod 5 of each row of ``(B, ℓ)`` (ℓ odd): × first, − negates the next term."""
    total = torch.zeros(expression.shape[0], dtype=torch.long)
    term = expression[:, 0].clone()
    sign = torch.ones_like(term)
    for i in range(1, expression.shape[1], 2):
        op, digit = expression[:, i], expression[:, i + 1]
        times = op == TIMES
        total = torch.where(times, total, total + sign * term)
        sign = torch.where(times, sign, torch.where(op == MINUS, -1, 1))
        term = torch.where(times, term * digit % MODULUS, digit)
    return (total + sign * term) % MODULUS


class ModularArithmeticTask(FormalTask):
    name = "modular_arithmetic"
    family = "regular"
    vocab, n_classes = 9, MODULUS
    presets = {
        DELETANG: DELETANG_TEXT + "; an even length becomes odd (ℓ − 1)",
        GRAZZI: "the same strings in the next-token format ('=' is the blank); scaled accuracy (Grazzi et al. 2025)",
    }
    symbols = {**{d: str(d) for d in range(MODULUS)}, PLUS: "+", MINUS: "-", TIMES: "*", PAD: "_"}

    def input_length(self, length: int) -> int:
        return length if length % 2 else length - 1

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        n = self.input_length(length)
        expression = torch.empty(batch_size, n, dtype=torch.long)
        expression[:, 0::2] = draw_int(0, MODULUS, (batch_size, n // 2 + 1), generator)
        expression[:, 1::2] = draw_int(0, 3, (batch_size, n // 2), generator) + PLUS
        return expression, evaluate(expression).unsqueeze(1), None
