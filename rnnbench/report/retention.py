"""The retention section: the largest dependency length each model solves, same size and budget
at every length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.figures import plot_retention
from rnnbench.report.labels import column_rank, directions
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import mean_ci
from rnnbench.tasks.base import higher_is_better


def frame(inputs: Inputs) -> Frame | None:
    df = inputs.train
    if df.empty:
        return None
    ret = df[(df["section"] == "retention") & (df["status"] != "failed") & (df["status"] != "timeout")]
    if ret.empty:
        return None
    return Frame(ret, retention_summary(ret))


def table(f: Frame) -> pd.DataFrame:
    return retention_table(f.data)


def caption(f: Frame) -> str:
    return (f"Largest swept value at which a strict majority of seeds meet the task's solved rule (first "
            f"solving evaluation step), same model size and budget at every value; none = solved at no "
            f"value; the CSV has metric/baseline per value as mean, std and 95% Student-t interval over "
            f"seeds (1 = the memoryless predictor; {directions(f.rows['metric'])}).")


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_retention(f.data, directory)


def retention_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per task group (and row variant) × model column × swept value: metric / baseline
    (mean ± std, 95% Student-t interval), runs and seeds solved."""
    d = df.assign(normalised=df["value"] / df["baseline"])
    rows = []
    for (group, axis, model, value), g in d.groupby(["row_group", "axis", "column", "axis_value"], sort=False):
        low, high = mean_ci(list(g["normalised"].dropna()))
        rows.append({"group": group, "axis": axis, "model": model, "axis_value": value,
                     "normalised_mean": g["normalised"].mean(), "normalised_std": g["normalised"].std(),
                     "ci95_low": low, "ci95_high": high, "n": len(g), "solved": int(g["solved"].sum()),
                     "steps_to_solve": g["steps_to_solve"].median(), "steps": g["steps"].iloc[0],
                     "batch_size": g["batch_size"].iloc[0], "hidden_size": g["hidden_size"].iloc[0],
                     "metric": g["metric"].iloc[0], "higher_is_better": higher_is_better(g["metric"].iloc[0])})
    out = pd.DataFrame(rows)
    return out.sort_values(["group", "model", "axis_value"], key=lambda c: c.map(column_rank) if c.name == "model" else c)


def retention_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Largest swept value solved by a strict majority of seeds, per task group × model."""
    rows = []
    for (group, axis), part in summary.groupby(["group", "axis"], sort=False):
        row: dict[str, Any] = {"task": group, "axis": axis,
                               "swept": ", ".join(f"{v:g}" for v in sorted(part["axis_value"].unique())),
                               "budget": f"{part['steps'].iloc[0]} steps × batch {part['batch_size'].iloc[0]}, "
                                         f"hidden {part['hidden_size'].iloc[0]}"}
        for model, m in sorted(part.groupby("model"), key=lambda kv: column_rank(kv[0])):
            majority = m[m["solved"] > m["n"] / 2]
            if majority.empty:
                row[model] = "none"
            else:
                best = majority.loc[majority["axis_value"].idxmax()]
                row[model] = f"{best['axis_value']:g} (step {best['steps_to_solve']:g})"
        rows.append(row)
    return pd.DataFrame(rows)
