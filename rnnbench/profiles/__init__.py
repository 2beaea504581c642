"""Benchmark profiles: named suites of cells, stored as TOML.

A profile holds defaults (``seeds``, ``models``, ``impl``, ``[model]``,
``[train]``) and a list of ``[[accuracy]]`` and ``[[retention]]`` entries, each
naming a task, a preset and task parameters. Any parameter given as a list is
swept (Cartesian product). Entries may override ``models``, ``seeds``,
``model`` and ``train``. A ``[throughput]`` table lists the throughput grid.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.errors import UsageError, choices
from rnnbench.models import IMPLEMENTATIONS, MODELS
from rnnbench.train import Cell

HERE = Path(__file__).parent
SECTIONS = ("accuracy", "retention")
TOP_KEYS = {"name", "description", "seeds", "models", "impl", "model", "train", "throughput", *SECTIONS}
ENTRY_KEYS = {"task", "preset", "params", "models", "seeds", "model", "train", "impl"}


@dataclass(frozen=True)
class PlannedCell:
    """A cell of a profile, labelled with the section it belongs to."""

    profile: str
    section: str
    cell: Cell


@dataclass
class Profile:
    name: str
    description: str
    path: Path
    cells: list[PlannedCell]
    throughput: dict[str, Any] = field(default_factory=dict)


def builtin_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(HERE.glob("*.toml"))}


def grid(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand list-valued entries: ``{"T": [10, 20], "K": 5}`` -> two dicts."""
    keys = list(values)
    axes = [v if isinstance(v, list) else [v] for v in values.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


def _check_keys(where: str, table: Any, allowed: set[str]) -> None:
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    extra = set(table) - allowed
    if extra:
        raise UsageError(f"{where}: unknown key {sorted(extra)[0]!r}; valid keys: {choices(allowed)}")


def load_profile(name_or_path: str) -> Profile:
    """Load a built-in profile by name, or a user's TOML file by path."""
    profiles = builtin_profiles()
    path = profiles.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise UsageError(
            f"no profile {name_or_path!r}: not a built-in ({choices(profiles)}) and no such file"
        )
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"profile {path} is not valid TOML: {exc}") from None
    _check_keys(f"profile {path}", data, TOP_KEYS)
    name = str(data.get("name", path.stem))
    cells: list[PlannedCell] = []
    for section in SECTIONS:
        entries = data.get(section, [])
        if not isinstance(entries, list):
            raise UsageError(f"profile {path}: [{section}] must be a list of tables, written [[{section}]]")
        for i, entry in enumerate(entries):
            where = f"profile {path}, {section} entry {i + 1}"
            _check_keys(where, entry, ENTRY_KEYS)
            if "task" not in entry:
                raise UsageError(f"{where} names no task; add task = \"copy\" (or adding, sine)")
            models = entry.get("models", data.get("models", list(MODELS)))
            seeds = entry.get("seeds", data.get("seeds", [0]))
            impls = entry.get("impl", data.get("impl", "fused"))
            if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
                raise UsageError(f"{where}: seeds must be a list of integers, e.g. seeds = [0, 1]")
            for model in models if isinstance(models, list) else [models]:
                MODELS.get(model)
            for impl in impls if isinstance(impls, list) else [impls]:
                if impl not in IMPLEMENTATIONS:
                    raise UsageError(f"{where}: unknown implementation {impl!r}; choose one of: {choices(IMPLEMENTATIONS)}")
            train_base = {**data.get("train", {}), **entry.get("train", {})}
            model_base = {**data.get("model", {}), **entry.get("model", {})}
            for tparams, mparams, train, model, impl, seed in itertools.product(
                grid(entry.get("params", {})), grid(model_base), grid(train_base),
                models if isinstance(models, list) else [models], impls if isinstance(impls, list) else [impls], seeds,
            ):
                cell = Cell(entry["task"], model, entry.get("preset"), tparams, impl, mparams, {**train, "seed": seed})
                try:
                    cell.resolved()
                except UsageError as exc:
                    raise UsageError(f"{where}: {exc}") from None
                cells.append(PlannedCell(name, section, cell))
    throughput = data.get("throughput", {})
    return Profile(name, str(data.get("description", "")), path, cells, throughput)
