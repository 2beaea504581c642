"""Tables (Markdown, CSV, LaTeX) and figures (PNG, SVG) from run records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.models import MODELS  # noqa: E402
from rnnbench.tasks import TASKS  # noqa: E402
from rnnbench.results import read_records  # noqa: E402

MODEL_ORDER = ["rnn", "lstm", "gru", "birnn", "bilstm", "bigru"]


def _model_rank(model: str) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)


def _model_color(model: str) -> str:
    """One colour per architecture in every figure."""
    return f"C{_model_rank(model) % 10}"


def task_label(task: dict[str, Any]) -> str:
    """``copy/arjovsky2016 (T=10, K=3)``: T and every parameter that differs from the preset's default."""
    try:
        defaults = dataclasses.asdict(TASKS.get(task["name"])().preset_params(task["preset"]))
    except UsageError:
        defaults = {}
    shown = {k: v for k, v in task["params"].items() if k == "T" or defaults.get(k) != v}
    params = ", ".join(f"{k}={v}" for k, v in sorted(shown.items(), key=lambda kv: (kv[0] != "T", kv[0])))
    return f"{task['name']}/{task['preset']} ({params})"


def train_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per training record, the latest record of each cell only."""
    rows = []
    for r in records:
        if r.get("kind", "train") != "train":
            continue
        metric = r["task"].get("metric")
        m = r.get("metrics", {})
        rows.append({
            "profile": r.get("profile", "runs"),
            "section": r.get("section", "accuracy"),
            "cell_key": r.get("cell_key"),
            "created_at": r.get("created_at"),
            "task": task_label(r["task"]),
            "task_name": r["task"]["name"],
            "preset": r["task"]["preset"],
            "T": r["task"]["params"].get("T"),
            "model": r["model"]["name"],
            "impl": r["model"]["implementation"],
            "hidden_size": r["model"]["params"].get("hidden_size"),
            "n_params": r["model"].get("n_params"),
            "seed": r["train"]["seed"],
            "steps": r["train"]["steps"],
            "status": r["status"],
            "metric": metric,
            "value": m.get(metric),
            "baseline": m.get("baseline"),
            "solved": bool(m.get("solved", False)),
            "steps_to_solve": m.get("steps_to_solve"),
            "train_seconds": r.get("timing", {}).get("train_seconds"),
            "history": r.get("history", []),
            "env": r.get("env", {}),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.sort_values("created_at").drop_duplicates(["profile", "section", "cell_key"], keep="last")


def provenance(df: pd.DataFrame) -> str:
    """One line saying where the numbers came from."""
    envs = pd.DataFrame(list(df["env"]))

    def values(col: str) -> str:
        if col not in envs:
            return "?"
        return ", ".join(sorted({str(v) for v in envs[col].dropna()})) or "?"

    commits = sorted({f"{str(c)[:10]}{'+dirty' if d else ''}" for c, d in zip(envs.get("git_commit", []), envs.get("git_dirty", []))})
    dates = sorted(df["created_at"].dropna())
    return (
        f"rnnbench {values('rnnbench')} (commit {', '.join(commits) or '?'}), torch {values('torch')}, "
        f"python {values('python')}, device {values('device_name')}, CPU {values('cpu')}, "
        f"{values('threads')} threads; runs {dates[0][:10] if dates else '?'} to {dates[-1][:10] if dates else '?'}"
    )


def _fmt(x: float) -> str:
    return f"{x:.3g}" if pd.notna(x) else "–"


def accuracy_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, seeds and solved counts per task × model (long form)."""
    ok = df.assign(ok=df["status"] == "ok")
    g = ok.groupby(["task", "metric", "model", "impl"], sort=False)
    out = g.agg(
        mean=("value", "mean"), std=("value", "std"), n_seeds=("seed", "nunique"), n_ok=("ok", "sum"),
        solved=("solved", "sum"), baseline=("baseline", "mean"), n_params=("n_params", "first"),
        steps=("steps", "first"), train_seconds=("train_seconds", "mean"),
    ).reset_index()
    return out


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Task × model pivot of "mean ± std (solved/n)" with the baseline beside it."""
    s = summary.assign(
        cell=[f"{_fmt(m)} ± {_fmt(sd)} ({int(k)}/{int(n)})" for m, sd, k, n in
              zip(summary["mean"], summary["std"].fillna(0), summary["solved"], summary["n_seeds"])],
        column=[m if i == "fused" else f"{m} ({i})" for m, i in zip(summary["model"], summary["impl"])],
    )
    table = s.pivot_table(index=["task", "metric"], columns="column", values="cell", aggfunc="first", sort=False)
    order = [c for m in MODEL_ORDER + sorted(set(MODELS) - set(MODEL_ORDER)) for c in table.columns if c.split(" ")[0] == m]
    table = table[order + [c for c in table.columns if c not in order]]
    base = s.groupby(["task", "metric"], sort=False)["baseline"].first().map(_fmt)
    table.insert(0, "baseline", base)
    table = table.reset_index()
    table.columns.name = None
    return table


def write_table(table: pd.DataFrame, stem: Path, title: str, caption: str, long_form: pd.DataFrame) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    md = stem.with_suffix(".md")
    md.write_text(f"# {title}\n\n{caption}\n\n{table.to_markdown(index=False)}\n")
    csv = stem.with_suffix(".csv")
    long_form.to_csv(csv, index=False)
    tex = stem.with_suffix(".tex")
    tex.write_text(table.to_latex(index=False, caption=f"{title}. {caption}", label=f"tab:{stem.name}",
                                  escape=True))
    return [md, csv, tex]


def plot_curves(df: pd.DataFrame, directory: Path) -> list[Path]:
    """Learning curves (metric on the held-out set against step) per task, mean ± std over seeds."""
    written = []
    for task, group in df[df["status"] == "ok"].groupby("task", sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for model in [m for m in MODEL_ORDER if m in set(group["model"])] + sorted(set(group["model"]) - set(MODEL_ORDER)):
            runs = group[group["model"] == model]
            metric = runs["metric"].iloc[0]
            curves = pd.DataFrame([{"seed": s, "step": h["step"], "value": h[metric]}
                                   for s, hist in zip(runs["seed"], runs["history"]) for h in hist])
            stats = curves.groupby("step")["value"].agg(["mean", "std"]).fillna(0)
            line, = ax.plot(stats.index, stats["mean"], color=_model_color(model), label=f"{model} (n={runs['seed'].nunique()})")
            ax.fill_between(stats.index, (stats["mean"] - stats["std"]).clip(lower=1e-12), stats["mean"] + stats["std"],
                            color=line.get_color(), alpha=0.2)
        ax.axhline(group["baseline"].iloc[0], color="black", linestyle="--", linewidth=1, label="no-memory baseline")
        ax.set(yscale="log", xlabel="training step", ylabel=f"{group['metric'].iloc[0]} (held-out)", title=task)
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = "curves_" + "".join(ch if ch.isalnum() else "_" for ch in task).strip("_")
        for ext in ("png", "svg"):
            path = directory / f"{name}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            written.append(path)
        plt.close(fig)
    return written


def throughput_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (throughput record, mode), the latest record of each cell only."""
    rows = []
    for r in records:
        if r.get("kind") != "throughput" or r.get("status") != "ok":
            continue
        for mode, m in r["results"].items():
            rows.append({
                "profile": r.get("profile", "runs"), "cell_key": r["cell_key"], "created_at": r["created_at"],
                "model": r["model"]["name"], "impl": r["model"]["implementation"], **r["shape"],
                "device": r["env"].get("device_name"), "mode": mode, "median_ms": m["median_s"] * 1e3,
                "iqr_ms": m["iqr_s"] * 1e3, "tokens_per_s": m["tokens_per_s"], "gflop_per_s": m["flop_per_s"] / 1e9,
                "roofline": m["roofline"], "memory_mb": m["memory_bytes"] / 2**20, "memory_method": m["memory_method"],
                "env": r["env"],
            })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.sort_values("created_at").drop_duplicates(["profile", "cell_key", "mode"], keep="last")


def throughput_table(df: pd.DataFrame) -> pd.DataFrame:
    """Model × implementation × shape rows; forward and forward+backward side by side."""
    keys = ["model", "impl", "batch", "seq_len", "input_size", "hidden_size", "num_layers"]
    wide = df.pivot_table(index=keys, columns="mode", values=["tokens_per_s", "gflop_per_s", "roofline", "median_ms",
                                                              "iqr_ms", "memory_mb"], aggfunc="first", sort=False)
    table = pd.DataFrame(index=wide.index)
    for mode, name in (("fwd", "fwd"), ("fwdbwd", "fwd+bwd")):
        table[f"{name} ms (IQR)"] = [f"{m:.2f} ({i:.2f})" for m, i in zip(wide["median_ms"][mode], wide["iqr_ms"][mode])]
        table[f"{name} tokens/s"] = wide["tokens_per_s"][mode].map(lambda v: f"{v:,.0f}")
        table[f"{name} GFLOP/s"] = wide["gflop_per_s"][mode].map(lambda v: f"{v:.1f}")
        table[f"{name} roofline"] = wide["roofline"][mode].map(lambda v: f"{v:.0%}")
    table["fwd+bwd MB"] = wide["memory_mb"]["fwdbwd"].map(lambda v: f"{v:.1f}")
    table = table.reset_index()
    order = {m: i for i, m in enumerate(MODEL_ORDER)}
    return table.sort_values(["model", "impl", "hidden_size", "seq_len", "batch"],
                             key=lambda c: c.map(order) if c.name == "model" else c).reset_index(drop=True)


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
            for (model, impl), g in sorted(part.groupby(["model", "impl"]), key=lambda kv: (_model_rank(kv[0][0]), kv[0][1])):
                g = g.sort_values(x)
                ax.plot(g[x], g["tokens_per_s"], marker="o", color=_model_color(model),
                        linestyle="-" if impl == "fused" else "--", label=f"{model} ({impl})")
            ax.set(xscale="log", yscale="log", xlabel={"seq_len": "sequence length T", "hidden_size": "hidden size H"}[x],
                   title=f"{title}, B={batch}, {fixed.replace('_', ' ')}={sub[fixed].max()}")
            ax.set_xticks(sorted(sub[x].unique()), [str(v) for v in sorted(sub[x].unique())])
            ax.minorticks_off()
        axes[0].set_ylabel("tokens/s (B·T per second)")
        axes[1].legend(fontsize=7, ncol=2)
        fig.suptitle(f"throughput on {sub['device'].iloc[0]}", fontsize=9)
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = directory / f"throughput_vs_{x}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            written.append(path)
        plt.close(fig)
    return written


def report(results: Path, out: Path | None = None) -> list[Path]:
    """Rebuild every profile's tables and figures from the records under ``results/raw``."""
    out = out or results
    records = read_records(results / "raw") if (results / "raw").exists() else []
    df = train_frame(records)
    written: list[Path] = []
    for profile, pdf in (df.groupby("profile", sort=False) if not df.empty else []):
        directory = out / str(profile)
        acc = pdf[pdf["section"] == "accuracy"]
        if not acc.empty:
            summary = accuracy_summary(acc)
            caption = (f"Held-out metric, mean ± std over seeds (seeds solved / seeds), fused unless marked; "
                       f"lower is better; baseline = memoryless predictor. Source: {provenance(acc)}.")
            long_form = summary.assign(provenance=provenance(acc))
            written += write_table(accuracy_table(summary), directory / "accuracy", f"rnnbench {profile}: accuracy",
                                   caption, long_form)
            written += plot_curves(acc, directory / "figures")
    tp = throughput_frame(records)
    for profile, pdf in (tp.groupby("profile", sort=False) if not tp.empty else []):
        directory = out / str(profile)
        caption = (f"Median of timed runs (IQR) with torch.utils.benchmark; tokens/s = B·T/median; roofline = achieved "
                   f"FLOP/s over a (B·T, I+H)@(I+H, G·H) matmul on the same device in the same run; memory: "
                   f"{pdf['memory_method'].iloc[-1]}. Source: {provenance(pdf)}.")
        written += write_table(throughput_table(pdf), directory / "throughput", f"rnnbench {profile}: throughput",
                               caption, pdf.drop(columns=["env"]).assign(provenance=provenance(pdf)))
        written += plot_throughput(pdf, directory / "figures")
    if not written:
        return written
    (out / "index.json").write_text(json.dumps(sorted(str(p.relative_to(out)) for p in written), indent=1) + "\n")
    return written
