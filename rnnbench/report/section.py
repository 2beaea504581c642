"""What a report section's module receives and returns (the registry is ``rnnbench.sections``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Inputs:
    """One profile's records, as the frames the sections read."""

    profile: str
    train: pd.DataFrame  # rnnbench.report.labels.train_frame, this profile's rows (maybe empty)
    throughput: pd.DataFrame  # rnnbench.report.labels.throughput_frame, this profile's rows (maybe empty)
    length: pd.DataFrame  # rnnbench.report.length.length_frame, this profile's evaluations (maybe empty)


@dataclass(frozen=True)
class Frame:
    """What one section read and computed for one profile."""

    rows: pd.DataFrame  # the record rows it read: the provenance line comes from these
    data: pd.DataFrame  # what its table and figures are built from
    long_form: pd.DataFrame | None = None  # every statistic, the CSV (default: ``data``)
    notes: dict[str, Any] = field(default_factory=dict)  # anything else its caption needs

    @property
    def csv(self) -> pd.DataFrame:
        return self.data if self.long_form is None else self.long_form
