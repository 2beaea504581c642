"""The throughput section: time, tokens/s, GFLOP/s and memory per model, implementation and shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.figures import plot_throughput
from rnnbench.models import model_rank
from rnnbench.report import latex
from rnnbench.report.section import Frame, Inputs


def frame(inputs: Inputs) -> Frame | None:
    if inputs.throughput.empty:
        return None
    return Frame(inputs.throughput, inputs.throughput, long_form=inputs.throughput.drop(columns=["env"]))


def table(f: Frame) -> pd.DataFrame:
    return throughput_table(f.data)


def caption(f: Frame) -> str:
    return (
        f"Median of timed runs (IQR) with torch.utils.benchmark on the stated threads; tokens/s = "
        f"B·T/median; GFLOP/s from each architecture's own FLOP count; roofline = achieved FLOP/s over "
        f"the architecture's reference matmul (classic: (B·T, I+H)@(I+H, G·H)) on the same device in "
        f"the same run; 'noisy': IQR above 20% of the median; 'busy': other processes used more than "
        f"25% of the machine's CPU time during the measurement; memory: "
        f"{f.rows['memory_method'].iloc[-1]}."
    )


def figures(f: Frame, directory: Path) -> list[Path]:
    return plot_throughput(f.rows, directory)


def throughput_table(df: pd.DataFrame) -> pd.DataFrame:
    """Model × implementation × shape rows; forward and forward+backward side by side."""
    keys = ["model", "impl", "variant", "threads", "batch", "seq_len", "input_size", "hidden_size", "num_layers"]
    wide = df.pivot_table(
        index=keys,
        columns="mode",
        values=["tokens_per_s", "gflop_per_s", "roofline", "median_ms", "iqr_ms", "memory_mb", "noisy", "busy"],
        aggfunc="first",
        sort=False,
    )
    table = pd.DataFrame(index=wide.index)
    for mode, name in (("fwd", "fwd"), ("fwdbwd", "fwd+bwd")):
        table[f"{name} ms (IQR)"] = [
            f"{m:.2f} ({i:.2f}){' noisy' if n else ''}{' busy' if b else ''}"
            for m, i, n, b in zip(wide["median_ms"][mode], wide["iqr_ms"][mode], wide["noisy"][mode], wide["busy"][mode])
        ]
        table[f"{name} tokens/s"] = wide["tokens_per_s"][mode].map(lambda v: f"{v:,.0f}")
        table[f"{name} GFLOP/s"] = wide["gflop_per_s"][mode].map(lambda v: f"{v:.1f}" if pd.notna(v) else "n/a")
        table[f"{name} roofline"] = wide["roofline"][mode].map(lambda v: f"{v:.0%}" if pd.notna(v) else "n/a")
    table["fwd+bwd MB"] = wide["memory_mb"]["fwdbwd"].map(lambda v: f"{v:.1f}")
    table = table.reset_index()
    if not (table["variant"] != "").any():
        table = table.drop(columns="variant")
    return table.sort_values(
        ["model", "impl", "hidden_size", "seq_len", "batch"], key=lambda c: c.map(model_rank) if c.name == "model" else c
    ).reset_index(drop=True)


def paper(f: Frame) -> latex.Paper:
    """Training-step throughput (forward and backward, thousands of tokens per second) per model
    and implementation at the most common batch and the largest hidden size, one column per
    sequence length; every other shape and mode is in the CSV."""
    df = f.data[f.data["mode"] == "fwdbwd"]
    batch = df["batch"].mode().iloc[0]
    df = df[df["batch"] == batch]
    hidden = df["hidden_size"].max()
    df = df[df["hidden_size"] == hidden]
    lengths = sorted(df["seq_len"].unique())
    keys = sorted(dict.fromkeys(zip(df["model"], df["impl"], df["variant"])), key=lambda k: (model_rank(k[0]), k[1], k[2]))
    value = {(r["model"], r["impl"], r["variant"], r["seq_len"]): r["tokens_per_s"] / 1e3 for _, r in df.iterrows()}
    formats = {t: latex.numbers([value[k + (t,)] for k in keys if k + (t,) in value]) for t in lengths}
    variants = any(v for _, _, v in keys)
    spec = ["l", "l"] + (["l"] if variants else []) + [formats[t].spec(marked=False) for t in lengths]
    header = ["model", "impl."] + (["variant"] if variants else []) + [latex.header(f"$T={t}$") for t in lengths]
    rows = [
        [latex.tex(m), latex.tex(i)]
        + ([latex.tex(v)] if variants else [])
        + [formats[t].fmt(value[(m, i, v, t)]) if (m, i, v, t) in value else latex.plain("--") for t in lengths]
        for m, i, v in keys
    ]
    threads = ", ".join(str(t) for t in sorted(df["threads"].dropna().unique()))
    device = ", ".join(sorted(df["device"].dropna().unique()))
    caption = (
        f"Training-step throughput (forward and backward) in thousands of tokens per second, the median of "
        f"timed runs at batch {batch} and hidden size {hidden}, for each sequence length $T$. Measured with "
        f"torch.utils.benchmark on {latex.tex(device)} with {threads} threads; the CSV has every shape, the "
        f"forward pass alone, the spread and the memory."
    )
    notes = [latex.tex(f"Memory: {f.rows['memory_method'].iloc[-1]}.")]
    flagged = df[df["noisy"] | df["busy"]]
    if not flagged.empty:
        notes.append(
            latex.tex(
                f"{len(flagged)} of these {len(df)} timings were noisy (IQR above 20% of the median) "
                f"or taken while other processes used more than 25% of the CPU time."
            )
        )
    return latex.Paper(spec, header, rows, caption, notes)
