"""The Z60 word problem (Merrill et al. 2024): addition mod 60, abelian, the control of the same
order as A5 (a diagonal recurrence can track it).

Element i is a^i, a^i·a^j = a^{(i+j) mod 60}. Chance 1/60. Worked example, ℓ = 3::

    x    = [50, 7, 3]
    y    = [50, 57, 0]
    mask = [1, 1, 1]
"""

from __future__ import annotations

from rnnbench.tasks.word_problems.base import WordProblemTask
from rnnbench.tasks.word_problems.groups import cyclic


class Z60Task(WordProblemTask):
    name = "z60"
    group = cyclic(60)
