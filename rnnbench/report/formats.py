"""Formatting: numbers in cells, and one table written as Markdown, CSV and LaTeX."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnbench.results import atomic_write


def fmt(x: float) -> str:
    return f"{x:.3g}" if pd.notna(x) else "–"


def ci_text(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if pd.notna(low) else "[n<2]"


def write_table(table: pd.DataFrame, stem: Path, title: str, caption: str, long_form: pd.DataFrame) -> list[Path]:
    md, csv, tex = (stem.with_suffix(ext) for ext in (".md", ".csv", ".tex"))
    atomic_write(md, f"# {title}\n\n{caption}\n\n{table.to_markdown(index=False)}\n")
    atomic_write(csv, long_form.to_csv(index=False))
    atomic_write(tex, table.to_latex(index=False, caption=f"{title}. {caption}", label=f"tab:{stem.name}", escape=True))
    return [md, csv, tex]
