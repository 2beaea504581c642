"""The A4×Z5 word problem (Merrill et al. 2024): order 60 like A5, but solvable.

Elements: pairs (g, h) of A4 (the even permutations of (0..3), lexicographic within S4) and Z5,
index 5·g + h, multiplied componentwise. Chance 1/60. Worked example, ℓ = 3, with A4's index 1 =
(0 2 3 1), a 3-cycle: x = [6, 6, 6] is ((0 2 3 1), a^1) three times::

    x    = [6, 6, 6]
    y    = [6, 12, 3]                    # (index 1, a^1), (index 2, a^2), (identity, a^3)
    mask = [1, 1, 1]
"""

from __future__ import annotations

from rnnbench.tasks.word_problems.base import WordProblemTask
from rnnbench.tasks.word_problems.groups import alternating, cyclic, direct_product


class A4xZ5Task(WordProblemTask):
    name = "a4xz5"
    group = direct_product(alternating(4), cyclic(5))
