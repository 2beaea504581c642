"""The best entry of each row of a table, by its metric's direction, and whether its lead over
the runner-up is significant: Welch's t-test over seeds (``rnnbench compare``'s test), with the
p-values of all the table's rows adjusted together (Holm)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rnnbench.stats import ALPHA, adjust, welch
from rnnbench.tasks.base import higher_is_better

CORRECTION = "holm"


@dataclass(frozen=True)
class Lead:
    """The best of one row and its test against the runner-up."""

    best: tuple[str, ...]  # more than one where means tie
    runner_up: str | None
    p_value: float  # Welch's two-sided p, best against runner-up (NaN: untestable)
    p_adjusted: float  # adjusted over the rows tested together
    significant: bool


def leads(rows: dict[str, tuple[str, dict[str, Sequence[float]]]]) -> dict[str, Lead]:
    """``{row: (metric, {candidate: values})}`` -> the best candidate of each row with two or more
    candidates (by mean in the metric's direction), and its lead's test, adjusted over the rows."""
    found: dict[str, tuple[tuple[str, ...], str | None, float]] = {}
    for row, (metric, candidates) in rows.items():
        means = {c: sum(v) / len(v) for c, v in candidates.items() if len(v) and all(math.isfinite(x) for x in v)}
        if len(means) < 2:
            continue
        ranked = sorted(means, key=lambda c: means[c], reverse=higher_is_better(metric))
        tied = tuple(c for c in ranked if means[c] == means[ranked[0]])
        if len(tied) > 1:  # no single best, nothing to test
            found[row] = (tied, None, math.nan)
            continue
        runner = ranked[1]
        found[row] = (tied, runner, welch(candidates[runner], candidates[tied[0]]).p_value)
    adjusted = adjust([p for *_, p in found.values()], CORRECTION)
    return {
        row: Lead(best, runner, p, q, bool(q < ALPHA) if not math.isnan(q) else False)
        for (row, (best, runner, p)), q in zip(found.items(), adjusted)
    }


def tested(found: dict[str, Lead]) -> int:
    return sum(not math.isnan(lead.p_value) for lead in found.values())
