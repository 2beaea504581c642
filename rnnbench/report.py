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
            line, = ax.plot(stats.index, stats["mean"], label=f"{model} (n={runs['seed'].nunique()})")
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


def report(results: Path, out: Path | None = None) -> list[Path]:
    """Rebuild every profile's tables and figures from the records under ``results/raw``."""
    out = out or results
    records = read_records(results / "raw") if (results / "raw").exists() else []
    df = train_frame(records)
    written: list[Path] = []
    if df.empty:
        return written
    for profile, pdf in df.groupby("profile", sort=False):
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
    (out / "index.json").write_text(json.dumps(sorted(str(p.relative_to(out)) for p in written), indent=1) + "\n")
    return written
