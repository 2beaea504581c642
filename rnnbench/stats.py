"""Uncertainty over seeds, used by the tables and ``rnnbench compare`` (scipy.stats):

- ``summarise``: a metric's mean over seeds with an interval that stays inside the metric's
  possible values (see ``interval`` for the method and why);
- ``welch``: Welch's t-test of a difference of means, with its degrees of freedom;
- ``adjust``: p-values corrected for the number of cells tested together (Holm, or
  Benjamini–Hochberg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from rnnbench.errors import UsageError, choices

LEVEL = 0.95
ALPHA = 1 - LEVEL
INF = math.inf

# How each interval was made, in the words the captions use.
METHODS = {
    "t-log": "95% Student-t interval on the log scale (of the geometric mean; a loss's spread over seeds is multiplicative)",
    "t-arcsine": "95% Student-t interval on the arcsine-square-root scale (a proportion's variance-stabilising "
    "scale, finite at 0 and 1)",
    "t-cut": "95% Student-t interval of the mean cut at the metric's bounds (a value on the bound leaves no log scale)",
    "t": "95% Student-t interval of the mean",
    "range": "the lowest and highest seed, 2 seeds being too few for a confidence interval",
    "single": "one run, no interval",
    "none": "no ok run",
}


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The Student-t interval of the mean of ``values``; NaNs when there are fewer than 2."""
    xs = finite(values)
    n = len(xs)
    if n < 2:
        return math.nan, math.nan
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return float(mean - half), float(mean + half)


def finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


@dataclass(frozen=True)
class Summary:
    """One metric over seeds: every statistic the CSV keeps and the interval the tables show."""

    n: int
    mean: float
    std: float
    t_low: float  # the Student-t interval of the mean on the raw scale (it may leave the metric's range)
    t_high: float
    low: float  # the interval the tables show, always inside ``bounds``
    high: float
    method: str  # a key of METHODS


def summarise(values: Sequence[float], bounds: tuple[float, float] = (-INF, INF), level: float = LEVEL) -> Summary:
    """Mean, std, the raw Student-t interval, and the bounded interval of ``interval``."""
    xs = finite(values)
    n = len(xs)
    mean = sum(xs) / n if n else math.nan
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n >= 2 else math.nan
    t_low, t_high = mean_ci(xs, level)
    low, high, method = interval(xs, bounds, level)
    return Summary(n, mean, std, t_low, t_high, low, high, method)


def interval(
    values: Sequence[float], bounds: tuple[float, float] = (-INF, INF), level: float = LEVEL
) -> tuple[float, float, str]:
    """An interval for the centre of ``values`` that never leaves ``bounds``, and its method.

    - 1 value: none; 2 values: their range (a t interval on 1 degree of freedom is the mean
      ± 12.7 standard errors: it says nothing and leaves the metric's range);
    - 3 or more: a Student-t interval on a scale where the metric is unbounded, mapped back:
      the log for metrics bounded below (losses, NMSE, ratios; an interval for the geometric
      mean), the arcsine of the square root for metrics bounded on both sides (accuracies,
      rescaled to [0, 1]; unlike the logit it is finite at 0 and 1, where solved tasks sit);
      the plain t interval for an unbounded metric, or cut at the bound when a value of a
      metric bounded below sits on its bound. Each is exact for data normal on its scale, at
      any n.
    """
    xs = finite(values)
    n = len(xs)
    lo, hi = bounds
    if n == 0:
        return math.nan, math.nan, "none"
    if n == 1:
        return math.nan, math.nan, "single"
    if n == 2:
        return min(xs), max(xs), "range"
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))

    def t_interval(zs: list[float]) -> tuple[float, float]:
        m = sum(zs) / n
        half = q * math.sqrt(sum((z - m) ** 2 for z in zs) / (n - 1)) / math.sqrt(n)
        return m - half, m + half

    if math.isfinite(lo) and math.isfinite(hi):
        width = hi - lo
        zs = [math.asin(math.sqrt(min(max((x - lo) / width, 0.0), 1.0))) for x in xs]
        a, b = t_interval(zs)
        a, b = max(a, 0.0), min(b, math.pi / 2)  # sin² is monotone on [0, π/2] only
        return lo + width * math.sin(a) ** 2, lo + width * math.sin(b) ** 2, "t-arcsine"
    if math.isfinite(lo) and all(x > lo for x in xs):
        a, b = t_interval([math.log(x - lo) for x in xs])
        return lo + math.exp(a), lo + math.exp(b), "t-log"
    a, b = t_interval(xs)
    if math.isfinite(lo) or math.isfinite(hi):
        return max(a, lo), min(b, hi), "t-cut"
    return a, b, "t"


def methods_text(methods: Sequence[str]) -> str:
    """The methods of a table's intervals, for its caption: "n = 2: ...; n ≥ 3: ..."."""
    shown = [m for m in ("range", "t-log", "t-arcsine", "t-cut", "t") if m in set(methods)]
    return "; ".join(METHODS[m] for m in shown) or "no intervals (one run per cell)"


@dataclass(frozen=True)
class Difference:
    """b − a, its Welch confidence interval, the two-sided p-value of Welch's t-test and its
    (Welch–Satterthwaite) degrees of freedom."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p_value: float
    df: float = math.nan


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Difference:
    """Welch's unequal-variance t-test of mean(b) − mean(a); NaN interval and p with fewer than
    2 values on a side, or no spread on either."""
    xa, xb = [float(v) for v in a], [float(v) for v in b]
    ma = sum(xa) / len(xa) if xa else math.nan
    mb = sum(xb) / len(xb) if xb else math.nan
    low = high = p = df = math.nan
    if len(xa) >= 2 and len(xb) >= 2 and (max(xa) > min(xa) or max(xb) > min(xb)):
        result = stats.ttest_ind(xb, xa, equal_var=False)
        ci = result.confidence_interval(level)
        low, high, p, df = float(ci.low), float(ci.high), float(result.pvalue), float(result.df)
    return Difference(len(xa), len(xb), ma, mb, mb - ma, low, high, p, df)


def critical_t(df: float, alpha: float = ALPHA) -> float:
    """How many standard errors a difference must span for a two-sided p below ``alpha``."""
    return float(stats.t.ppf(1 - alpha / 2, df))


CORRECTIONS = {
    "holm": "Holm's step-down correction, which keeps the chance of any false verdict among the cells "
    "tested together at or below {alpha:g}",
    "bh": "the Benjamini–Hochberg correction, which keeps the expected share of false verdicts among the "
    "cells called at or below {alpha:g}",
    "none": "no correction for the number of cells tested (each cell alone has a {alpha:g} chance of a false verdict)",
}
SHORT = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "uncorrected"}


def adjust(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """``p_values`` adjusted for being tested together (NaNs are not tested and stay NaN):
    a cell is called at level α when its adjusted p is below α."""
    if method not in CORRECTIONS:
        raise UsageError(f"unknown correction {method!r}; choose one of: {choices(CORRECTIONS)}")
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out = [math.nan] * len(p_values)
    m = len(tested)
    order = sorted(tested)
    if method == "none":
        for p, i in tested:
            out[i] = p
    elif method == "holm":  # p_(k) × (m − k + 1), kept non-decreasing
        running = 0.0
        for k, (p, i) in enumerate(order):
            running = max(running, min(1.0, (m - k) * p))
            out[i] = running
    else:  # Benjamini–Hochberg: p_(k) × m / k, kept non-increasing from the largest down
        running = 1.0
        for k in range(m - 1, -1, -1):
            p, i = order[k]
            running = min(running, p * m / (k + 1))
            out[i] = running
    return out
