"""Grouping and labels: one row per record, the cells a table groups by, the labels of its rows
and columns, and the provenance line every table carries."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd

from rnnbench.errors import UsageError
from rnnbench.models import model_rank
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import direction


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
    return json.dumps(
        [
            r.get("profile", "runs"),
            r.get("section", "accuracy"),
            t["name"],
            t.get("version"),
            t["preset"],
            t["params"],
            m["name"],
            m["implementation"],
            config,
            r.get("train", {}).get("seed"),
            sorted(r.get("probes", {})),
        ],
        sort_keys=True,
        default=str,
    )


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
                + [f"{k.split('.', 1)[1]}={c[k]}" for k in task_keys if json.dumps(c[k], default=str) != usual[k]]
            )
            df.at[i, "col_variant"] = ", ".join(
                f"{k.split('.', 1)[1]}={c[k]}" for k in col_keys if k in c and json.dumps(c[k], default=str) != usual[k]
            )
    df["row"] = [t if not v else f"{t} [{v}]" for t, v in zip(df["task"], df["row_variant"])]
    df["row_group"] = [g if not v else f"{g} [{v}]" for g, v in zip(df["group"], df["row_variant"])]
    df["column"] = [
        (m if i == d else f"{m} ({i})") + (f" [{v}]" if v else "")
        for m, i, d, v in zip(df["model"], df["impl"], df["default_impl"], df["col_variant"])
    ]
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
        rows.append(
            {
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
            }
        )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    latest = df.sort_values(["created_at", "order"]).drop_duplicates("identity", keep="last")
    return variants(latest.sort_values("order")).reset_index(drop=True)


def throughput_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (throughput record, mode), the latest record of each cell only."""
    rows = []
    for r in records:
        if r.get("kind") != "throughput" or r.get("status") != "ok":
            continue
        for mode, m in r["results"].items():
            rows.append(
                {
                    "profile": r.get("profile", "runs"),
                    "cell_key": r["cell_key"],
                    "created_at": r["created_at"],
                    "model": r["model"].get("display", r["model"]["name"]),
                    "impl": r["model"]["implementation"],
                    "params": {k: v for k, v in r["model"].get("params", {}).items() if k not in ("hidden_size", "num_layers")},
                    "threads": r["env"].get("threads"),
                    "noisy": bool(m.get("noisy", False)),
                    "busy": bool((r.get("load") or {}).get("busy", False)),
                    **r["shape"],
                    "device": r["env"].get("device_name"),
                    "mode": mode,
                    "median_ms": m["median_s"] * 1e3,
                    "iqr_ms": m["iqr_s"] * 1e3,
                    "tokens_per_s": m["tokens_per_s"],
                    "gflop_per_s": None if m["flop_per_s"] is None else m["flop_per_s"] / 1e9,
                    "roofline": m["roofline"],
                    "memory_mb": m["memory_bytes"] / 2**20,
                    "memory_method": m["memory_method"],
                    "env": r["env"],
                }
            )
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


def provenance(df: pd.DataFrame) -> str:
    """One line saying where the numbers came from."""
    envs = pd.DataFrame(list(df["env"]))

    def values(col: str) -> str:
        if col not in envs:
            return "?"
        return ", ".join(sorted({str(v) for v in envs[col].dropna()})) or "?"

    commits = sorted({commit_text(env) for env in df["env"]})
    dates = sorted(df["created_at"].dropna())
    return (
        f"rnnbench {values('rnnbench')} (commit {', '.join(commits) or '?'}), torch {values('torch')}, "
        f"python {values('python')}, device {values('device_name')}, CPU {values('cpu')}, "
        f"{values('threads')} threads; runs {dates[0][:10] if dates else '?'} to {dates[-1][:10] if dates else '?'}"
    )


def commit_text(env: dict[str, Any]) -> str:
    """``a902c79f13``, ``a902c79f13+dirty``, or for a copied working tree whose commit was stated
    (RNNBENCH_SOURCE_COMMIT) ``a902c79f13 as stated, package tree 76c4ec4938``."""
    commit = f"{str(env.get('git_commit'))[:10]}{'+dirty' if env.get('git_dirty') else ''}"
    if env.get("commit_stated"):
        return f"{commit} as stated, package tree {str(env.get('source_tree'))[:10]}"
    return commit


def column_rank(label: str) -> tuple[int, str]:
    """A column label (``lstm (reference) [hidden_size=8]``) in the registry's model order."""
    return model_rank(label.split(" ")[0]), label


def directions(metrics: Any) -> str:
    """Which way each metric goes, for captions: "ce: lower is better; acc: higher is better"."""
    return "; ".join(f"{m}: {direction(m)}" for m in dict.fromkeys(metrics))
