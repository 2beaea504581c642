"""The length-generalisation results beside Delétang et al. (2023) Table 2 and Grazzi et al. (2025)
Table 3 (the ``length_paper_comparison`` report section; the numbers are rnnbench/data/length/*.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.report.length import AT_CHANCE, _fmt, length_summary, paper_comparison
from rnnbench.report.section import Frame, Inputs


def frame(inputs: Inputs) -> Frame | None:
    if inputs.length.empty:
        return None
    comparison, citations = paper_comparison(length_summary(inputs.length), inputs.length)
    if comparison.empty:
        return None
    return Frame(
        inputs.length, comparison, notes={"citations": citations, "unconfirmed": bool((comparison["confirmed"] == "no").any())}
    )


def table(f: Frame) -> pd.DataFrame:
    shown = f.data.copy()
    for col in ("paper", "ours best", "ours mean", "chance"):
        shown[col] = shown[col].map(_fmt)
    return shown


def caption(f: Frame) -> str:
    check = (
        "Rows marked confirmed = no were transcribed without the paper at hand: check them against the arXiv "
        "version before citing. "
        if f.notes["unconfirmed"]
        else ""
    )
    return (
        f"Published: {' '.join(f.notes['citations'])} Ours: the best seed's score and the mean over seeds (the range "
        f"of 2 seeds, or with 3 or more a 95% Student-t interval on the arcsine scale) on the paper's scale "
        f"(Grazzi et al.: scaled accuracy (acc − chance)/(1 − chance)), "
        f"with our budget (steps shown; see the profile). 'at' chance is within {AT_CHANCE:.0%} of the way from "
        f"chance to perfect; 'same side' compares the paper's number and our best seed. {check}"
    ).strip()


def figures(f: Frame, directory: Path) -> list[Path]:
    return []


__all__: list[Any] = ["caption", "figures", "frame", "table"]
