"""Uncertainty over seeds: Student-t confidence intervals of a mean, and Welch's t-test of
a difference of means (scipy.stats), used by the tables and ``rnnbench compare``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The Student-t interval of the mean of ``values``; NaNs when there are fewer than 2."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n < 2:
        return math.nan, math.nan
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return float(mean - half), float(mean + half)


@dataclass(frozen=True)
class Difference:
    """b − a, its Welch confidence interval and the two-sided p-value of Welch's t-test."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p_value: float


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Difference:
    """Welch's unequal-variance t-test of mean(b) − mean(a); NaN interval and p with fewer than
    2 values on a side, or no spread on either."""
    xa, xb = [float(v) for v in a], [float(v) for v in b]
    ma = sum(xa) / len(xa) if xa else math.nan
    mb = sum(xb) / len(xb) if xb else math.nan
    low = high = p = math.nan
    if len(xa) >= 2 and len(xb) >= 2 and (max(xa) > min(xa) or max(xb) > min(xb)):
        result = stats.ttest_ind(xb, xa, equal_var=False)
        ci = result.confidence_interval(level)
        low, high, p = float(ci.low), float(ci.high), float(result.pvalue)
    return Difference(len(xa), len(xb), ma, mb, mb - ma, low, high, p)
