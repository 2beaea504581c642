"""The gradient-flow section: how fast the input-gradient norm decays with distance, at
initialisation and after training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.figures import plot_gradient_flow
from rnnbench.report.accuracy import CI_NOTE
from rnnbench.report.labels import column_rank
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import mean_ci


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
    return (f"Per-step decay of the input-gradient norm, 10^slope of log10 ‖∂loss/∂x_t‖ against distance "
            f"from the last step (1 = no decay), mean ± std [95% CI] (n seeds); {CI_NOTE}").rstrip()


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_gradient_flow(f.data, directory)


def gradient_flow_frame(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in df.iterrows():
        for stage, p in r["probes"].get("gradient_flow", {}).items():
            rows.append({"group": r["row"], "model": r["column"], "seed": r["seed"], "stage": stage,
                         "decay_per_step": p["decay_per_step"], "norms": p["norms_by_distance"]})
    return pd.DataFrame(rows)


def gradient_flow_table(gf: pd.DataFrame) -> pd.DataFrame:
    cells = {}
    for (group, model, stage), g in gf.groupby(["group", "model", "stage"], sort=False):
        v = g["decay_per_step"].dropna()
        low, high = mean_ci(list(v))
        cells[(group, model, stage)] = (f"{v.mean():.3f} ± {0 if len(v) < 2 else v.std():.3f} "
                                        f"[{low:.3f}, {high:.3f}] (n={len(v)})" if len(v) >= 2
                                        else f"{v.mean():.3f} (n={len(v)})")
    table = pd.Series(cells).unstack(-1).rename(columns={"init": "decay per step at init",
                                                          "trained": "decay per step trained"})
    table = table.rename_axis(["group", "model"]).reset_index()
    table.columns.name = None
    return table.sort_values("model", key=lambda c: c.map(column_rank), kind="stable").reset_index(drop=True)
