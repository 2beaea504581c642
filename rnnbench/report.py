"""Tables (Markdown, CSV, LaTeX) from run records, with their figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.errors import UsageError
from rnnbench.figures import plot_curves, plot_gradient_flow, plot_retention, plot_throughput
from rnnbench.models import model_rank
from rnnbench.results import atomic_write, read_records
from rnnbench.site import Table, write_site
from rnnbench.stats import mean_ci
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import direction, higher_is_better


DATA = Path(__file__).parent / "data"


def task_label(task: dict[str, Any], drop: str | None = None) -> str:
    """``copy/arjovsky2016 (T=10, K=3)``: T and every parameter that differs from the preset's
    default, less ``drop`` (a retention sweep's axis)."""
    try:
        defaults = dataclasses.asdict(TASKS.get(task["name"])().preset_params(task["preset"]))
    except UsageError:
        defaults = {}
    shown = {k: v for k, v in task["params"].items() if (k == "T" or defaults.get(k) != v) and k != drop}
    params = ", ".join(f"{k}={v}" for k, v in sorted(shown.items(), key=lambda kv: (kv[0] != "T", kv[0])))
    return f"{task['name']}/{task['preset']}" + (f" ({params})" if params else "")


DERIVED_TRAIN = ("seed", "steps_done", "param_groups")  # not configuration: the seed, and what a run reports


def configuration(r: dict[str, Any]) -> dict[str, Any]:
    """The model and training parameters of a record that are configuration (not the seed)."""
    config = {f"model.{k}": v for k, v in r["model"].get("params", {}).items()}
    config |= {f"train.{k}": v for k, v in r.get("train", {}).items() if k not in DERIVED_TRAIN}
    return config


def identity(r: dict[str, Any], config: dict[str, Any]) -> str:
    """What makes two training records the same cell in a table, read from their contents, so that
    cells keyed differently by older schemas still fall together and the newest record wins (a
    user's edited model, whose source hash differs, replaces its older records in the tables)."""
    t, m = r["task"], r["model"]
    return json.dumps([r.get("profile", "runs"), r.get("section", "accuracy"), t["name"], t.get("version"),
                       t["preset"], t["params"], m["name"], m["implementation"], config,
                       r.get("train", {}).get("seed"), sorted(r.get("probes", {}))], sort_keys=True, default=str)


def variants(df: pd.DataFrame) -> pd.DataFrame:
    """Label what differs between records of one profile section beyond task, model and seed,
    so that tables group by it and never average different configurations together:

    - a parameter swept within a model (two values for the same model and implementation)
      labels the row, ``row_variant`` (hidden_size, lr, ...), or the column when only some
      models have it (a ``[model.NAME]`` sweep);
    - a parameter constant within each task row but different between rows (a task's own
      budget, say ``steps``) labels the rows where it is not the usual value;
    - a parameter constant within each model but different between models labels the column,
      ``col_variant`` (a model's own setting, such as its state size).
    """
    df = df.copy()
    df["row_variant"], df["col_variant"] = "", ""
    for _, part in df.groupby(["profile", "section"], sort=False):
        configs = list(zip(part.index, zip(part["group"], part["model"], part["impl"]), part["config"]))
        keys = sorted({k for *_, c in configs for k in c})
        row_keys, task_keys, col_keys, usual = [], [], [], {}
        for k in keys:
            having = [(cell, json.dumps(c[k], default=str)) for _, cell, c in configs if k in c]
            values = [v for _, v in having]
            if len(set(values)) < 2:
                continue
            common = max(set(values), key=values.count)
            usual[k] = common if values.count(common) > len(values) / 2 else None
            swept = any(len({v for c2, v in having if c2 == cell}) > 1 for cell, _ in having)
            per_task = all(len({v for c2, v in having if c2[0] == cell[0]}) == 1 for cell, _ in having)
            if swept and len(having) == len(configs):
                row_keys.append(k)
            elif per_task and len(having) == len(configs):  # a task's own setting: on its rows, where unusual
                task_keys.append(k)
            else:  # a model's own setting: shown on the columns where it is not the usual value
                col_keys.append(k)
        for i, _, c in configs:
            df.at[i, "row_variant"] = ", ".join(
                [f"{k.split('.', 1)[1]}={c[k]}" for k in row_keys]
                + [f"{k.split('.', 1)[1]}={c[k]}" for k in task_keys if json.dumps(c[k], default=str) != usual[k]])
            df.at[i, "col_variant"] = ", ".join(f"{k.split('.', 1)[1]}={c[k]}" for k in col_keys
                                                if k in c and json.dumps(c[k], default=str) != usual[k])
    df["row"] = [t if not v else f"{t} [{v}]" for t, v in zip(df["task"], df["row_variant"])]
    df["row_group"] = [g if not v else f"{g} [{v}]" for g, v in zip(df["group"], df["row_variant"])]
    df["column"] = [(m if i == d else f"{m} ({i})") + (f" [{v}]" if v else "")
                    for m, i, d, v in zip(df["model"], df["impl"], df["default_impl"], df["col_variant"])]
    return df


def train_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per training record, the latest record of each cell only (file order breaks
    ties between records created in the same second)."""
    rows = []
    for order, r in enumerate(records):
        if r.get("kind", "train") != "train":
            continue
        metric = r["task"].get("metric")
        m = r.get("metrics", {})
        config = configuration(r)
        rows.append({
            "profile": r.get("profile", "runs"),
            "section": r.get("section", "accuracy"),
            "identity": identity(r, config),
            "order": order,
            "config": config,
            "created_at": r.get("created_at"),
            "task": task_label(r["task"]),
            "task_name": r["task"]["name"],
            "preset": r["task"]["preset"],
            "T": r["task"]["params"].get("T"),
            "model": r["model"].get("display", r["model"]["name"]),
            "impl": r["model"]["implementation"],
            "default_impl": r["model"].get("default_implementation", r["model"]["implementation"]),
            "hidden_size": r["model"]["params"].get("hidden_size"),
            "n_params": r["model"].get("n_params"),
            "seed": r["train"]["seed"],
            "steps": r["train"]["steps"],
            "batch_size": r["train"]["batch_size"],
            "axis": r.get("axis"),
            "axis_value": r["task"]["params"].get(r.get("axis")) if r.get("axis") else None,
            "group": task_label(r["task"], drop=r.get("axis")),
            "probes": r.get("probes", {}),
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
    latest = df.sort_values(["created_at", "order"]).drop_duplicates("identity", keep="last")
    return variants(latest.sort_values("order")).reset_index(drop=True)


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


def column_rank(label: str) -> tuple[int, str]:
    """A column label (``lstm (reference) [hidden_size=8]``) in the registry's model order."""
    return model_rank(label.split(" ")[0]), label


def ci_text(low: float, high: float) -> str:
    return f"[{_fmt(low)}, {_fmt(high)}]" if pd.notna(low) else "[n<2]"


def accuracy_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per task (and row variant) × model column: n runs, how many ok, mean, std and the 95%
    Student-t interval of the metric over the ok runs, seeds solved (long form)."""
    rows = []
    for (row, metric, column), g in df.groupby(["row", "metric", "column"], sort=False):
        ok = g[g["status"] == "ok"]
        low, high = mean_ci(list(ok["value"]))
        rows.append({
            "task": row, "metric": metric, "column": column, "model": g["model"].iloc[0], "impl": g["impl"].iloc[0],
            "variant": ", ".join(v for v in (g["row_variant"].iloc[0], g["col_variant"].iloc[0]) if v),
            "n": len(g), "n_ok": len(ok), "mean": ok["value"].mean(), "std": ok["value"].std(),
            "ci95_low": low, "ci95_high": high, "solved": int(ok["solved"].sum()),
            "baseline": g["baseline"].dropna().mean(), "n_params": g["n_params"].iloc[0], "steps": g["steps"].iloc[0],
            "train_seconds": g["train_seconds"].mean(),
        })
    return pd.DataFrame(rows)


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Task × model pivot of "mean ± std [95% CI] (solved/n)" with the baseline beside it."""
    s = summary.assign(
        cell=[f"{_fmt(m)} ± {_fmt(sd if pd.notna(sd) else 0)} {ci_text(lo, hi)} ({k}/{n}"
              f"{'' if ok == n else f', {n - ok} not ok'})"
              for m, sd, lo, hi, k, n, ok in zip(summary["mean"], summary["std"], summary["ci95_low"],
                                                 summary["ci95_high"], summary["solved"], summary["n"],
                                                 summary["n_ok"])],
    )
    table = s.pivot_table(index=["task", "metric"], columns="column", values="cell", aggfunc="first", sort=False)
    table = table[sorted(table.columns, key=column_rank)].fillna("–")  # – : that column did not run this row
    base = s.groupby(["task", "metric"], sort=False)["baseline"].first().map(_fmt)
    table.insert(0, "baseline", base)
    table = table.reset_index()
    table.columns.name = None
    return table


def write_table(table: pd.DataFrame, stem: Path, title: str, caption: str, long_form: pd.DataFrame) -> list[Path]:
    md, csv, tex = (stem.with_suffix(ext) for ext in (".md", ".csv", ".tex"))
    atomic_write(md, f"# {title}\n\n{caption}\n\n{table.to_markdown(index=False)}\n")
    atomic_write(csv, long_form.to_csv(index=False))
    atomic_write(tex, table.to_latex(index=False, caption=f"{title}. {caption}", label=f"tab:{stem.name}", escape=True))
    return [md, csv, tex]


def retention_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per task group (and row variant) × model column × swept value: metric / baseline
    (mean ± std, 95% Student-t interval), runs and seeds solved."""
    d = df.assign(normalised=df["value"] / df["baseline"])
    rows = []
    for (group, axis, model, value), g in d.groupby(["row_group", "axis", "column", "axis_value"], sort=False):
        low, high = mean_ci(list(g["normalised"].dropna()))
        rows.append({"group": group, "axis": axis, "model": model, "axis_value": value,
                     "normalised_mean": g["normalised"].mean(), "normalised_std": g["normalised"].std(),
                     "ci95_low": low, "ci95_high": high, "n": len(g), "solved": int(g["solved"].sum()),
                     "steps_to_solve": g["steps_to_solve"].median(), "steps": g["steps"].iloc[0],
                     "batch_size": g["batch_size"].iloc[0], "hidden_size": g["hidden_size"].iloc[0],
                     "metric": g["metric"].iloc[0], "higher_is_better": higher_is_better(g["metric"].iloc[0])})
    out = pd.DataFrame(rows)
    return out.sort_values(["group", "model", "axis_value"], key=lambda c: c.map(column_rank) if c.name == "model" else c)


def retention_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Largest swept value solved by a strict majority of seeds, per task group × model."""
    rows = []
    for (group, axis), part in summary.groupby(["group", "axis"], sort=False):
        row: dict[str, Any] = {"task": group, "axis": axis,
                               "swept": ", ".join(f"{v:g}" for v in sorted(part["axis_value"].unique())),
                               "budget": f"{part['steps'].iloc[0]} steps × batch {part['batch_size'].iloc[0]}, "
                                         f"hidden {part['hidden_size'].iloc[0]}"}
        for model, m in sorted(part.groupby("model"), key=lambda kv: column_rank(kv[0])):
            majority = m[m["solved"] > m["n"] / 2]
            if majority.empty:
                row[model] = "none"
            else:
                best = majority.loc[majority["axis_value"].idxmax()]
                row[model] = f"{best['axis_value']:g} (step {best['steps_to_solve']:g})"
        rows.append(row)
    return pd.DataFrame(rows)


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


def published() -> list[dict[str, Any]]:
    """Published tables shipped as data (rnnbench/data/*.json), with their citations."""
    return [json.loads(p.read_text()) | {"source": p.stem} for p in sorted(DATA.glob("*.json"))]


CI_NOTE = "the interval is the 95% Student-t interval of the mean over seeds ([n<2] with one run); "
BASELINE_BAND = 0.1  # within ±10% of the memoryless baseline counts as "at" it


def directions(metrics: Any) -> str:
    """Which way each metric goes, for captions: "ce: lower is better; acc: higher is better"."""
    return "; ".join(f"{m}: {direction(m)}" for m in dict.fromkeys(metrics))


def side(value: float, baseline: float) -> str:
    """below / at / above the baseline, with a ±10% band so that sampling noise on the
    held-out set does not put a memoryless result past it."""
    if value < (1 - BASELINE_BAND) * baseline:
        return "below"
    return "above" if value > (1 + BASELINE_BAND) * baseline else "at"


def paper_comparison(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Our result beside each published number that a record matches (task, preset, T, model)."""
    rows, citations = [], []
    ok = df[df["status"] == "ok"]
    for table in published():
        for row in table["rows"]:
            for model in (k for k in row if k not in ("task", "preset", "T", "metric", "size")):
                matched = ok[(ok["task_name"] == row["task"]) & (ok["preset"] == row["preset"])
                             & (ok["T"] == row["T"]) & (ok["model"] == model)]
                for (variant, column), ours in matched.groupby(["row_variant", "column"], sort=False):
                    mean, baseline, paper = ours["value"].mean(), ours["baseline"].iloc[0], row[model]
                    low, high = mean_ci(list(ours["value"]))
                    rows.append({
                        "task": f"{row['task']}/{row['preset']} (T={row['T']})" + (f" [{variant}]" if variant else ""),
                        "metric": row["metric"], "model": column,
                        "size (paper)": row["size"], "n_params (ours)": int(ours["n_params"].iloc[0]),
                        "steps (ours)": int(ours["steps"].iloc[0]), "paper": paper, "ours": mean,
                        "ours std": ours["value"].std(), "ours 95% CI": ci_text(low, high), "n seeds": len(ours),
                        "ratio ours/paper": mean / paper, "baseline": baseline,
                        "paper vs baseline": side(paper, baseline), "ours vs baseline": side(mean, baseline),
                        "same side": "yes" if side(paper, baseline) == side(mean, baseline) else "no",
                    })
                if table["citation"] not in citations:
                    citations.append(table["citation"])
    return pd.DataFrame(rows), citations


def throughput_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (throughput record, mode), the latest record of each cell only."""
    rows = []
    for r in records:
        if r.get("kind") != "throughput" or r.get("status") != "ok":
            continue
        for mode, m in r["results"].items():
            rows.append({
                "profile": r.get("profile", "runs"), "cell_key": r["cell_key"], "created_at": r["created_at"],
                "model": r["model"].get("display", r["model"]["name"]), "impl": r["model"]["implementation"],
                "params": {k: v for k, v in r["model"].get("params", {}).items() if k not in ("hidden_size", "num_layers")},
                "threads": r["env"].get("threads"), "noisy": bool(m.get("noisy", False)),
                "busy": bool((r.get("load") or {}).get("busy", False)), **r["shape"],
                "device": r["env"].get("device_name"), "mode": mode, "median_ms": m["median_s"] * 1e3,
                "iqr_ms": m["iqr_s"] * 1e3, "tokens_per_s": m["tokens_per_s"],
                "gflop_per_s": None if m["flop_per_s"] is None else m["flop_per_s"] / 1e9,
                "roofline": m["roofline"], "memory_mb": m["memory_bytes"] / 2**20, "memory_method": m["memory_method"],
                "env": r["env"],
            })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values("created_at", kind="stable").drop_duplicates(["profile", "cell_key", "mode"], keep="last")
    # the model parameters that differ between a model's rows (besides hidden size and layers)
    df["variant"] = ""
    for _, part in df.groupby(["profile", "model"], sort=False):
        keys = sorted({k for p in part["params"] for k in p})
        varying = [k for k in keys if len({json.dumps(p.get(k), default=str) for p in part["params"]}) > 1]
        df.loc[part.index, "variant"] = [", ".join(f"{k}={p.get(k)}" for k in varying) for p in part["params"]]
    return df.drop(columns="params")


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


def report(results: Path, out: Path | None = None) -> list[Path]:
    """Rebuild every profile's tables and figures from the records under ``results/raw``."""
    out = out or results
    records = read_records(results / "raw") if (results / "raw").exists() else []
    df = train_frame(records)
    written: list[Path] = []
    page: list[Table] = []

    def publish(profile: str, table: pd.DataFrame, stem: Path, title: str, caption: str, long_form: pd.DataFrame,
                figures: list[Path]) -> list[Path]:
        files = write_table(table, stem, title, caption, long_form)
        page.append(Table(str(profile), title, caption, table, files, figures))
        return files + figures

    for profile, pdf in (df.groupby("profile", sort=False) if not df.empty else []):
        directory = out / str(profile)
        acc = pdf[pdf["section"] == "accuracy"]
        if not acc.empty:
            summary = accuracy_summary(acc)
            caption = (f"Held-out metric after the full budget: mean ± std [95% CI] (seeds solved / runs); {CI_NOTE}"
                       f"runs that diverged or failed are counted as not ok and left out of the mean; columns are "
                       f"each model's default implementation unless marked; [name=value] marks parameters that differ "
                       f"between rows or columns, never averaged together; {directions(acc['metric'])}; "
                       f"baseline = memoryless predictor (chance or the majority class for accuracies). "
                       f"Source: {provenance(acc)}.")
            long_form = summary.assign(provenance=provenance(acc))
            written += publish(profile, accuracy_table(summary), directory / "accuracy",
                               f"rnnbench {profile}: accuracy", caption, long_form,
                               plot_curves(acc, directory / "figures"))
        ret = pdf[(pdf["section"] == "retention") & (pdf["status"] != "failed") & (pdf["status"] != "timeout")]
        if not ret.empty:
            summary = retention_summary(ret)
            caption = (f"Largest swept value at which a strict majority of seeds meet the task's solved rule (first "
                       f"solving evaluation step), same model size and budget at every value; none = solved at no "
                       f"value; the CSV has metric/baseline per value as mean, std and 95% Student-t interval over "
                       f"seeds (1 = the memoryless predictor; {directions(ret['metric'])}). Source: {provenance(ret)}.")
            written += publish(profile, retention_table(summary), directory / "retention",
                               f"rnnbench {profile}: retention", caption, summary.assign(provenance=provenance(ret)),
                               plot_retention(summary, directory / "figures"))
        gf = gradient_flow_frame(pdf[pdf["section"] == "gradient_flow"])
        if not gf.empty:
            src = pdf[pdf["section"] == "gradient_flow"]
            caption = (f"Per-step decay of the input-gradient norm, 10^slope of log10 ‖∂loss/∂x_t‖ against distance "
                       f"from the last step (1 = no decay), mean ± std [95% CI] (n seeds); {CI_NOTE}"
                       f"Source: {provenance(src)}.")
            written += publish(profile, gradient_flow_table(gf), directory / "gradient_flow",
                               f"rnnbench {profile}: gradient flow", caption,
                               gf.drop(columns=["norms"]).assign(provenance=provenance(src)),
                               plot_gradient_flow(gf, directory / "figures"))
        comparison, citations = paper_comparison(pdf)
        if not comparison.empty:
            shown = comparison.copy()
            for col in ("paper", "ours", "ours std", "baseline"):
                shown[col] = shown[col].map(_fmt)
            shown["ratio ours/paper"] = shown["ratio ours/paper"].map(lambda v: f"{v:.3g}")
            caption = (f"Published: {' '.join(citations)} Ours: held-out metric, mean over seeds with its 95% "
                       f"Student-t interval, after the steps shown "
                       f"(see the profile for the budget and the deviations from the paper's). Each is compared with "
                       f"the memoryless baseline: 'at' is within ±10% of it; memory was used where a loss is 'below' "
                       f"it or an accuracy 'above' it ({directions(comparison['metric'])}). "
                       f"Source: {provenance(pdf)}.")
            written += publish(profile, shown, directory / "paper_comparison", f"rnnbench {profile}: published vs ours",
                               caption, comparison.assign(provenance=provenance(pdf)), [])
    from rnnbench.report_length import length_sections  # length generalisation (docs/formal.md)

    for section in length_sections(records, out):
        written += publish(*section)
    tp = throughput_frame(records)
    for profile, pdf in (tp.groupby("profile", sort=False) if not tp.empty else []):
        directory = out / str(profile)
        caption = (f"Median of timed runs (IQR) with torch.utils.benchmark on the stated threads; tokens/s = "
                   f"B·T/median; GFLOP/s from each architecture's own FLOP count; roofline = achieved FLOP/s over "
                   f"the architecture's reference matmul (classic: (B·T, I+H)@(I+H, G·H)) on the same device in "
                   f"the same run; 'noisy': IQR above 20% of the median; 'busy': other processes used more than "
                   f"25% of the machine's CPU time during the measurement; memory: "
                   f"{pdf['memory_method'].iloc[-1]}. Source: {provenance(pdf)}.")
        written += publish(profile, throughput_table(pdf), directory / "throughput", f"rnnbench {profile}: throughput",
                           caption, pdf.drop(columns=["env"]).assign(provenance=provenance(pdf)),
                           plot_throughput(pdf, directory / "figures"))
        ratios = speedup_table(pdf)
        if not ratios.empty:
            caption = (f"Time of the step-by-step reference ÷ time of each other implementation of the same model at "
                       f"the same shape, measured in the same run (> 1: faster than the reference). "
                       f"Source: {provenance(pdf)}.")
            written += publish(profile, ratios, directory / "speedup", f"rnnbench {profile}: speed against the reference",
                               caption, ratios.assign(provenance=provenance(pdf)), [])
    if not written:
        return written
    descriptions = {name: profile_description(name) for name in dict.fromkeys(t.profile for t in page)}
    written.append(write_site(out, page, descriptions))
    atomic_write(out / "index.json", json.dumps(sorted(str(p.relative_to(out)) for p in written), indent=1) + "\n")
    return written


def profile_description(name: str) -> str:
    """A built-in profile's description ("" for others: their TOML may be anywhere)."""
    from rnnbench.profiles import builtin_profiles, load_profile

    try:
        return load_profile(name).description if name in builtin_profiles() else ""
    except UsageError:  # mnist without its files, say: its TOML still says what it is
        import tomllib

        return str(tomllib.loads(builtin_profiles()[name].read_text()).get("description", ""))
