"""``rnnbench report``: every registered section's tables and figures for every profile, from the
records under ``results/raw``, and the web page that shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rnnbench.errors import UsageError
from rnnbench.report.formats import write_table
from rnnbench.report.labels import provenance, throughput_frame, train_frame
from rnnbench.report.section import Inputs
from rnnbench.results import atomic_write, read_records
from rnnbench.sections import RECORDS, SECTIONS
from rnnbench.site import Table, write_site

FRAMES = {"train": train_frame, "throughput": throughput_frame}  # one frame per kind of record (RECORDS)


def report(results: Path, out: Path | None = None) -> list[Path]:
    """Rebuild every profile's tables and figures from the records under ``results/raw``."""
    out = out or results
    records = read_records(results / "raw") if (results / "raw").exists() else []
    frames = {kind: FRAMES[kind](records) for kind in RECORDS}
    written: list[Path] = []
    page: list[Table] = []
    for kind in RECORDS:  # the sections of training records first, then those of throughput records
        df = frames[kind]
        for profile in (df["profile"].unique() if not df.empty else []):
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
                files = write_table(table, directory / name, title, caption, frame.csv.assign(provenance=source))
                figures = module.figures(frame, directory / "figures")
                page.append(Table(str(profile), title, caption, table, files, figures))
                written += files + figures
    if not written:
        return written
    descriptions = {name: profile_description(name) for name in dict.fromkeys(t.profile for t in page)}
    written.append(write_site(out, page, descriptions))
    atomic_write(out / "index.json", json.dumps(sorted(str(p.relative_to(out)) for p in written), indent=1) + "\n")
    return written


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
