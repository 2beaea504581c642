"""Solve equation (Delétang et al. 2023, ``tasks/dcf/solve_equation.py``): the digit hidden behind x.

Input (ℓ tokens): a bracketed +/− expression of ℓ − 2 tokens from the grammar of
``modular_arithmetic_brackets`` (without ×, which could make x ambiguous), in which one digit is
replaced by x, then '=' and the expression's value; then one blank. Ids (theirs for this task):
digits 0..4, + 5, − 6, ( 7, ) 8, x 9, = 10, blank 11. Target: the hidden digit. Chance 0.2.

The hidden digit is found as their code finds it: a position uniform over the expression, then
the first digit at or after it, wrapping around — so a digit after a long run of brackets and
operators is hidden more often than others. ℓ < 3 gives their degenerate batch: all-zero inputs
and target 0. Worked example, ℓ = 9: the expression ``(2-(3))`` = −1 = 4 mod 5 with its 3
hidden, ``(2-(x))=4``::

    x    = [7, 2, 6, 7, 9, 8, 8, 10, 4, 11]
    y    = [0, 0, 0, 0, 0, 0, 0, 0,  0, 3]
    mask = [0, 0, 0, 0, 0, 0, 0, 0,  0, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.dcf.modular_arithmetic_brackets import MODULUS, expression
from rnnbench.tasks.formal import Draws, FormalTask

PLUS, MINUS, OPEN, CLOSE, UNKNOWN, EQUALS = 5, 6, 7, 8, 9, 10
IDS = {"+": PLUS, "-": MINUS, "(": OPEN, ")": CLOSE}


class SolveEquationTask(FormalTask):
    name = "solve_equation"
    family = "dcf"
    vocab, n_classes = 11, MODULUS
    symbols = {**{d: str(d) for d in range(MODULUS)}, PLUS: "+", MINUS: "-", OPEN: "(", CLOSE: ")", UNKNOWN: "x", EQUALS: "="}

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        if length < 3:
            return (torch.zeros(batch_size, length, dtype=torch.long), torch.zeros(batch_size, 1, dtype=torch.long), None)
        draws = Draws(generator)
        inputs, targets = [], []
        for _ in range(batch_size):
            tokens, value = expression(length - 2, draws, 2, IDS)
            i = draws.integer(0, len(tokens))
            while tokens[i] >= MODULUS:  # not a digit: walk right, wrapping around
                i = (i + 1) % (length - 2)
            targets.append([tokens[i]])
            tokens[i] = UNKNOWN
            inputs.append(tokens + [EQUALS, value])
        return torch.tensor(inputs, dtype=torch.long), torch.tensor(targets, dtype=torch.long), None
