"""The S5 word problem (Merrill et al. 2024): permutations of 5 elements, 120 of them.

S5 is not solvable: no fixed-depth Transformer or diagonal (time-invariant or input-gated
non-negative) SSM tracks its running product at every length. Elements: the permutations of
(0..4) in lexicographic order (index 0 the identity (0 1 2 3 4), index 1 (0 1 2 4 3), ...),
composed as (a·b)(i) = a(b(i)). Chance 1/120. Worked example, ℓ = 3: x = [1, 1, 6]
((0 1 2 4 3) twice is the identity; then index 6 = (0 2 1 3 4))::

    x    = [1, 1, 6]
    y    = [1, 0, 6]
    mask = [1, 1, 1]
"""

from __future__ import annotations

from rnnbench.tasks.word_problems.base import WordProblemTask
from rnnbench.tasks.word_problems.groups import symmetric


class S5Task(WordProblemTask):
    name = "s5"
    group = symmetric(5)
