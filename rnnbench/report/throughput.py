"""The throughput section: time, tokens/s, GFLOP/s and memory per model, implementation and shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.figures import plot_throughput
from rnnbench.models import model_rank
from rnnbench.report.section import Frame, Inputs


def frame(inputs: Inputs) -> Frame | None:
    if inputs.throughput.empty:
        return None
    return Frame(inputs.throughput, inputs.throughput, long_form=inputs.throughput.drop(columns=["env"]))


def table(f: Frame) -> pd.DataFrame:
    return throughput_table(f.data)


def caption(f: Frame) -> str:
    return (f"Median of timed runs (IQR) with torch.utils.benchmark on the stated threads; tokens/s = "
            f"B·T/median; GFLOP/s from each architecture's own FLOP count; roofline = achieved FLOP/s over "
            f"the architecture's reference matmul (classic: (B·T, I+H)@(I+H, G·H)) on the same device in "
            f"the same run; 'noisy': IQR above 20% of the median; 'busy': other processes used more than "
            f"25% of the machine's CPU time during the measurement; memory: "
            f"{f.rows['memory_method'].iloc[-1]}.")


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_throughput(f.rows, directory)


def throughput_table(df: pd.DataFrame) -> pd.DataFrame:
    """Model × implementation × shape rows; forward and forward+backward side by side."""
    keys = ["model", "impl", "variant", "threads", "batch", "seq_len", "input_size", "hidden_size", "num_layers"]
    wide = df.pivot_table(index=keys, columns="mode", values=["tokens_per_s", "gflop_per_s", "roofline", "median_ms",
                                                              "iqr_ms", "memory_mb", "noisy", "busy"], aggfunc="first",
                          sort=False)
    table = pd.DataFrame(index=wide.index)
    for mode, name in (("fwd", "fwd"), ("fwdbwd", "fwd+bwd")):
        table[f"{name} ms (IQR)"] = [f"{m:.2f} ({i:.2f}){' noisy' if n else ''}{' busy' if b else ''}"
                                     for m, i, n, b in zip(wide["median_ms"][mode], wide["iqr_ms"][mode],
                                                           wide["noisy"][mode], wide["busy"][mode])]
        table[f"{name} tokens/s"] = wide["tokens_per_s"][mode].map(lambda v: f"{v:,.0f}")
        table[f"{name} GFLOP/s"] = wide["gflop_per_s"][mode].map(lambda v: f"{v:.1f}" if pd.notna(v) else "n/a")
        table[f"{name} roofline"] = wide["roofline"][mode].map(lambda v: f"{v:.0%}" if pd.notna(v) else "n/a")
    table["fwd+bwd MB"] = wide["memory_mb"]["fwdbwd"].map(lambda v: f"{v:.1f}")
    table = table.reset_index()
    if not (table["variant"] != "").any():
        table = table.drop(columns="variant")
    return table.sort_values(["model", "impl", "hidden_size", "seq_len", "batch"],
                             key=lambda c: c.map(model_rank) if c.name == "model" else c).reset_index(drop=True)
