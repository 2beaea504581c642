"""Report sections: the one list of the kinds of table ``rnnbench report`` publishes.

A section is a name (the file stem of its tables, the record's ``section`` and, for a section
whose cells train, the ``[[name]]`` entries of a profile), a title, which records it reads, and
the module that builds it. The module defines four functions (see ``rnnbench.report.section``):

- ``frame(inputs) -> Frame | None``: the rows it reads and every statistic it computes (the
  CSV); ``None`` or an empty frame publishes nothing for that profile;
- ``table(frame) -> DataFrame``: the cells the Markdown table and the web page show;
- ``caption(frame) -> str``: what the numbers are (the provenance is added after it);
- ``figures(frame, directory) -> list[Path]``: the figures it draws (none: ``[]``);

and may define two more:

- ``paper(frame) -> rnnbench.report.latex.Paper``: its LaTeX table for papers (without it, the
  table above, every cell as text);
- ``marks(frame, table) -> {(row, column): "best" | "significant"}``: entries shown in bold (and
  with a dagger) in Markdown and on the page.

Adding a kind of table is one new module and one ``SECTIONS.add`` line below: the profiles, the
report, the page and the manifest all read this registry. This module imports nothing heavy, so
that loading a profile (which reads the trained sections' names) does not import pandas.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from rnnbench.registry import Registry

RECORDS = ("train", "throughput", "length")  # the kinds of record a section reads (length: length_eval + train)


@dataclass(frozen=True)
class Section:
    """One kind of table; ``module`` builds it (imported only when a report runs)."""

    name: str
    title: str  # "rnnbench quick: {title}"
    records: str  # one of RECORDS
    module: str
    trained: bool = False  # profiles hold [[name]] entries whose cells train for this section
    diagnostics: tuple[str, ...] = ()  # what its cells measure besides training (rnnbench.diagnostics)
    axis: str | None = None  # an entry sweeps this task parameter by default (retention: T)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


SECTIONS: Registry[Section] = Registry("report section")
for _section in (
    Section("accuracy", "accuracy", "train", "rnnbench.report.accuracy", trained=True),
    Section("retention", "retention", "train", "rnnbench.report.retention", trained=True, axis="T"),
    Section(
        "gradient_flow", "gradient flow", "train", "rnnbench.report.gradient_flow", trained=True, diagnostics=("gradient_flow",)
    ),
    Section("paper_comparison", "published vs ours", "train", "rnnbench.report.paper"),
    Section("length", "length generalisation", "length", "rnnbench.report.length", trained=True),
    Section("length_paper_comparison", "length generalisation, published vs ours", "length", "rnnbench.report.length_paper"),
    Section("throughput", "throughput", "throughput", "rnnbench.report.throughput"),
    Section("speedup", "speed against the reference", "throughput", "rnnbench.report.speedup"),
):
    SECTIONS.add(_section.name, _section)


def trained_sections() -> tuple[str, ...]:
    """The sections a profile lists cells for, as ``[[name]]`` entries."""
    return tuple(name for name, s in SECTIONS.items() if s.trained)
