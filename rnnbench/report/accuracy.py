"""The accuracy section: each task × model cell's held-out metric after the full budget, over seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.figures import plot_curves
from rnnbench.report.formats import ci_text, fmt
from rnnbench.report.labels import column_rank, directions
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import mean_ci

CI_NOTE = "the interval is the 95% Student-t interval of the mean over seeds ([n<2] with one run); "


def frame(inputs: Inputs) -> Frame | None:
    acc = inputs.train[inputs.train["section"] == "accuracy"] if not inputs.train.empty else inputs.train
    if acc.empty:
        return None
    return Frame(acc, accuracy_summary(acc))


def table(f: Frame) -> pd.DataFrame:
    return accuracy_table(f.data)


def caption(f: Frame) -> str:
    return (f"Held-out metric after the full budget: mean ± std [95% CI] (seeds solved / runs); {CI_NOTE}"
            f"runs that diverged or failed are counted as not ok and left out of the mean; columns are "
            f"each model's default implementation unless marked; [name=value] marks parameters that differ "
            f"between rows or columns, never averaged together; {directions(f.rows['metric'])}; "
            f"baseline = memoryless predictor (chance or the majority class for accuracies).")


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_curves(f.rows, directory)


def accuracy_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per task (and row variant) × model column: n runs, how many ok, mean, std and the 95%
    Student-t interval of the metric over the ok runs, seeds solved (long form)."""
    rows = []
    for (row, metric, column), g in df.groupby(["row", "metric", "column"], sort=False):
        ok = g[g["status"] == "ok"]
        low, high = mean_ci(list(ok["value"]))
        rows.append({
            "task": row, "metric": metric, "column": column, "model": g["model"].iloc[0], "impl": g["impl"].iloc[0],
            "variant": ", ".join(v for v in (g["row_variant"].iloc[0], g["col_variant"].iloc[0]) if v),
            "n": len(g), "n_ok": len(ok), "mean": ok["value"].mean(), "std": ok["value"].std(),
            "ci95_low": low, "ci95_high": high, "solved": int(ok["solved"].sum()),
            "baseline": g["baseline"].dropna().mean(), "n_params": g["n_params"].iloc[0], "steps": g["steps"].iloc[0],
            "train_seconds": g["train_seconds"].mean(),
        })
    return pd.DataFrame(rows)


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Task × model pivot of "mean ± std [95% CI] (solved/n)" with the baseline beside it."""
    s = summary.assign(
        cell=[f"{fmt(m)} ± {fmt(sd if pd.notna(sd) else 0)} {ci_text(lo, hi)} ({k}/{n}"
              f"{'' if ok == n else f', {n - ok} not ok'})"
              for m, sd, lo, hi, k, n, ok in zip(summary["mean"], summary["std"], summary["ci95_low"],
                                                 summary["ci95_high"], summary["solved"], summary["n"],
                                                 summary["n_ok"])],
    )
    table = s.pivot_table(index=["task", "metric"], columns="column", values="cell", aggfunc="first", sort=False)
    table = table[sorted(table.columns, key=column_rank)].fillna("–")  # – : that column did not run this row
    base = s.groupby(["task", "metric"], sort=False)["baseline"].first().map(fmt)
    table.insert(0, "baseline", base)
    table = table.reset_index()
    table.columns.name = None
    return table
