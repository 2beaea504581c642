"""The paper comparison: our result beside each published number a record matches, each set
against the memoryless baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.report import latex
from rnnbench.report.formats import fmt, interval_text
from rnnbench.report.labels import directions
from rnnbench.report.section import Frame, Inputs
from rnnbench.stats import methods_text, summarise
from rnnbench.tasks.base import direction, metric_bounds

RAW = ["ours ci95_low", "ours ci95_high", "ours interval_low", "ours interval_high", "ours interval_method"]  # CSV only

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
    shown = f.data.drop(columns=RAW)
    for col in ("paper", "ours", "ours std", "baseline"):
        shown[col] = shown[col].map(fmt)
    shown["ratio ours/paper"] = shown["ratio ours/paper"].map(lambda v: f"{v:.3g}")
    return shown


def caption(f: Frame) -> str:
    methods = set(f.data["ours interval_method"]) - {"single", "none"}
    spread = f"with its interval ({methods_text(sorted(methods))})" if methods else "(one run each, so no interval)"
    return (
        f"Published: {' '.join(f.notes['citations'])} Ours: held-out metric, mean over seeds {spread}, "
        f"after the steps shown (see the profile for the budget and the deviations from the paper's). Each is "
        f"compared with the memoryless baseline: 'at' is within ±10% of it; memory was used where a loss is 'below' "
        f"it or an accuracy 'above' it ({directions(f.data['metric'])})."
    )


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
                matched = ok[
                    (ok["task_name"] == row["task"])
                    & (ok["preset"] == row["preset"])
                    & (ok["T"] == row["T"])
                    & (ok["model"] == model)
                ]
                for (variant, column), ours in matched.groupby(["row_variant", "column"], sort=False):
                    mean, baseline, paper = ours["value"].mean(), ours["baseline"].iloc[0], row[model]
                    st = summarise(list(ours["value"]), metric_bounds(str(row["metric"])))
                    rows.append(
                        {
                            "task": f"{row['task']}/{row['preset']} (T={row['T']})" + (f" [{variant}]" if variant else ""),
                            "metric": row["metric"],
                            "model": column,
                            "size (paper)": row["size"],
                            "n_params (ours)": int(ours["n_params"].iloc[0]),
                            "steps (ours)": int(ours["steps"].iloc[0]),
                            "paper": paper,
                            "ours": mean,
                            "ours std": ours["value"].std(),
                            "ours interval": interval_text(st.low, st.high, st.method) or "–",
                            "n seeds": len(ours),
                            "ratio ours/paper": mean / paper,
                            "baseline": baseline,
                            "paper vs baseline": side(paper, baseline),
                            "ours vs baseline": side(mean, baseline),
                            "same side": "yes" if side(paper, baseline) == side(mean, baseline) else "no",
                            "ours ci95_low": st.t_low,
                            "ours ci95_high": st.t_high,
                            "ours interval_low": st.low,
                            "ours interval_high": st.high,
                            "ours interval_method": st.method,
                        }
                    )
                if table["citation"] not in citations:
                    citations.append(table["citation"])
    return pd.DataFrame(rows), citations


def paper(f: Frame) -> latex.Paper:
    """Task (by letter), model, the published number, ours, our seeds, and whether both are on the
    same side of the memoryless baseline; the citations and the tasks in full in the notes."""
    d = f.data
    tasks = list(dict.fromkeys(d["task"]))
    letter = {t: chr(ord("a") + i) for i, t in enumerate(tasks)}
    pub, ours = latex.numbers(list(d["paper"])), latex.numbers(list(d["ours"]))
    spec = ["l", "l", pub.spec(marked=False), ours.spec(marked=False), "c", "c"]
    header = ["task", "model", latex.header("published"), latex.header("ours"), "seeds", "same side"]
    rows = [
        [
            rf"{latex.tex(r['task'].split('/')[0])}\textsuperscript{{{letter[r['task']]}}}",
            latex.tex(r["model"]),
            pub.fmt(r["paper"]),
            ours.fmt(r["ours"]),
            str(r["n seeds"]),
            latex.tex(r["same side"]),
        ]
        for _, r in d.iterrows()
    ]
    caption = (
        "Published results beside ours for the same task, metric and model size, our number being the "
        "mean over seeds after the training steps in the notes. Each is set against the memoryless "
        "baseline (at: within 10\\%), and `same side' says whether both used memory or both did not."
    )
    notes = [
        "; ".join(
            rf"\textsuperscript{{{letter[t]}}}{latex.tex(t)}, {latex.tex(m)} "
            rf"({latex.tex(direction(m))}), baseline {latex.num(b)}, {s} steps"
            for t, m, b, s in d.groupby("task", sort=False)[["metric", "baseline", "steps (ours)"]].first().itertuples()
        )
        + "."
    ]
    notes += [latex.tex("Published: " + c) for c in f.notes["citations"]]
    notes.append(latex.tex("Intervals (in the CSV): " + methods_text(d["ours interval_method"]) + "."))
    return latex.Paper(spec, header, rows, caption, notes)
