"""One static web page (``results/index.html``) with every profile's tables and figures.

Rendered with Jinja2 from the same tables ``rnnbench report`` writes as Markdown, CSV
and LaTeX; sorting and filtering are a short script inside the page, so it opens from
disk (``file://``) or any static host with no server and no network request. The same
records give the same bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from rnnbench.models import MODELS
from rnnbench.results import atomic_write
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import direction

TEMPLATE = Path(__file__).with_name("templates") / "index.html.j2"
ROLES = {"task": "task", "model": "model", "impl": "impl", "metric": "metric"}
PROFILE_ORDER = ["quick", "modern", "full", "gpu", "mnist", "paper"]  # the main job's first; then the rest
FORMATS = {".md": "Markdown", ".csv": "CSV (every statistic)", ".tex": "LaTeX"}


@dataclass
class Table:
    """One published table: what the page shows of it."""

    profile: str
    title: str
    caption: str
    table: pd.DataFrame
    files: list[Path]
    figures: list[Path] = field(default_factory=list)
    marks: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, column) -> "best" / "significant"


def column(label: str) -> dict[str, str]:
    """A header's role for the page's filters: a dimension column (task, model, ...) or a
    model's column in a task × model pivot (``lstm (reference) [hidden_size=8]``)."""
    if label in ROLES:
        return {"label": label, "role": ROLES[label]}
    first = label.split(" ")[0]
    if first in MODELS:
        impl = re.match(r"\S+ \(([^)]+)\)", label)
        return {
            "label": label,
            "role": "modelcol",
            "model": first,
            "impl": impl.group(1) if impl else MODELS.get(first).default_impl,
        }
    return {"label": label, "role": ""}


def write_site(out: Path, tables: list[Table], descriptions: dict[str, str]) -> Path:
    """Render ``out/index.html`` from the report's tables (paths relative to ``out``)."""
    rel = lambda p: Path(os.path.relpath(p, out)).as_posix()  # noqa: E731
    profiles: dict[str, dict[str, Any]] = {}
    values: dict[str, set[str]] = {"task": set(), "model": set(), "impl": set(), "metric": set()}
    for t in tables:
        cols = [column(str(c)) for c in t.table.columns]
        names = [str(c) for c in t.table.columns]
        rows = [
            [{"text": cell_text(v), "mark": t.marks.get((r, name), "")} for v, name in zip(row, names)]
            for r, row in enumerate(t.table.itertuples(index=False))
        ]
        for c, col in enumerate(cols):
            if col["role"] in values:
                for row in rows:
                    # tasks and models by name alone (rows say "copy/bai2018 (T=100)", "lstm [hidden_size=56]")
                    text = row[c]["text"]
                    values[col["role"]].add(text.split("/")[0].split(" ")[0] if col["role"] in ("task", "model") else text)
            if col["role"] == "modelcol":
                values["model"].add(col["model"])
                values["impl"].add(col["impl"])
        page = profiles.setdefault(
            t.profile,
            {"name": t.profile, "id": f"profile-{t.profile}", "description": descriptions.get(t.profile, ""), "tables": []},
        )
        page["tables"].append(
            {
                "id": f"{t.profile}-{t.files[0].stem}",
                "title": t.title,
                "caption": t.caption,
                "columns": cols,
                "rows": rows,
                "files": [(FORMATS.get(p.suffix, p.suffix), rel(p)) for p in t.files],
                "figures": [(p.stem.replace("_", " "), rel(p)) for p in t.figures if p.suffix == ".svg"],
                "marked": bool(t.marks),
            }
        )
    asv = out.resolve().parent / ".asv" / "html" / "index.html"
    tasks = [
        {
            "name": name,
            "metric": cls.primary_metric,
            "direction": direction(cls.primary_metric),
            "rule": str(cls.rule),
            "presets": list(cls.presets.items()),
            "default": cls.default_preset,
        }
        for name, cls in TASKS.items()
    ]
    filters = [(k, k, sorted(v)) for k, v in values.items() if v]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True, keep_trailing_newline=True)
    order = {name: i for i, name in enumerate(PROFILE_ORDER)}
    pages = sorted(profiles.values(), key=lambda p: (order.get(p["name"], len(order)), p["name"]))
    html = env.get_template(TEMPLATE.name).render(
        profiles=pages, tasks=tasks, filters=filters, asv=rel(asv) if asv.exists() else None
    )
    path = out / "index.html"
    atomic_write(path, html)
    return path


def cell_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if pd.notna(value) else "–"
    return str(value)
