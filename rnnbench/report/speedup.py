"""The speed-up section: the step-by-step reference's time over each other implementation's."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from rnnbench.models import model_rank
from rnnbench.report import latex
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
    return (
        "Time of the step-by-step reference ÷ time of each other implementation of the same model at "
        "the same shape, measured in the same run (> 1: faster than the reference)."
    )


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
            rows.append(
                {**{k: r[k] for k in keys[:-1]}, "impl": r["impl"], "mode": r["mode"], "x": ref.loc[key] / r["median_ms"]}
            )
    if not rows:
        return pd.DataFrame()
    long = pd.DataFrame(rows)
    table = long.pivot_table(
        index=["model", "impl", "batch", "hidden_size", "num_layers"],
        columns=["mode", "seq_len"],
        values="x",
        aggfunc="first",
        sort=False,
    )
    table.columns = [f"{'fwd' if m == 'fwd' else 'fwd+bwd'} T={t}" for m, t in table.columns]
    table = table[sorted(table.columns, key=lambda c: (c.startswith("fwd+bwd"), int(c.rsplit("=", 1)[1])))]
    table = table.map(lambda v: f"{v:.2f}×" if pd.notna(v) else "–").reset_index()
    return table.sort_values("model", key=lambda c: c.map(model_rank), kind="stable").reset_index(drop=True)


def paper(f: Frame) -> latex.Paper:
    """One row per model, implementation and size; one column per mode and sequence length."""
    d = f.data
    keys = ["model", "impl", "batch", "hidden_size", "num_layers"]
    ratios = [c for c in d.columns if c not in keys]
    varying = [k for k in ("batch", "hidden_size", "num_layers") if d[k].nunique() > 1]
    value = {c: [float(v.rstrip("×")) if v != "–" else float("nan") for v in d[c]] for c in ratios}
    formats = {c: latex.fixed(2, [v for v in value[c] if v == v]) for c in ratios}
    names = {"batch": "$B$", "hidden_size": "$H$", "num_layers": "layers"}
    spec = ["l", "l"] + ["r"] * len(varying) + [formats[c].spec(marked=False) for c in ratios]
    header = (
        ["model", "impl."]
        + [names[k] for k in varying]
        + [latex.header(re.sub(r"T=(\d+)", r"$T=\1$", latex.tex(c))) for c in ratios]
    )
    rows = [
        [latex.tex(r["model"]), latex.tex(r["impl"])]
        + [str(r[k]) for k in varying]
        + [formats[c].fmt(value[c][i]) if value[c][i] == value[c][i] else latex.plain("--") for c in ratios]
        for i, (_, r) in enumerate(d.iterrows())
    ]
    fixed = ", ".join(f"{names[k]} = {d[k].iloc[0]}" for k in ("batch", "hidden_size", "num_layers") if k not in varying)
    caption = (
        "Time of the step-by-step reference implementation divided by the time of each other "
        "implementation of the same model at the same shape, measured in the same run (above 1: faster "
        f"than the reference). Columns are the forward pass (fwd) and the training step (fwd+bwd) at each "
        f"sequence length $T${'; ' + fixed if fixed else ''}."
    )
    return latex.Paper(spec, header, rows, caption, [])
