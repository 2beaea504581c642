"""The retention section: the largest dependency length each model solves, same size and budget
at every length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.figures import plot_retention
from rnnbench.report import latex
from rnnbench.report.labels import column_rank, directions
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import methods_text, summarise
from rnnbench.tasks.base import higher_is_better, metric_bounds


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
    return (
        f"Largest swept value at which a strict majority of seeds meet the task's solved rule (first "
        f"solving evaluation step), same model size and budget at every value; none = solved at no "
        f"value; the CSV has metric/baseline per value as mean, std, the raw 95% Student-t interval and "
        f"the interval inside the metric's range ({methods_text(f.data['interval_method'])}) over "
        f"seeds (1 = the memoryless predictor; {directions(f.rows['metric'])})."
    )


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_retention(f.data, directory)


def retention_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per task group (and row variant) × model column × swept value: metric / baseline (mean,
    std, the raw 95% Student-t interval ``ci95_*`` and the one inside the metric's range
    ``interval_*``), runs and seeds solved."""
    d = df.assign(normalised=df["value"] / df["baseline"])
    rows = []
    for (group, axis, model, value), g in d.groupby(["row_group", "axis", "column", "axis_value"], sort=False):
        metric, baseline = g["metric"].iloc[0], g["baseline"].iloc[0]
        lo, hi = metric_bounds(str(metric))
        s = summarise(list(g["normalised"].dropna()), (lo / baseline, hi / baseline) if baseline > 0 else (lo, hi))
        rows.append(
            {
                "group": group,
                "axis": axis,
                "model": model,
                "axis_value": value,
                "normalised_mean": g["normalised"].mean(),
                "normalised_std": g["normalised"].std(),
                "ci95_low": s.t_low,
                "ci95_high": s.t_high,
                "interval_low": s.low,
                "interval_high": s.high,
                "interval_method": s.method,
                "n": len(g),
                "solved": int(g["solved"].sum()),
                "steps_to_solve": g["steps_to_solve"].median(),
                "steps": g["steps"].iloc[0],
                "batch_size": g["batch_size"].iloc[0],
                "hidden_size": g["hidden_size"].iloc[0],
                "metric": metric,
                "baseline": baseline,
                "higher_is_better": higher_is_better(metric),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(["group", "model", "axis_value"], key=lambda c: c.map(column_rank) if c.name == "model" else c)


def retention_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Largest swept value solved by a strict majority of seeds, per task group × model."""
    rows = []
    for (group, axis), part in summary.groupby(["group", "axis"], sort=False):
        row: dict[str, Any] = {
            "task": group,
            "axis": axis,
            "swept": ", ".join(f"{v:g}" for v in sorted(part["axis_value"].unique())),
            "budget": f"{part['steps'].iloc[0]} steps × batch {part['batch_size'].iloc[0]}, hidden {part['hidden_size'].iloc[0]}",
        }
        for model, m in sorted(part.groupby("model"), key=lambda kv: column_rank(kv[0])):
            majority = m[m["solved"] > m["n"] / 2]
            if majority.empty:
                row[model] = "none"
            else:
                best = majority.loc[majority["axis_value"].idxmax()]
                row[model] = f"{best['axis_value']:g} (step {best['steps_to_solve']:g})"
        rows.append(row)
    return pd.DataFrame(rows).fillna("–")  # – : that model was not swept on this task


def paper(f: Frame) -> latex.Paper:
    """Models as rows when there are more models than task groups; the lengths tried and the
    budget of each group in the notes."""
    table = retention_table(f.data)
    models = [c for c in table.columns if c not in ("task", "axis", "swept", "budget")]
    groups = list(table["task"])
    models_as_rows = len(models) > len(groups)
    letter = {g: chr(ord("a") + i) for i, g in enumerate(groups)}
    label = {g: rf"{latex.tex(g.split('/')[0])}\textsuperscript{{{letter[g]}}}" for g in groups}
    cell = {(g, m): latex.tex(v) for _, r in table.iterrows() for g, m, v in ((r["task"], m, r[m]) for m in models)}
    if models_as_rows:
        spec, header = ["l"] + ["c"] * len(groups), ["model"] + [label[g] for g in groups]
        rows = [[latex.tex(m)] + [cell[(g, m)] for g in groups] for m in models]
    else:
        spec, header = ["l"] + ["c"] * len(models), ["task"] + [latex.tex(m) for m in models]
        rows = [[label[g]] + [cell[(g, m)] for m in models] for g in groups]
    axes = ", ".join(dict.fromkeys(table["axis"]))
    caption = (
        f"Largest dependency length ({latex.tex(axes)}) at which a strict majority of seeds meet each "
        f"task's solved rule, with the same model size and training budget at every length. The first "
        f"evaluation step that met the rule is in parentheses; none: solved at no length tried."
    )
    n = f.data.groupby("group")["n"].max()
    notes = [
        "; ".join(
            rf"\textsuperscript{{{letter[g]}}}{latex.tex(g)}: {latex.tex(r['axis'])} in "
            rf"\{{{latex.tex(r['swept'])}\}}, {latex.tex(r['budget'])}, {int(n[g])} seeds"
            for g, (_, r) in zip(groups, table.iterrows())
        )
        + "."
    ]
    return latex.Paper(spec, header, rows, caption, notes)
