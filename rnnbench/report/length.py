"""The length-generalisation report section: score tables, accuracy-against-length figures and the
comparison with Delétang et al. (2023) Table 2 and Grazzi et al. (2025) Table 3.

A run's *score* is its mean accuracy over the test lengths, the evaluated lengths above its
training range (Delétang et al.'s score; lengths inside the range are drawn in the figures but not
scored). Tables give, per task and model, the best seed's score (what the papers report: the
maximum over seeds, and for them over learning rates too), the mean over seeds with its 95%
Student-t interval, and how many seeds score at least 90% (Delétang et al.'s "solved").

Built from ``length_eval`` records (rnnbench.evaluate) joined to their training records by run
id; the newest value of each run and length wins. This module is the ``length`` report section
(``rnnbench.sections``); ``rnnbench.report.length_paper`` is the comparison with the papers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.lengths import describe_lengths, parse_lengths
from rnnbench.report.formats import interval_text
from rnnbench.stats import interval

DATA = Path(__file__).resolve().parents[1] / "data" / "length"
SOLVED = 0.9  # Delétang et al.: a task is solved at 90% accuracy over the test lengths
AT_CHANCE = 0.1  # within 10% of the way from chance to perfect counts as "at chance"


def _fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if x is not None and pd.notna(x) else "–"


def run_label(model: dict[str, Any]) -> str:
    return str(model.get("display", model.get("name")))


def _config(r: dict[str, Any]) -> dict[str, Any]:
    """What defines a training run beyond task, model and seed (for labels and de-duplication)."""
    skip = {"seed", "steps_done", "param_groups"}
    return {f"model.{k}": v for k, v in r["model"].get("params", {}).items()} | {
        f"train.{k}": v for k, v in r.get("train", {}).items() if k not in skip
    }


def length_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (training run, evaluated length): the run's identity, the length and its metrics.

    Training runs of the same cell (same profile, task, model, configuration and seed) keep the
    newest only, so a rerun replaces its predecessor rather than counting as another seed."""
    train: dict[str, tuple[int, dict[str, Any]]] = {}
    for order, r in enumerate(records):
        if r.get("kind", "train") == "train" and r.get("status") == "ok" and r.get("run_id"):
            train[r["run_id"]] = (order, r)
    newest: dict[str, tuple[str, int, str]] = {}  # cell identity -> (created_at, order, run id)
    for run_id, (order, r) in train.items():
        ident = json.dumps(
            [
                r.get("profile", "runs"),
                r["task"]["name"],
                r["task"].get("preset"),
                r["task"].get("params"),
                r["model"]["name"],
                r["model"].get("implementation"),
                _config(r),
                r["train"].get("seed"),
            ],
            sort_keys=True,
            default=str,
        )
        stamp = (str(r.get("created_at", "")), order, run_id)
        if ident not in newest or stamp > newest[ident]:
            newest[ident] = stamp
    keep = {run for *_, run in newest.values()}
    values: dict[tuple[str, int], tuple[str, int, dict[str, Any], dict[str, Any]]] = {}
    for order, e in enumerate(records):
        if e.get("kind") != "length_eval" or e.get("of_run") not in keep:
            continue
        for row in e.get("per_length", []):
            key = (e["of_run"], int(row["length"]))
            stamp = (str(e.get("created_at", "")), order)
            if key not in values or stamp > values[key][:2]:
                values[key] = (*stamp, row, e)
    rows = []
    for (run_id, length), (_, _, row, e) in values.items():
        r = train[run_id][1]
        spec = r["train"].get("lengths") or ""
        trained = parse_lengths(spec) if spec else (int(r["task"]["params"].get("length", 0)),)
        metric = r["task"].get("metric", "acc")
        rows.append(
            {
                "profile": r.get("profile", "runs"),
                "run_id": run_id,
                "task_name": r["task"]["name"],
                "preset": r["task"].get("preset"),
                "task": f"{r['task']['name']}/{r['task'].get('preset')}",
                "model": r["model"]["name"],
                "display": run_label(r["model"]),
                "impl": r["model"].get("implementation"),
                "default_impl": r["model"].get("default_implementation", r["model"].get("implementation")),
                "config": _config(r),
                "model_params": r["model"].get("params", {}),
                "seed": r["train"].get("seed"),
                "steps": r["train"].get("steps"),
                "lr": r["train"].get("lr"),
                "n_params": r["model"].get("n_params"),
                "train_lengths": spec or str(trained[0]),
                "train_min": min(trained),
                "train_max": max(trained),
                "length": length,
                "metric": metric,
                "value": row.get(metric),
                "acc": row.get("acc"),
                "ce": row.get("ce"),
                "chance": row.get("chance"),
                "baseline": row.get("baseline"),
                "samples": e.get("eval", {}).get("samples"),
                "test": length > max(trained),
                "env": e.get("env", {}),
                "created_at": e.get("created_at"),
            }
        )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return label_columns(df).sort_values(["profile", "task", "column", "seed", "length"]).reset_index(drop=True)


def label_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A column per model, implementation (when not the default) and the parameters that differ
    between that model's runs of a task (``deltanet [allow_neg_eigval=True]``)."""
    df = df.copy()
    df["column"] = ""
    for _, part in df.groupby(["profile", "task", "model", "impl"], sort=False):
        runs = part.drop_duplicates("run_id")
        keys = sorted({k for c in runs["config"] for k in c})
        varying = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in runs["config"]}) > 1]
        for idx in part.index:
            r = df.loc[idx]
            base = r["display"] if r["impl"] == r["default_impl"] else f"{r['display']} ({r['impl']})"
            extra = ", ".join(f"{k.split('.', 1)[1]}={r['config'].get(k)}" for k in varying)
            df.at[idx, "column"] = f"{base} [{extra}]" if extra else base
    return df


def run_scores(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its score (mean metric over the test lengths) and the mean chance and baseline there."""
    test = df[df["test"]]
    if test.empty:
        return pd.DataFrame()
    agg = test.groupby(["profile", "task", "task_name", "preset", "column", "model", "run_id", "seed"], sort=False).agg(
        score=("value", "mean"),
        chance=("chance", "mean"),
        baseline=("baseline", "mean"),
        n_lengths=("length", "nunique"),
        lengths=("length", lambda s: describe_lengths(list(s))),
        train_lengths=("train_lengths", "first"),
        train_max=("train_max", "first"),
        steps=("steps", "first"),
        n_params=("n_params", "first"),
        metric=("metric", "first"),
    )
    return agg.reset_index()


def length_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per profile, task and model column: the best seed, the mean over seeds with its 95% interval,
    how many seeds solve it, chance and baseline (long form, for the CSV)."""
    runs = run_scores(df)
    rows = []
    for (profile, task, column), g in runs.groupby(["profile", "task", "column"], sort=False) if not runs.empty else []:
        low, high, method = interval(list(g["score"]), (0.0, 1.0))  # accuracies: never outside [0, 1]
        best = g.loc[g["score"].idxmax()]
        rows.append(
            {
                "profile": profile,
                "task": task,
                "task_name": g["task_name"].iloc[0],
                "preset": g["preset"].iloc[0],
                "column": column,
                "model": g["model"].iloc[0],
                "metric": g["metric"].iloc[0],
                "n": len(g),
                "best": best["score"],
                "best_seed": best["seed"],
                "mean": g["score"].mean(),
                "std": g["score"].std(),
                "ci95_low": low,
                "ci95_high": high,
                "interval_method": method,
                "solved": int((g["score"] >= SOLVED).sum()),
                "chance": g["chance"].mean(),
                "baseline": g["baseline"].mean(),
                "train_lengths": g["train_lengths"].iloc[0],
                "test_lengths": g["lengths"].iloc[0],
                "steps": g["steps"].iloc[0],
                "n_params": g["n_params"].iloc[0],
            }
        )
    return pd.DataFrame(rows)


def _rank(label: str) -> tuple[int, str]:
    from rnnbench.models import model_rank

    return model_rank(label.split(" ")[0]), label


def cell_text(s: pd.Series) -> str:
    """``best 1.000 ✓; mean 0.987 [0.960, 1.000] (3/3)``: the best seed with the solved mark, the mean
    with its interval, seeds scoring at least 90% out of the seeds run."""
    mark = " ✓" if s["best"] >= SOLVED else ""
    ci = interval_text(s["ci95_low"], s["ci95_high"], s["interval_method"]) if pd.notna(s["ci95_low"]) else "[n<2]"
    return f"best {_fmt(s['best'])}{mark}; mean {_fmt(s['mean'])} {ci} ({s['solved']}/{s['n']})"


def length_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Task × model: one cell per model column (see :func:`cell_text`), with the lengths, chance and
    baseline; where the models of a task trained for different numbers of steps, each cell says its own."""
    budgets = summary.groupby("task")["steps"].transform("nunique")
    s = summary.assign(
        cell=[cell_text(r) + (f" @{int(r['steps'])} steps" if n > 1 else "") for (_, r), n in zip(summary.iterrows(), budgets)]
    )
    table = s.pivot_table(index="task", columns="column", values="cell", aggfunc="first", sort=False)
    table = table[sorted(table.columns, key=_rank)].fillna("–")
    first = s.groupby("task", sort=False).agg(
        train=("train_lengths", "first"), test=("test_lengths", "first"), chance=("chance", "mean"), baseline=("baseline", "mean")
    )
    table.insert(0, "baseline", first["baseline"].map(_fmt))
    table.insert(0, "chance", first["chance"].map(_fmt))
    table.insert(0, "test lengths", first["test"])
    table.insert(0, "trained on", first["train"])
    table = table.reset_index()
    table.columns.name = None
    return table


def published() -> list[dict[str, Any]]:
    """The published length-generalisation tables shipped as data (rnnbench/data/length/*.json)."""
    return [json.loads(p.read_text()) | {"source_file": p.name} for p in sorted(DATA.glob("*.json"))]


def _param(params: dict[str, Any], key: str, wanted: Any) -> Any:
    """A model parameter for matching a published row; a switch the model lacks counts as off
    (Mamba without ``allow_neg_eigval`` is the paper's Mamba [0, 1])."""
    return params[key] if key in params else (False if isinstance(wanted, bool) else None)


def side(value: float, chance: float) -> str:
    """above / at / below chance: 'at' within 10% of the way from chance to perfect."""
    scaled = (value - chance) / (1 - chance)
    return "above" if scaled > AT_CHANCE else "below" if scaled < -AT_CHANCE else "at"


def paper_comparison(summary: pd.DataFrame, df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Each published number that one of our task × model cells matches (task, preset, model and the
    model parameters the paper names), beside our best and mean, on the paper's scale (accuracy, or
    Grazzi et al.'s scaled accuracy), and whether both fall on the same side of chance."""
    rows, citations = [], []
    runs = run_scores(df)
    for table in published():
        scaled = table.get("metric") == "scaled_acc"
        for entry in table["rows"]:
            mine = runs[(runs["task_name"] == entry["task"]) & (runs["preset"] == entry.get("preset", runs["preset"]))]
            params = entry.get("params", {})
            ok = []
            for _, r in mine.iterrows():
                if r["model"] != entry["model"]:
                    continue
                mp = df.loc[df["run_id"] == r["run_id"], "model_params"].iloc[0]
                if all(_param(mp, k, v) == v for k, v in params.items()):
                    ok.append(r)
            if not ok:
                continue
            runs_here = pd.DataFrame(ok)
            for column, g in runs_here.groupby("column", sort=False):
                chance = g["chance"].mean()
                conv = (lambda v, c=chance: (v - c) / (1 - c)) if scaled else (lambda v: v)
                best, mean = conv(g["score"].max()), conv(g["score"].mean())
                low, high, _ = interval([conv(v) for v in g["score"]], (conv(0.0), 1.0))
                paper = float(entry["value"])
                paper_side = side(paper, 0.0) if scaled else side(paper, chance)
                ours_side = side(best, 0.0) if scaled else side(best, chance)
                rows.append(
                    {
                        "task": f"{entry['task']}/{entry.get('preset', '')}",
                        "model (paper)": entry["label"],
                        "ours": column,
                        "metric": "scaled accuracy" if scaled else "accuracy",
                        "paper": paper,
                        "ours best": best,
                        "ours mean": mean,
                        "ours 95% CI": f"[{_fmt(low)}, {_fmt(high)}]" if pd.notna(low) else "[n<2]",
                        "n seeds": len(g),
                        "chance": 0.0 if scaled else chance,
                        "paper vs chance": paper_side,
                        "ours vs chance": ours_side,
                        "same side": "yes" if paper_side == ours_side else "no",
                        "steps (ours)": int(g["steps"].iloc[0]) if pd.notna(g["steps"].iloc[0]) else None,
                        "confirmed": "yes" if table.get("confirmed") else "no",
                        "source": table["source"],
                    }
                )
            if table["citation"] not in citations:
                citations.append(table["citation"])
    return pd.DataFrame(rows), citations


def plot_lengths(df: pd.DataFrame, directory: Path) -> list[Path]:
    """Accuracy against length per task, one line per model column (mean over seeds, band from the
    lowest to the highest seed), the training lengths shaded, chance dashed."""
    import matplotlib.pyplot as plt

    from rnnbench.figures import model_color, save, slug

    written = []
    for task, part in df.groupby("task", sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        lo, hi = part["train_min"].min(), part["train_max"].max()
        ax.axvspan(lo - 0.5, hi + 0.5, color="0.92", label=f"training lengths {lo}..{hi}")
        for column, g in sorted(part.groupby("column"), key=lambda kv: _rank(kv[0])):
            stats = g.groupby("length")["value"].agg(["mean", "min", "max"])
            (line,) = ax.plot(
                stats.index,
                stats["mean"],
                color=model_color(column),
                linewidth=1.2,
                label=f"{column} (n={g['run_id'].nunique()})",
            )
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15)
        chance = part.groupby("length")["chance"].mean()
        ax.plot(chance.index, chance.values, color="black", linestyle="--", linewidth=1, label="chance")
        base = part.groupby("length")["baseline"].mean()
        if (base > chance + 1e-9).any():
            ax.plot(base.index, base.values, color="black", linestyle=":", linewidth=1, label="input-blind baseline")
        metric = part["metric"].iloc[0]
        ax.set(
            xlabel="input length ℓ",
            ylabel=f"{metric} (higher is better; band: seed range)",
            title=task,
            ylim=(0, 1.02),
            xlim=(0, part["length"].max() + 1),
        )
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        written += save(fig, directory / ("length_" + slug(task)))
    return written


def provenance(df: pd.DataFrame) -> str:
    envs = pd.DataFrame(list(df["env"]))

    def values(col: str) -> str:
        return ", ".join(sorted({str(v) for v in envs[col].dropna()})) if col in envs else "?"

    commits = sorted(
        {f"{str(c)[:10]}{'+dirty' if d else ''}" for c, d in zip(envs.get("git_commit", []), envs.get("git_dirty", []))}
    )
    dates = sorted(df["created_at"].dropna())
    return (
        f"rnnbench {values('rnnbench')} (commit {', '.join(commits) or '?'}), torch {values('torch')}, "
        f"device {values('device_name')}, {values('threads')} threads; evaluated "
        f"{dates[0][:10] if dates else '?'} to {dates[-1][:10] if dates else '?'}"
    )


CAPTION = (
    f"Length generalisation. Score = mean accuracy over the test lengths (the evaluated lengths above "
    f"the training range; Delétang et al.'s score). 'best' is the best seed's score (the papers report the best "
    f"of their seeds and learning rates), ✓ when it is at least {SOLVED:.0%} (Delétang et al.'s 'solved'); "
    f"'mean' is the mean over seeds with the range of 2 seeds, or with 3 or more the "
    f"95% Student-t interval on the arcsine scale, so that it stays within [0, 1] ([n<2] with one seed); "
    f"(k/n) = seeds "
    f"scoring at least {SOLVED:.0%} / seeds run; '@N steps' marks a model trained for its own number of steps "
    f"where the models of a task differ (the CSV has every budget). chance = a uniform guess; baseline = the "
    f"best input-blind predictor (the position-wise majority class) where it beats chance. Each column is one "
    f"model (its default implementation unless marked)."
)


def frame(inputs: Any) -> Any:
    """The section's frame: the evaluations of one profile's runs and their summary."""
    from rnnbench.report.section import Frame

    if inputs.length.empty:
        return None
    summary = length_summary(inputs.length)
    return None if summary.empty else Frame(inputs.length, summary)


def table(f: Any) -> pd.DataFrame:
    return length_table(f.data)


def caption(f: Any) -> str:
    return CAPTION


def figures(f: Any, directory: Path) -> list[Path]:
    return plot_lengths(f.rows, directory)


def score_of(rows: list[dict[str, Any]], metric: str, train_max: int) -> float:
    """Mean ``metric`` over the rows above ``train_max`` (NaN when none): the score of one evaluation."""
    xs = [r[metric] for r in rows if r["length"] > train_max]
    return sum(xs) / len(xs) if xs else math.nan
