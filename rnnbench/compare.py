"""``rnnbench compare``: two models (or two implementations, or two commits' records) on the
same cells, seed against seed: the difference of means with its 95% confidence interval,
Welch's t-test, and one plain sentence per cell."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.errors import UsageError, choices
from rnnbench.report import train_frame
from rnnbench.results import read_records
from rnnbench.stats import LEVEL, welch
from rnnbench.tasks.base import higher_is_better

BY = {"model": "model", "impl": "impl", "commit": "commit"}
ALPHA = 1 - LEVEL


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


def compare(results: Path, a: str, b: str, by: str = "model", profile: str | None = None) -> pd.DataFrame:
    """One row per cell that both sides ran: means, b − a with its interval, Welch's p, a verdict."""
    if by not in BY:
        raise UsageError(f"unknown --by {by!r}; choose one of: {choices(BY)}")
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
    rows = []
    for key, g in df.groupby(cell, sort=False, dropna=False):
        va, vb = g[g[by] == a], g[g[by] == b]
        if va.empty or vb.empty:
            continue
        d = welch(list(va["value"]), list(vb["value"]))
        higher = higher_is_better(str(g["metric"].iloc[0]))
        rows.append({**dict(zip(cell, key)), "n_a": d.n_a, "n_b": d.n_b, "mean_a": d.mean_a, "mean_b": d.mean_b,
                     "b_minus_a": d.diff, "ci95_low": d.low, "ci95_high": d.high, "p_welch": d.p_value,
                     "verdict": verdict(a, b, d, str(g["metric"].iloc[0]), higher)})
    if not rows:
        raise UsageError(f"{a!r} and {b!r} share no cell under {raw}")
    return pd.DataFrame(rows)


def verdict(a: str, b: str, d: Any, metric: str, higher_is_better: bool) -> str:
    """better, worse, or no detectable difference, in words, with the test named."""
    if math.isnan(d.p_value):
        return (f"cannot tell: {d.n_a} and {d.n_b} runs (Welch's t-test needs at least 2 on each side, "
                f"and some spread)")
    if d.p_value >= ALPHA:
        return f"no detectable difference at {d.n_a} vs {d.n_b} seeds (Welch's t-test p = {d.p_value:.2g})"
    b_better = (d.diff > 0) == higher_is_better
    better, worse = (b, a) if b_better else (a, b)
    direction = "higher" if higher_is_better else "lower"
    return (f"{better} is better than {worse} ({direction} {metric}; difference {abs(d.diff):.3g}, "
            f"Welch's t-test p = {d.p_value:.2g}, {d.n_a} vs {d.n_b} seeds)")


def render(table: pd.DataFrame, a: str, b: str) -> str:
    """The table (b − a with its interval) and one sentence per cell."""
    shown = table.copy()
    shown["cell"] = [f"{p}/{s}: {r}" for p, s, r in zip(shown["profile"], shown["section"], shown["row"])]
    for col in ("mean_a", "mean_b", "b_minus_a"):
        shown[col] = shown[col].map(lambda v: f"{v:.3g}")
    shown["95% CI of b − a"] = [f"[{lo:.3g}, {hi:.3g}]" if pd.notna(lo) else "n/a"
                                for lo, hi in zip(table["ci95_low"], table["ci95_high"])]
    shown["p (Welch)"] = table["p_welch"].map(lambda v: f"{v:.2g}" if pd.notna(v) else "n/a")
    extra = [c for c in ("model", "impl") if c in shown]
    cols = ["cell", *extra, "metric", "n_a", "n_b", "mean_a", "mean_b", "b_minus_a", "95% CI of b − a", "p (Welch)"]
    out = shown[cols].rename(columns={"mean_a": f"mean {a}", "mean_b": f"mean {b}", "b_minus_a": f"{b} − {a}"})
    lines = [out.to_markdown(index=False), ""]
    lines += [f"- {c}{' ' + str(m) if extra else ''}: {v}" for c, m, v in
              zip(shown["cell"], shown[extra[0]] if extra else [""] * len(shown), table["verdict"])]
    lines.append(f"\n{LEVEL:.0%} intervals and two-sided p-values from Welch's unequal-variance t-test over seeds "
                 f"(scipy.stats.ttest_ind); a difference is called at p < {ALPHA:.2g}. Lower is better unless the "
                 f"metric says otherwise.")
    return "\n".join(lines)
