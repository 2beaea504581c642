"""The A5 word problem (Merrill et al. 2024): the 60 even permutations of 5 elements.

A5 is the smallest non-solvable group. Elements: the even permutations of (0..4) in their
lexicographic order within S5 (index 0 the identity, index 1 (0 1 3 4 2)); (a·b)(i) = a(b(i)).
Chance 1/60. Worked example, ℓ = 3: index 1 is a 3-cycle, so three of it give the identity::

    x    = [1, 1, 1]
    y    = [1, 2, 0]                     # index 2 = (0 1 4 2 3), its square
    mask = [1, 1, 1]
"""

from __future__ import annotations

from rnnbench.tasks.word_problems.base import WordProblemTask
from rnnbench.tasks.word_problems.groups import alternating


class A5Task(WordProblemTask):
    name = "a5"
    group = alternating(5)
