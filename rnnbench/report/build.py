"""``rnnbench report``: every registered section's tables and figures for every profile, from the
records under ``results/raw``, the web page that shows them, and the manifest of what it wrote.

The report owns its outputs: ``manifest.json`` lists every file it wrote with its SHA-256, and the
folders it made. The next report deletes the files of the last manifest that it no longer writes
(a profile whose records are gone, a figure of a task no longer run), but only those still exactly
as it wrote them: a file it did not write, or one edited since, is never deleted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pandas as pd

from rnnbench.errors import UsageError
from rnnbench.report import latex
from rnnbench.report.formats import write_table
from rnnbench.report.labels import provenance, throughput_frame, train_frame
from rnnbench.report.length import length_frame
from rnnbench.report.section import Frame, Inputs
from rnnbench.results import atomic_write, read_records
from rnnbench.sections import RECORDS, SECTIONS
from rnnbench.site import Table, write_site

FRAMES = {"train": train_frame, "throughput": throughput_frame, "length": length_frame}  # one per kind (RECORDS)
MANIFEST = "manifest.json"


@dataclass
class Outputs:
    """What one report wrote, and the stale outputs of an earlier one it deleted."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # stale, but changed since the report wrote them: left alone


def report(results: Path, out: Path | None = None) -> list[Path]:
    """Rebuild every profile's tables and figures from the records under ``results/raw``."""
    return build(results, out).written


def build(results: Path, out: Path | None = None) -> Outputs:
    """``report``, also saying which stale outputs of an earlier report it deleted."""
    out = out or results
    records = read_records(results / "raw") if (results / "raw").exists() else []
    frames = {kind: FRAMES[kind](records) for kind in RECORDS}
    before = {p for p in out.rglob("*") if p.is_dir()} if out.exists() else set()
    written: list[Path] = []
    page: list[Table] = []
    for kind in RECORDS:  # the sections of training records, then of throughput records, then of evaluations
        df = frames[kind]
        for profile in df["profile"].unique() if not df.empty else []:
            inputs = Inputs(str(profile), *(profile_rows(frames[k], profile) for k in RECORDS))
            for name, section in SECTIONS.items():
                if section.records != kind:
                    continue
                module = section.load()
                frame = module.frame(inputs)
                if frame is None or frame.data.empty:
                    continue
                source = provenance(frame.rows)
                caption = f"{module.caption(frame)} Source: {source}."
                title = f"rnnbench {profile}: {section.title}"
                directory = out / str(profile)
                table = module.table(frame)
                marks = module.marks(frame, table) if hasattr(module, "marks") else {}
                paper = module.paper(frame) if hasattr(module, "paper") else generic_paper(module, frame, table)
                files = write_table(
                    table, directory / name, title, caption, frame.csv.assign(provenance=source), paper, latex.tex(source), marks
                )
                figures = module.figures(frame, directory / "figures")
                page.append(Table(str(profile), title, caption, table, files, figures, marks))
                written += files + figures
    if not written:
        return Outputs()
    descriptions = {name: profile_description(name) for name in dict.fromkeys(t.profile for t in page)}
    written.append(write_site(out, page, descriptions))
    atomic_write(out / "index.json", json.dumps(sorted(str(p.relative_to(out)) for p in written), indent=1) + "\n")
    written.append(out / "index.json")
    return own(out, written, before)


def generic_paper(module: ModuleType, frame: Frame, table: pd.DataFrame) -> latex.Paper:
    """A section without its own ``paper``: its table as it is, every cell as text."""
    return latex.Paper(
        ["l"] * len(table.columns),
        [latex.tex(c) for c in table.columns],
        [[latex.tex(v) for v in row] for row in table.itertuples(index=False)],
        latex.tex(module.caption(frame)),
    )


def own(out: Path, written: list[Path], before: set[Path]) -> Outputs:
    """Write the manifest of ``written`` and delete the earlier manifest's files not written again."""
    old = read_manifest(out)
    files = {str(p.relative_to(out)): sha256(p) for p in written}
    mine = {out / d for d in old.get("dirs", [])} | {p.parent for p in written if p.parent not in before}
    removed, kept = [], []
    for rel, digest in sorted(old.get("files", {}).items()):
        path = out / rel
        if rel in files or not inside(out, path) or not path.is_file():
            continue
        if sha256(path) == digest:
            path.unlink()
            removed.append(path)
        else:
            kept.append(path)
            warnings.warn(
                f"{path}: left in place, though rnnbench report no longer writes it: it changed since the report wrote it",
                stacklevel=2,
            )
    for folder in sorted(mine, key=lambda p: len(p.parts), reverse=True):  # the deepest first
        if folder.is_dir() and inside(out, folder) and not any(folder.iterdir()):
            folder.rmdir()
    dirs = sorted(str(d.relative_to(out)) for d in mine if d.is_dir() and inside(out, d))
    atomic_write(
        out / MANIFEST,
        json.dumps({"written by": "rnnbench report", "files": files, "dirs": dirs}, indent=1, sort_keys=True) + "\n",
    )
    return Outputs(written, removed, kept)


def read_manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("written by") == "rnnbench report" else {}


def inside(out: Path, path: Path) -> bool:
    """Whether ``path`` is one of the report's own places: under ``out``, never the records."""
    try:
        rel = path.resolve().relative_to(out.resolve())
    except ValueError:
        return False
    return bool(rel.parts) and rel.parts[0] != "raw" and ".." not in rel.parts


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def profile_rows(df: pd.DataFrame, profile: str) -> pd.DataFrame:
    return df[df["profile"] == profile] if not df.empty else df


def profile_description(name: str) -> str:
    """A built-in profile's description ("" for others: their TOML may be anywhere)."""
    from rnnbench.profiles import builtin_profiles, load_profile

    try:
        return load_profile(name).description if name in builtin_profiles() else ""
    except UsageError:  # mnist without its files, say: its TOML still says what it is
        import tomllib

        return str(tomllib.loads(builtin_profiles()[name].read_text()).get("description", ""))
