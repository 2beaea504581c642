"""The paper comparison: our result beside each published number a record matches, each set
against the memoryless baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.report.formats import ci_text, fmt
from rnnbench.report.labels import directions
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import mean_ci

DATA = Path(__file__).resolve().parent.parent / "data"
BASELINE_BAND = 0.1  # within ±10% of the memoryless baseline counts as "at" it


def frame(inputs: Inputs) -> Frame | None:
    if inputs.train.empty:
        return None
    comparison, citations = paper_comparison(inputs.train)
    if comparison.empty:
        return None
    return Frame(inputs.train, comparison, notes={"citations": citations})


def table(f: Frame) -> pd.DataFrame:
    shown = f.data.copy()
    for col in ("paper", "ours", "ours std", "baseline"):
        shown[col] = shown[col].map(fmt)
    shown["ratio ours/paper"] = shown["ratio ours/paper"].map(lambda v: f"{v:.3g}")
    return shown


def caption(f: Frame) -> str:
    return (f"Published: {' '.join(f.notes['citations'])} Ours: held-out metric, mean over seeds with its 95% "
            f"Student-t interval, after the steps shown "
            f"(see the profile for the budget and the deviations from the paper's). Each is compared with "
            f"the memoryless baseline: 'at' is within ±10% of it; memory was used where a loss is 'below' "
            f"it or an accuracy 'above' it ({directions(f.data['metric'])}).")


def figures(f: Frame, directory: Path) -> list[Path]:
    return []


def published() -> list[dict[str, Any]]:
    """Published tables shipped as data (rnnbench/data/*.json), with their citations."""
    return [json.loads(p.read_text()) | {"source": p.stem} for p in sorted(DATA.glob("*.json"))]


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
