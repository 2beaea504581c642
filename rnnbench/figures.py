"""Figures (PNG and SVG) of run records: learning curves, retention, gradient flow, throughput."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
matplotlib.rcParams["svg.hashsalt"] = "rnnbench"  # the same records give the same SVG bytes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rnnbench.models import model_rank  # noqa: E402
from rnnbench.results import atomic_write  # noqa: E402
from rnnbench.tasks.base import direction, higher_is_better  # noqa: E402


def model_color(model: str) -> tuple[float, float, float, float]:
    """One colour per architecture in every figure, in the registry's order: tab20's dark shades,
    its light ones, then tab20b's (40 colours; the registry has more than 20 models); a column
    label such as ``lstm [hidden_size=8]`` takes its model's colour."""
    r = model_rank(model.split(" ")[0]) % 40
    palette = matplotlib.colormaps["tab20" if r < 20 else "tab20b"]
    r %= 20
    return palette((2 * r) % 20 + (r >= 10))


def outside_legend(fig: Any, ax: Any) -> None:
    """The legend to the right of the axes, so that a dozen models do not cover their lines."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.set_size_inches(9.6, 4.0)


def rank(label: str) -> tuple[int, str]:
    return model_rank(label.split(" ")[0]), label


def plot_curves(df: pd.DataFrame, directory: Path) -> list[Path]:
    """Learning curves (metric on the held-out set against step) per task: the mean over
    seeds, shaded from the lowest to the highest seed (log scale, where ± std would dip below 0)."""
    written = []
    for task, group in df[df["status"] == "ok"].groupby("task", sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for model in sorted(set(group["model"]), key=rank):
            runs = group[group["model"] == model]
            metric = runs["metric"].iloc[0]
            curves = pd.DataFrame(
                [
                    {"seed": s, "step": h["step"], "value": h[metric]}
                    for s, hist in zip(runs["seed"], runs["history"])
                    for h in hist
                ]
            )
            stats = curves.groupby("step")["value"].agg(["mean", "min", "max"])
            (line,) = ax.plot(stats.index, stats["mean"], color=model_color(model), label=f"{model} (n={runs['seed'].nunique()})")
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2)
        metric = group["metric"].iloc[0]
        ax.axhline(group["baseline"].iloc[0], color="black", linestyle="--", linewidth=1, label="no-memory baseline")
        # accuracies on a linear 0..1 axis (up is better), losses on a log axis (down is better)
        ax.set(
            yscale="linear" if higher_is_better(metric) else "log",
            xlabel="training step",
            ylabel=f"{metric}, {direction(metric)} (held-out; band: seed range)",
            title=task,
        )
        outside_legend(fig, ax)
        fig.tight_layout()
        written += save(fig, directory / ("curves_" + slug(task)))
    return written


def plot_retention(summary: pd.DataFrame, directory: Path) -> list[Path]:
    """Metric ÷ memoryless baseline against the swept length, one line per model: 1 is no
    memory; below it is better for a loss, above it for an accuracy (the axis says which)."""
    written = []
    for (group, axis), part in summary.groupby(["group", "axis"], sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for model, m in sorted(part.groupby("model"), key=lambda kv: rank(kv[0])):
            m = m.sort_values("axis_value")
            std = m["normalised_std"].fillna(0)
            (line,) = ax.plot(
                m["axis_value"],
                m["normalised_mean"],
                marker="o",
                color=model_color(model),
                label=f"{model} (n={int(m['n'].max())})",
            )
            ax.fill_between(
                m["axis_value"],
                (m["normalised_mean"] - std).clip(lower=0),
                m["normalised_mean"] + std,
                color=line.get_color(),
                alpha=0.15,
            )
        metric = part["metric"].iloc[0]
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="no memory (baseline)")
        ax.set(
            xscale="log",
            xlabel=f"dependency length {axis}",
            ylabel=f"{metric} / baseline ({direction(metric)})",
            title=f"retention: {group}",
        )
        values = sorted(part["axis_value"].unique())
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        outside_legend(fig, ax)
        fig.tight_layout()
        written += save(fig, directory / ("retention_" + slug(group)))
    return written


def plot_gradient_flow(gf: pd.DataFrame, directory: Path) -> list[Path]:
    written = []
    for group, part in gf.groupby("group", sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for (model, stage), m in sorted(part.groupby(["model", "stage"]), key=lambda kv: (rank(kv[0][0]), kv[0][1])):
            norms = pd.DataFrame(list(m["norms"])).mean(axis=0)  # mean over seeds, by distance
            decay = m["decay_per_step"].mean()
            ax.plot(
                norms.index,
                norms.values,
                color=model_color(model),
                linestyle="--" if stage == "init" else "-",
                label=f"{model} {stage} (×{decay:.2f}/step)",
            )
        ax.set(
            yscale="log",
            xlabel="distance from the step where the loss is read",
            ylabel="‖∂loss/∂x_t‖ (mean over batch)",
            title=f"gradient flow: {group}",
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        written += save(fig, directory / ("gradient_flow_" + slug(group)))
    return written


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")


def save(fig: Any, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(f".{ext}") for ext in ("png", "svg")]
    for path in paths:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=path.suffix[1:], dpi=120, metadata={"Date": None} if path.suffix == ".svg" else None)
        atomic_write(path, buffer.getvalue())
    plt.close(fig)
    return paths


def plot_throughput(df: pd.DataFrame, directory: Path) -> list[Path]:
    """tokens/s against T (at the largest hidden size) and against hidden size (at the largest T)."""
    written = []
    batch = df["batch"].mode().iloc[0]
    df = df[df["batch"] == batch]
    for x, fixed in (("seq_len", "hidden_size"), ("hidden_size", "seq_len")):
        sub = df[df[fixed] == df[fixed].max()]
        if sub[x].nunique() < 2:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, mode, title in zip(axes, ("fwd", "fwdbwd"), ("forward (inference)", "forward + backward")):
            part = sub[sub["mode"] == mode]
            for (model, impl), g in sorted(part.groupby(["model", "impl"]), key=lambda kv: (rank(kv[0][0]), kv[0][1])):
                g = g.sort_values(x)
                ax.plot(
                    g[x],
                    g["tokens_per_s"],
                    marker="o",
                    color=model_color(model),
                    linestyle="--" if impl == "reference" else "-",
                    label=f"{model} ({impl})",
                )
            ax.set(
                xscale="log",
                yscale="log",
                xlabel={"seq_len": "sequence length T", "hidden_size": "hidden size H"}[x],
                title=f"{title}, B={batch}, {fixed.replace('_', ' ')}={sub[fixed].max()}",
            )
            ax.set_xticks(sorted(sub[x].unique()), [str(v) for v in sorted(sub[x].unique())])
            ax.minorticks_off()
        axes[0].set_ylabel("tokens/s (B·T per second)")
        axes[1].legend(fontsize=7, ncol=2)
        fig.suptitle(f"throughput on {sub['device'].iloc[0]}", fontsize=9)
        fig.tight_layout()
        written += save(fig, directory / f"throughput_vs_{x}")
    return written
