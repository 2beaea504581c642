"""Formatting: numbers in cells, and one table written as Markdown, CSV and LaTeX."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.report.latex import Paper, render
from rnnbench.results import atomic_write
from rnnbench.stats import methods_text

DAGGER = "†"  # a best entry whose lead over the runner-up is significant (Markdown and the page)
Marks = dict[tuple[int, str], str]  # (row position, column) -> "best" or "significant" (best, and significantly)


def fmt(x: float) -> str:
    return f"{x:.3g}" if pd.notna(x) else "–"


def ci_text(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if pd.notna(low) else "[n<2]"


def interval_text(low: float, high: float, method: str) -> str:
    """``[0.18, 0.24]`` for a confidence interval, ``range 0.18–0.24`` for the range of two seeds,
    "" where there is none (one run); with 3 significant digits, or up to 5 to tell them apart."""
    if pd.isna(low):
        return ""
    digits = next((d for d in (3, 4, 5) if f"{low:.{d}g}" != f"{high:.{d}g}"), 5)
    lo, hi = f"{low:.{digits}g}", f"{high:.{digits}g}"
    return f"range {lo}–{hi}" if method == "range" else f"[{lo}, {hi}]"


def interval_note(methods: object) -> str:
    """What a table's intervals are, for its caption (only the kinds it shows)."""
    present = set(methods)  # type: ignore[call-overload]
    parts = []
    if present & {"t-log", "t-arcsine", "t-cut", "t"}:
        parts.append(f"[a, b] is an interval of the mean over seeds: {methods_text(sorted(present - {'range'}))}")
    if "range" in present:
        parts.append("'range a–b' is the lowest and highest of 2 seeds (too few for a confidence interval)")
    if present & {"single"}:
        parts.append("a cell of one run has no interval")
    return "; ".join(parts)


def marked(table: pd.DataFrame, marks: Marks) -> pd.DataFrame:
    """The Markdown cells: a best entry in bold, followed by † where its lead is significant."""
    out = table.copy()
    for (i, column), mark in marks.items():
        out.iat[i, out.columns.get_loc(column)] = f"**{out.iat[i, out.columns.get_loc(column)]}**" + (
            f" {DAGGER}" if mark == "significant" else ""
        )
    return out


def write_table(
    table: pd.DataFrame,
    stem: Path,
    title: str,
    caption: str,
    long_form: pd.DataFrame,
    paper: Paper,
    provenance: str,
    marks: Marks | None = None,
) -> list[Path]:
    md, csv, tex = (stem.with_suffix(ext) for ext in (".md", ".csv", ".tex"))
    atomic_write(md, f"# {title}\n\n{caption}\n\n{marked(table, marks or {}).to_markdown(index=False)}\n")
    atomic_write(csv, long_form.to_csv(index=False))
    atomic_write(tex, render(paper, f"tab:{stem.parent.name}-{stem.name}", provenance))
    return [md, csv, tex]
