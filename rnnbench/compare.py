"""``rnnbench compare``: two models (or two implementations, or two commits' records) on the
same cells, seed against seed: the difference of means with its 95% confidence interval,
Welch's t-test, its p-value adjusted for the number of cells tested together (Holm by default,
or Benjamini–Hochberg), and one plain sentence per cell, decided by the adjusted p."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.errors import UsageError, choices
from rnnbench.report.labels import train_frame
from rnnbench.results import read_records
from rnnbench.stats import ALPHA, CORRECTIONS, LEVEL, SHORT, adjust, critical_t, welch
from rnnbench.tasks.base import higher_is_better

BY = {"model": "model", "impl": "impl", "commit": "commit"}
FEW = 3  # below this many seeds on a side, Welch's test has about one degree of freedom


def _frame(records: list[dict[str, Any]], by: str, a: str, b: str) -> pd.DataFrame:
    if by != "commit":
        df = train_frame(records)
        return df.assign(commit="") if not df.empty else df
    frames = []
    for side in (a, b):  # each commit's newest record of each cell (the same cell appears in both)
        mine = [r for r in records if str(r.get("env", {}).get("git_commit") or "").startswith(side)]
        if not mine:
            raise UsageError(f"no records of commit {side!r} under the results; give a prefix of a recorded commit")
        frames.append(train_frame(mine).assign(commit=side))
    return pd.concat(frames, ignore_index=True)


def compare(
    results: Path, a: str, b: str, by: str = "model", profile: str | None = None, correction: str = "holm"
) -> pd.DataFrame:
    """One row per cell that both sides ran: means, b − a with its interval, Welch's p, the p
    adjusted over every cell tested (``correction``: holm, bh or none) and a verdict from it."""
    if by not in BY:
        raise UsageError(f"unknown --by {by!r}; choose one of: {choices(BY)}")
    if correction not in CORRECTIONS:
        raise UsageError(f"unknown --correction {correction!r}; choose one of: {choices(CORRECTIONS)}")
    raw = results / "raw"
    if not raw.exists():
        raise UsageError(f"no records under {raw}; run rnnbench sweep first")
    df = _frame(read_records(raw), by, a, b)
    if df.empty:
        raise UsageError(f"no training records under {raw}")
    if profile is not None:
        df = df[df["profile"] == profile]
    df = df[df["status"] == "ok"]
    for side in (a, b):
        if by != "commit" and side not in set(df[by]):
            raise UsageError(f"no ok records with {by} {side!r}; recorded: {choices(map(str, set(df[by])))}")
    cell = ["profile", "section", "row", "metric", "axis", "axis_value"] + [c for c in ("model", "impl") if c != by]
    rows, tests = [], []
    for key, g in df.groupby(cell, sort=False, dropna=False):
        va, vb = g[g[by] == a], g[g[by] == b]
        if va.empty or vb.empty:
            continue
        d = welch(list(va["value"]), list(vb["value"]))
        tests.append((d, str(g["metric"].iloc[0])))
        rows.append(
            {
                **dict(zip(cell, key)),
                "n_a": d.n_a,
                "n_b": d.n_b,
                "mean_a": d.mean_a,
                "mean_b": d.mean_b,
                "b_minus_a": d.diff,
                "ci95_low": d.low,
                "ci95_high": d.high,
                "df_welch": d.df,
                "p_welch": d.p_value,
            }
        )
    if not rows:
        raise UsageError(f"{a!r} and {b!r} share no cell under {raw}")
    table = pd.DataFrame(rows)
    table["p_adjusted"] = adjust(list(table["p_welch"]), correction)
    table["correction"] = correction
    tested = int(table["p_welch"].notna().sum())
    table["verdict"] = [
        verdict(a, b, d, metric, higher_is_better(metric), p_adj, correction, tested)
        for (d, metric), p_adj in zip(tests, table["p_adjusted"])
    ]
    return table


def verdict(
    a: str,
    b: str,
    d: Any,
    metric: str,
    higher_is_better: bool,
    p_adjusted: float | None = None,
    correction: str = "none",
    tested: int = 1,
) -> str:
    """better, worse, or no detectable difference, in words, with the test and correction named;
    decided by the adjusted p (the raw one when ``p_adjusted`` is None)."""
    p_adj = d.p_value if p_adjusted is None else p_adjusted
    if math.isnan(d.p_value):
        return f"cannot tell: {d.n_a} and {d.n_b} runs (Welch's t-test needs at least 2 on each side, and some spread)"
    ps = f"p = {d.p_value:.2g}" + ("" if correction == "none" else f", {SHORT[correction]}-adjusted p = {p_adj:.2g}")
    if p_adj >= ALPHA:
        text = f"no detectable difference at {d.n_a} vs {d.n_b} seeds (Welch's t-test {ps})"
        if min(d.n_a, d.n_b) < FEW:
            text += f"; {too_few(d, correction, tested)}"
        return text
    b_better = (d.diff > 0) == higher_is_better
    better, worse = (b, a) if b_better else (a, b)
    direction = "higher" if higher_is_better else "lower"
    return (
        f"{better} is better than {worse} ({direction} {metric}; difference {abs(d.diff):.3g}, "
        f"Welch's t-test {ps}, {d.n_a} vs {d.n_b} seeds)"
    )


def too_few(d: Any, correction: str, tested: int) -> str:
    """What the test can detect at these seeds: the standard errors a difference must span."""
    alpha = ALPHA / tested if correction == "holm" else ALPHA  # Holm's first step; BH's is no easier
    return (
        f"too few seeds: at {d.df:.1f} degrees of freedom only a difference above "
        f"{critical_t(d.df, alpha):.3g} standard errors could be called"
    )


def render(table: pd.DataFrame, a: str, b: str) -> str:
    """The table (b − a with its interval, raw and adjusted p) and one sentence per cell."""
    shown = table.copy()
    correction = str(table["correction"].iloc[0]) if "correction" in table else "none"
    shown["cell"] = [f"{p}/{s}: {r}" for p, s, r in zip(shown["profile"], shown["section"], shown["row"])]
    for col in ("mean_a", "mean_b", "b_minus_a"):
        shown[col] = shown[col].map(lambda v: f"{v:.3g}")
    shown["95% CI of b − a"] = [
        f"[{lo:.3g}, {hi:.3g}]" if pd.notna(lo) else "n/a" for lo, hi in zip(table["ci95_low"], table["ci95_high"])
    ]
    shown["df"] = table["df_welch"].map(lambda v: f"{v:.1f}" if pd.notna(v) else "n/a")
    shown["p (Welch)"] = table["p_welch"].map(lambda v: f"{v:.2g}" if pd.notna(v) else "n/a")
    adjusted = f"p ({SHORT[correction]})"
    shown[adjusted] = table["p_adjusted"].map(lambda v: f"{v:.2g}" if pd.notna(v) else "n/a")
    extra = [c for c in ("model", "impl") if c in shown]
    cols = [
        "cell",
        *extra,
        "metric",
        "n_a",
        "n_b",
        "mean_a",
        "mean_b",
        "b_minus_a",
        "95% CI of b − a",
        "df",
        "p (Welch)",
        *([adjusted] if correction != "none" else []),
    ]
    out = shown[cols].rename(columns={"mean_a": f"mean {a}", "mean_b": f"mean {b}", "b_minus_a": f"{b} − {a}"})
    lines = [out.to_markdown(index=False), ""]
    lines += [
        f"- {c}{' ' + str(m) if extra else ''}: {v}"
        for c, m, v in zip(shown["cell"], shown[extra[0]] if extra else [""] * len(shown), table["verdict"])
    ]
    tested = int(table["p_welch"].notna().sum())
    lines.append(
        f"\n{LEVEL:.0%} intervals and two-sided p-values from Welch's unequal-variance t-test over seeds "
        f"(scipy.stats.ttest_ind). {tested} cells were tested together, with "
        f"{CORRECTIONS[correction].format(alpha=ALPHA)}; a difference is called where the "
        f"{'adjusted ' if correction != 'none' else ''}p is below {ALPHA:.2g}. Lower is better unless the "
        f"metric says otherwise."
    )
    few = table[(table[["n_a", "n_b"]].min(axis=1) < FEW)]
    if not few.empty:
        lines.append(
            f"{len(few)} of {len(table)} cells have fewer than {FEW} seeds on a side: Welch's test then has "
            f"about one degree of freedom and cannot detect anything but a difference of many standard "
            f"errors; rerun with more seeds (a profile's `seeds`) to compare them."
        )
    return "\n".join(lines)
