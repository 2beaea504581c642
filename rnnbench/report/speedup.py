"""The speed-up section: the step-by-step reference's time over each other implementation's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.models import model_rank
from rnnbench.report.section import Frame, Inputs


def frame(inputs: Inputs) -> Frame | None:
    if inputs.throughput.empty:
        return None
    ratios = speedup_table(inputs.throughput)
    if ratios.empty:
        return None
    return Frame(inputs.throughput, ratios)


def table(f: Frame) -> pd.DataFrame:
    return f.data


def caption(f: Frame) -> str:
    return ("Time of the step-by-step reference ÷ time of each other implementation of the same model at "
            "the same shape, measured in the same run (> 1: faster than the reference).")


def figures(f: Frame, directory: Path) -> list[Path]:
    return []


def speedup_table(df: pd.DataFrame) -> pd.DataFrame:
    """Reference median ÷ each other implementation's median, per model, shape and mode."""
    keys = ["model", "batch", "seq_len", "input_size", "hidden_size", "num_layers", "mode"]
    ref = df[df["impl"] == "reference"].set_index(keys)["median_ms"]
    rows = []
    for _, r in df[df["impl"] != "reference"].iterrows():
        key = tuple(r[k] for k in keys)
        if key in ref.index:
            rows.append({**{k: r[k] for k in keys[:-1]}, "impl": r["impl"], "mode": r["mode"],
                         "x": ref.loc[key] / r["median_ms"]})
    if not rows:
        return pd.DataFrame()
    long = pd.DataFrame(rows)
    table = long.pivot_table(index=["model", "impl", "batch", "hidden_size", "num_layers"],
                             columns=["mode", "seq_len"], values="x", aggfunc="first", sort=False)
    table.columns = [f"{'fwd' if m == 'fwd' else 'fwd+bwd'} T={t}" for m, t in table.columns]
    table = table[sorted(table.columns, key=lambda c: (c.startswith("fwd+bwd"), int(c.rsplit("=", 1)[1])))]
    table = table.map(lambda v: f"{v:.2f}×" if pd.notna(v) else "–").reset_index()
    return table.sort_values("model", key=lambda c: c.map(model_rank), kind="stable").reset_index(drop=True)
