"""The gradient-flow section: how fast the input-gradient norm decays with distance, at
initialisation and after training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.figures import plot_gradient_flow
from rnnbench.report import latex
from rnnbench.report.accuracy import SHORT_METHODS
from rnnbench.report.formats import interval_note, interval_text
from rnnbench.report.labels import column_rank
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import INF, methods_text, summarise

BOUNDS = (0.0, INF)  # 10^slope: a factor, never negative
STAGES = {"init": "at init", "trained": "trained"}


def frame(inputs: Inputs) -> Frame | None:
    if inputs.train.empty:
        return None
    src = inputs.train[inputs.train["section"] == "gradient_flow"]
    gf = gradient_flow_frame(src)
    if gf.empty:
        return None
    return Frame(src, gf, long_form=gf.drop(columns=["norms"]))


def table(f: Frame) -> pd.DataFrame:
    return gradient_flow_table(f.data)


def caption(f: Frame) -> str:
    return (
        f"Per-step decay of the input-gradient norm, 10^slope of log10 ‖∂loss/∂x_t‖ against distance "
        f"from the last step (1 = no decay), mean ± std [interval] (n seeds); "
        f"{interval_note(stage_summary(f.data)['interval_method'])}."
    )


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_gradient_flow(f.data, directory)


def gradient_flow_frame(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in df.iterrows():
        for stage, p in r["probes"].get("gradient_flow", {}).items():
            rows.append(
                {
                    "group": r["row"],
                    "model": r["column"],
                    "seed": r["seed"],
                    "stage": stage,
                    "decay_per_step": p["decay_per_step"],
                    "norms": p["norms_by_distance"],
                }
            )
    return pd.DataFrame(rows)


def stage_summary(gf: pd.DataFrame) -> pd.DataFrame:
    """Per group × model × stage: the decay per step over seeds (``rnnbench.stats.summarise``)."""
    rows = []
    for (group, model, stage), g in gf.groupby(["group", "model", "stage"], sort=False):
        s = summarise(list(g["decay_per_step"].dropna()), BOUNDS)
        rows.append(
            {
                "group": group,
                "model": model,
                "stage": stage,
                "n": s.n,
                "mean": s.mean,
                "std": s.std,
                "interval_low": s.low,
                "interval_high": s.high,
                "interval_method": s.method,
            }
        )
    return pd.DataFrame(rows)


def gradient_flow_table(gf: pd.DataFrame) -> pd.DataFrame:
    cells = {}
    for _, r in stage_summary(gf).iterrows():
        bounds = interval_text(r["interval_low"], r["interval_high"], r["interval_method"])
        cells[(r["group"], r["model"], r["stage"])] = (
            f"{r['mean']:.3f} ± {r['std']:.3f} {bounds} (n={r['n']})" if r["n"] >= 2 else f"{r['mean']:.3f} (n={r['n']})"
        )
    table = pd.Series(cells).unstack(-1).rename(columns={"init": "decay per step at init", "trained": "decay per step trained"})
    table = table.rename_axis(["group", "model"]).reset_index()
    table.columns.name = None
    return table.sort_values("model", key=lambda c: c.map(column_rank), kind="stable").reset_index(drop=True)


def paper(f: Frame) -> latex.Paper:
    """One row per task and model: the decay at initialisation and after training, each with
    its interval beneath it."""
    s = stage_summary(f.data)
    stages = [st for st in STAGES if st in set(s["stage"])]
    keys = sorted(dict.fromkeys(zip(s["group"], s["model"])), key=lambda k: (k[0], column_rank(k[1])))
    by = {(r["group"], r["model"], r["stage"]): r for _, r in s.iterrows()}
    groups = list(dict.fromkeys(g for g, _ in keys))
    formats = {st: latex.numbers(list(s[s["stage"] == st]["mean"])) for st in stages}
    named = len(groups) > 1  # one task: named in the notes only
    spec = ["l"] * (1 + named) + [formats[st].spec(marked=False) for st in stages]
    header = ["task"] * named + ["model"] + [latex.header(f"decay {STAGES[st]}") for st in stages]
    rows, gaps = [], []
    for group, model in keys:
        means = [latex.tex(group)] * named + [latex.tex(model)]
        bounds = [""] * (1 + named)
        for st in stages:
            r = by.get((group, model, st))
            means.append(formats[st].fmt(r["mean"]) if r is not None else latex.plain("--"))
            bounds.append(
                latex.plain(latex.bounds(r["interval_low"], r["interval_high"]))
                if r is not None and pd.notna(r["interval_low"])
                else ""
            )
        rows.append(means)
        if any(bounds[1 + named :]):
            rows.append(bounds)
        gaps.append(len(rows) - 1)
    methods = [m for m in ("range", "t-log", "t-arcsine", "t-cut", "t") if m in set(s["interval_method"])]
    spread = latex.tex(" or ".join(SHORT_METHODS[m] for m in methods))
    caption = (
        "Per-step decay factor of the input-gradient norm, $10^{\\mathrm{slope}}$ of "
        "$\\log_{10}\\|\\partial \\mathrm{loss}/\\partial x_t\\|$ against the distance from the last step "
        "(1: no decay), at initialisation and after training. Mean over seeds"
        + (f", with {spread} beneath it." if spread else " (one run each).")
    )
    notes = [latex.tex("Tasks: " + "; ".join(groups) + "."), latex.tex("Intervals: " + methods_text(s["interval_method"]) + ".")]
    return latex.Paper(spec, header, rows, caption, notes, gaps)
