"""The accuracy section: each task × model cell's held-out metric after the full budget, over seeds."""

from __future__ import annotations

import string
from pathlib import Path

import pandas as pd

from rnnbench.figures import plot_curves
from rnnbench.report import latex
from rnnbench.report.best import CORRECTION, leads, tested
from rnnbench.report.formats import Marks, fmt, interval_note, interval_text
from rnnbench.report.labels import column_rank, directions
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import ALPHA, SHORT, methods_text, summarise
from rnnbench.tasks.base import direction, metric_bounds

SHORT_METHODS = {
    "range": "the lowest and highest of its seeds (too few for a confidence interval)",
    "t-log": "a 95% Student-t interval on the log scale",
    "t-arcsine": "a 95% Student-t interval on the arcsine-square-root scale",
    "t-cut": "a 95% Student-t interval cut at the metric's bounds",
    "t": "a 95% Student-t interval",
}


def frame(inputs: Inputs) -> Frame | None:
    acc = inputs.train[inputs.train["section"] == "accuracy"] if not inputs.train.empty else inputs.train
    if acc.empty:
        return None
    return Frame(acc, accuracy_summary(acc))


def table(f: Frame) -> pd.DataFrame:
    return accuracy_table(f.data)


def marks(f: Frame, shown: pd.DataFrame) -> Marks:
    """The best model column of each task row, and whether its lead is significant."""
    best = f.data[f.data["best"]]
    out: Marks = {}
    for i, (task, metric) in enumerate(zip(shown["task"], shown["metric"])):
        for _, r in best[(best["task"] == task) & (best["metric"] == metric)].iterrows():
            out[(i, r["column"])] = "significant" if r["significant"] else "best"
    return out


def caption(f: Frame) -> str:
    return (
        f"Held-out metric after the full budget: mean ± std [interval] (seeds solved / runs); "
        f"{interval_note(f.data['interval_method'])}; "
        f"bold: the best model of the row; {significance(f)}; "
        f"runs that diverged or failed are counted as not ok and left out of the mean; columns are "
        f"each model's default implementation unless marked; [name=value] marks parameters that differ "
        f"between rows or columns, never averaged together; {directions(f.rows['metric'])}; "
        f"baseline = memoryless predictor (chance or the majority class for accuracies)."
    )


def significance(f: Frame) -> str:
    """What † means, with the test, the correction and the number of rows tested."""
    k = int(f.data["tested"].iloc[0]) if len(f.data) else 0
    if k == 0:
        return "† would mark a lead over the runner-up significant by Welch's t-test, but no row has 2 runs of both"
    return (
        f"† marks a lead over the runner-up that Welch's t-test over seeds finds significant at {ALPHA:g} "
        f"after {SHORT[CORRECTION]}'s correction over the {k} rows tested"
    )


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_curves(f.rows, directory)


def accuracy_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per task (and row variant) × model column: n runs, how many ok, mean, std, the 95% Student-t
    interval of the mean on the raw scale (``ci95_*``, which can leave the metric's range), the
    interval the tables show (``interval_*``, inside it; ``rnnbench.stats.interval``), seeds
    solved, and whether the column is the row's best and its lead significant (long form)."""
    rows, values = [], {}
    for (row, metric, column), g in df.groupby(["row", "metric", "column"], sort=False):
        ok = g[g["status"] == "ok"]
        s = summarise(list(ok["value"]), metric_bounds(str(metric)))
        values.setdefault((row, metric), {})[column] = [float(v) for v in ok["value"].dropna()]
        rows.append(
            {
                "task": row,
                "metric": metric,
                "column": column,
                "model": g["model"].iloc[0],
                "impl": g["impl"].iloc[0],
                "variant": ", ".join(v for v in (g["row_variant"].iloc[0], g["col_variant"].iloc[0]) if v),
                "n": len(g),
                "n_ok": len(ok),
                "mean": s.mean,
                "std": s.std,
                "ci95_low": s.t_low,
                "ci95_high": s.t_high,
                "interval_low": s.low,
                "interval_high": s.high,
                "interval_method": s.method,
                "solved": int(ok["solved"].sum()),
                "baseline": g["baseline"].dropna().mean(),
                "n_params": g["n_params"].iloc[0],
                "steps": g["steps"].iloc[0],
                "train_seconds": g["train_seconds"].mean(),
            }
        )
    out = pd.DataFrame(rows)
    found = leads({key: (str(key[1]), candidates) for key, candidates in values.items()})
    lead = [found.get((t, m)) for t, m in zip(out["task"], out["metric"])]
    out["best"] = [bool(x) and c in x.best for x, c in zip(lead, out["column"])]
    out["runner_up"] = [x.runner_up if b else None for x, b in zip(lead, out["best"])]
    out["p_vs_runner_up"] = [x.p_value if b else float("nan") for x, b in zip(lead, out["best"])]
    out["p_adjusted"] = [x.p_adjusted if b else float("nan") for x, b in zip(lead, out["best"])]
    out["significant"] = [bool(b and x.significant) for x, b in zip(lead, out["best"])]
    out["tested"] = tested(found)
    return out


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Task × model pivot of "mean ± std [interval] (solved/n)" with the baseline beside it."""

    def cell(m: float, sd: float, lo: float, hi: float, method: str, k: int, n: int, ok: int) -> str:
        spread = f" ± {fmt(sd)}" if pd.notna(sd) else ""
        bounds = interval_text(lo, hi, method)
        return f"{fmt(m)}{spread}{' ' + bounds if bounds else ''} ({k}/{n}{'' if ok == n else f', {n - ok} not ok'})"

    s = summary.assign(
        cell=[
            cell(*v)
            for v in zip(
                summary["mean"],
                summary["std"],
                summary["interval_low"],
                summary["interval_high"],
                summary["interval_method"],
                summary["solved"],
                summary["n"],
                summary["n_ok"],
            )
        ]
    )
    table = s.pivot_table(index=["task", "metric"], columns="column", values="cell", aggfunc="first", sort=False)
    table = table[sorted(table.columns, key=column_rank)].fillna("–")  # – : that column did not run this row
    base = s.groupby(["task", "metric"], sort=False)["baseline"].first().map(fmt)
    table.insert(0, "baseline", base)
    table = table.reset_index()
    table.columns.name = None
    return table


def paper(f: Frame) -> latex.Paper:
    """Compact cells: the mean (bold where best, † where significantly so) and its interval
    beneath it; models as rows when there are more models than tasks; tasks by letter, with their
    full definitions in the notes."""
    s = f.data
    tasks = list(dict.fromkeys(zip(s["task"], s["metric"])))
    columns = sorted(dict.fromkeys(s["column"]), key=column_rank)
    letter = {t: string.ascii_lowercase[i % 26] * (1 + i // 26) for i, t in enumerate(tasks)}
    cells = {(r["task"], r["metric"], r["column"]): r for _, r in s.iterrows()}
    models_as_rows = len(columns) > len(tasks)
    outer, inner = (columns, tasks) if models_as_rows else (tasks, columns)

    def short(task: tuple[str, str]) -> str:
        return rf"{latex.tex(task[0].split('/')[0])}\textsuperscript{{{letter[task]}}}"

    def label(key: object) -> str:
        return short(key) if isinstance(key, tuple) else latex.tex(key)

    def lookup(o: object, i: object) -> pd.Series | None:
        task, column = (i, o) if models_as_rows else (o, i)
        return cells.get((task[0], task[1], column))

    formats = {}
    for i in inner:
        means = [r["mean"] for o in outer if (r := lookup(o, i)) is not None]
        formats[i] = latex.numbers(means)
    spec = ["l"] + [formats[i].spec(marked=True) for i in inner]
    header = [latex.header("model" if models_as_rows else "task")] + [latex.header(label(i)) for i in inner]
    rows, gaps = [], []
    for o in outer:
        means, bounds = [label(o)], [""]
        for i in inner:
            r = lookup(o, i)
            if r is None or pd.isna(r["mean"]):
                means.append(latex.plain("--"))
                bounds.append("")
                continue
            text = formats[i].fmt(r["mean"])
            mark = "{" + latex.DAGGER + "}" if r["significant"] else ""
            means.append((r"\bfseries " if r["best"] else "") + text + mark)
            bounds.append(latex.plain(latex.bounds(r["interval_low"], r["interval_high"])) if pd.notna(r["interval_low"]) else "")
        rows.append(means)
        if any(bounds[1:]):
            rows.append(bounds)
        gaps.append(len(rows) - 1)
    methods = [m for m in ("range", "t-log", "t-arcsine", "t-cut", "t") if m in set(s["interval_method"])]
    spread = latex.tex(" or ".join(SHORT_METHODS[m] for m in methods))
    first = "Held-out metric of each model after the full training budget: the mean over seeds" + (
        f", with {spread} beneath it." if spread else " (one run per cell, no interval)."
    )
    k = int(s["tested"].iloc[0]) if len(s) else 0
    second = r"Bold marks the best model on each task" + (
        rf" and {latex.DAGGER} a lead over the runner-up significant by Welch's t-test at {ALPHA:g} after "
        rf"{latex.tex(SHORT[CORRECTION])}'s correction over the {k} tasks tested."
        if k
        else " (no task has two runs of two models, so no lead is tested)."
    )
    notes = [
        "; ".join(
            rf"\textsuperscript{{{letter[t]}}}{latex.tex(t[0])}, {latex.tex(t[1])} ({latex.tex(direction(t[1]))}), "
            rf"memoryless baseline {latex.num(cells_baseline(s, t))}"
            for t in tasks
        )
        + "."
    ]
    notes.append(latex.tex("Intervals: " + methods_text(s["interval_method"]) + "."))
    not_ok = s[s["n_ok"] < s["n"]]
    if not not_ok.empty:
        notes.append(
            latex.tex(
                f"Runs that diverged or failed are left out of the mean: "
                f"{int((not_ok['n'] - not_ok['n_ok']).sum())} of {int(s['n'].sum())}."
            )
        )
    return latex.Paper(spec, header, rows, first + " " + second, notes, gaps)


def cells_baseline(s: pd.DataFrame, task: tuple[str, str]) -> float:
    return float(s[(s["task"] == task[0]) & (s["metric"] == task[1])]["baseline"].iloc[0])
