"""Benchmark profiles: named suites of cells, stored as TOML.

A profile holds defaults (``seeds``, ``models``, ``impl``, ``[model]``,
``[train]``) and a list of ``[[accuracy]]`` and ``[[retention]]`` entries, each
naming a task, a preset and task parameters. Any parameter given as a list is
swept (Cartesian product). Entries may override ``models``, ``seeds``,
``model`` and ``train``. A ``[throughput]`` table lists the throughput grid, or
``[[throughput]]`` tables several grids.

``[[length]]`` entries train a task sampled at any length on ``train.lengths`` (a range such as
``"1:40"``, one length drawn per batch) and then evaluate the trained model at ``eval_lengths``
(``"41:500:10"``; ``eval_samples`` sequences each, 512 by default). The evaluation lengths are not
part of the cell: editing them adds evaluations of the saved weights and retrains nothing
(docs/formal.md).

``impl`` (a name or a list) picks implementations; each model runs those it has, a
user's model its one, and without ``impl`` every model runs its default (fastest) one.
``[model.NAME]`` tables hold parameters for one model only (``[model.exprnn]
init = "cayley"``). Model files (``path/to/file.py:Name``) resolve against the profile's
folder.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from rnnbench.errors import UsageError, choices
from rnnbench.measure import Shape, ThroughputCell
from rnnbench.models import model_order, resolve_model
from rnnbench.models.user import is_import_path
from rnnbench.sections import SECTIONS as REPORT_SECTIONS
from rnnbench.sections import trained_sections
from rnnbench.train import Cell

HERE = Path(__file__).parent
EVAL_KEYS = {"eval_lengths", "eval_samples"}  # [[length]] entries (or the profile's defaults for them)
TOP_KEYS = {"name", "description", "reproduces", "seeds", "models", "impl", "model", "train", "throughput", *EVAL_KEYS}
ENTRY_KEYS = {"task", "preset", "params", "models", "seeds", "model", "train", "impl", "axis", *EVAL_KEYS}


def __getattr__(name: str) -> Any:
    """``SECTIONS``: the [[entry]] kinds a profile may hold, read from the report sections' registry
    each time (``rnnbench.sections``), so that a section registered later is one too."""
    if name == "SECTIONS":
        return trained_sections()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class LengthEvaluation:
    """The lengths a trained cell is evaluated at, and how many sequences at each: not part of the cell."""

    lengths: tuple[int, ...]
    samples: int = 512


THROUGHPUT_KEYS = {"models", "impl", "batch", "seq_len", "hidden_size", "input_size", "num_layers", "min_run_time"}


@dataclass(frozen=True)
class PlannedCell:
    """A cell of a profile, labelled with the section it belongs to."""

    profile: str
    section: str
    cell: Cell | ThroughputCell
    axis: str | None = None  # retention: the task parameter swept as the dependency length
    evaluation: LengthEvaluation | None = None  # length: evaluated at these lengths after training
    weights_dir: str | None = None  # where the trained weights go (set by the sweep); None: not saved

    def key(self, device: str) -> str:
        return self.cell.key(device)


@dataclass
class Profile:
    name: str
    description: str
    path: Path
    cells: list[PlannedCell]


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


def model_ref(model: Any, folder: Path, where: str) -> str:
    """A model name as written in a profile; a relative ``file.py:Name`` resolves against ``folder``."""
    if not isinstance(model, str):
        raise UsageError(f"{where}: models must be names (strings), not {model!r}")
    target, _, attr = model.rpartition(":")
    if is_import_path(model) and target.endswith(".py") and not Path(target).is_absolute():
        return f"{(folder / target).resolve()}:{attr}"
    return model


def implementations(model: str, impls: Any, where: str) -> list[str | None]:
    """The implementations of ``model`` to run: those of ``impls`` it has (a user's model: its
    one); ``None`` (nothing asked) means its default."""
    arch = resolve_model(model)
    if impls is None or arch.user:
        return [None]
    wanted = impls if isinstance(impls, list) else [impls]
    have = [i for i in wanted if i in arch.implementations]
    if not have:
        raise UsageError(
            f"{where}: model {model!r} has none of the implementations {wanted}; it has: {choices(arch.implementations)}"
        )
    return have


def split_model_params(table: dict[str, Any], models: list[str], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``[model]`` into the values for every model and the ``[model.NAME]`` tables."""
    shared = {k: v for k, v in table.items() if not isinstance(v, dict)}
    per_model = {k: v for k, v in table.items() if isinstance(v, dict)}
    for name in per_model:
        if name not in models:
            raise UsageError(f"{where}: [model.{name}] names a model the entry does not run; models: {choices(models)}")
    return shared, per_model


def load_profile(name_or_path: str) -> Profile:
    """Load a built-in profile by name, or a user's TOML file by path."""
    profiles = builtin_profiles()
    path = profiles.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise UsageError(f"no profile {name_or_path!r}: not a built-in ({choices(profiles)}) and no such file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"profile {path} is not valid TOML: {exc}") from None
    sections = trained_sections()  # the [[entry]] kinds: report sections whose cells train (rnnbench.sections)
    _check_keys(f"profile {path}", data, TOP_KEYS | set(sections))
    name = str(data.get("name", path.stem))
    cells: list[PlannedCell] = []
    ran: set[str] = set()
    for section in sections:
        entries = data.get(section, [])
        if not isinstance(entries, list):
            raise UsageError(f"profile {path}: [{section}] must be a list of tables, written [[{section}]]")
        for i, entry in enumerate(entries):
            where = f"profile {path}, {section} entry {i + 1}"
            _check_keys(where, entry, ENTRY_KEYS)
            if "task" not in entry:
                raise UsageError(f'{where} names no task; add task = "copy" (or adding, sine)')
            if not isinstance(entry["task"], str):
                raise UsageError(f"{where}: task = {entry['task']!r} must be one task's name; write one entry per task")
            models = entry.get("models", data.get("models", model_order()))
            models = [model_ref(m, path.parent, where) for m in (models if isinstance(models, list) else [models])]
            seeds = entry.get("seeds", data.get("seeds", [0]))
            impls = entry.get("impl", data.get("impl"))
            if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
                raise UsageError(f"{where}: seeds must be a list of integers, e.g. seeds = [0, 1]")
            model_impls = [(m, i) for m in models for i in implementations(m, impls, where)]
            spec = REPORT_SECTIONS.get(section)
            axis = entry.get("axis", spec.axis) if spec.axis else None
            if "axis" in entry and not spec.axis:
                swept = ", ".join(f"[[{s}]]" for s in sections if REPORT_SECTIONS.get(s).axis)
                raise UsageError(f"{where}: axis applies to {swept} entries only")
            if axis is not None and not isinstance(entry.get("params", {}).get(axis), list):
                raise UsageError(
                    f"{where}: a retention entry sweeps its axis; give params.{axis} as a list, e.g. {axis} = [10, 20, 50]"
                )
            diagnostics = spec.diagnostics
            evaluation = length_evaluation(where, section, entry, data)
            train_base = {**data.get("train", {}), **entry.get("train", {})}
            # the profile's [model.NAME] tables for the models this entry runs (an entry's own must name one of them)
            profile_wide = {k: v for k, v in data.get("model", {}).items() if not isinstance(v, dict) or k in models}
            ran.update(models)
            shared, per_model = split_model_params({**profile_wide, **entry.get("model", {})}, models, where)
            for tparams, train, (model, impl), seed in itertools.product(
                grid(entry.get("params", {})),
                grid(train_base),
                model_impls,
                seeds,
            ):
                for mparams in grid({**shared, **per_model.get(model, {})}):
                    cells.append(
                        planned(
                            name,
                            section,
                            where,
                            Cell(
                                entry["task"],
                                model,
                                entry.get("preset"),
                                tparams,
                                impl,
                                mparams,
                                {**train, "seed": seed},
                                diagnostics,
                            ),
                            axis,
                            evaluation,
                        )
                    )
    models = data.get("models", model_order())
    models = [model_ref(m, path.parent, f"profile {path}") for m in (models if isinstance(models, list) else [models])]
    if ran:  # a [model.NAME] that no entry runs is a typo
        split_model_params(data.get("model", {}), sorted(ran), f"profile {path}")
    tables = data.get("throughput", {})
    if isinstance(tables, list):  # [[throughput]]: several grids (say, a slow implementation at fewer lengths)
        for i, table in enumerate(tables):
            cells += throughput_cells(name, table, f"profile {path}, throughput grid {i + 1}", models)
    else:
        cells += throughput_cells(name, tables, f"profile {path}, [throughput]", models)
    return Profile(name, str(data.get("description", "")), path, cells)


def planned(
    profile: str, section: str, where: str, cell: Cell, axis: str | None, evaluation: LengthEvaluation | None = None
) -> PlannedCell:
    try:
        task, _, cfg = cell.resolved()
        if evaluation is not None:
            check_length_entry(task, cfg, evaluation)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return PlannedCell(profile, section, cell, axis, evaluation)


def length_evaluation(where: str, section: str, entry: dict[str, Any], data: dict[str, Any]) -> LengthEvaluation | None:
    """A [[length]] entry's evaluation lengths and samples (the entry's, else the profile's)."""
    from rnnbench.lengths import parse_lengths

    given = [k for k in EVAL_KEYS if k in entry]
    if section != "length":
        if given:
            raise UsageError(f"{where}: {given[0]} applies to [[length]] entries only")
        return None
    spec = entry.get("eval_lengths", data.get("eval_lengths"))
    if spec is None:
        raise UsageError(
            f'{where}: a [[length]] entry needs eval_lengths, the lengths to test on, e.g. eval_lengths = "41:500:10"'
        )
    samples = entry.get("eval_samples", data.get("eval_samples", 512))
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(
            f"{where}: eval_samples={samples!r} is impossible; give the sequences per length, 2 or more (512 in Delétang et al.)"
        )
    return LengthEvaluation(parse_lengths(spec, f"{where}: eval_lengths"), samples)


def check_length_entry(task: Any, cfg: Any, evaluation: LengthEvaluation) -> None:
    """A [[length]] cell trains on a range of lengths and tests beyond it: the task must take any length,
    train.lengths must be given, every length must be one the task accepts, and some evaluation length
    must lie above the training range (otherwise nothing tests generalisation)."""
    train = cfg.curriculum()
    if not train:
        raise UsageError('a [[length]] entry trains on a range of lengths; give train.lengths, e.g. train = { lengths = "1:40" }')
    for length in (min(evaluation.lengths),):
        task.at_length(length)
    if max(evaluation.lengths) <= max(train):
        raise UsageError(
            f"eval_lengths {evaluation.lengths[0]}..{evaluation.lengths[-1]} lie within or below the "
            f"training lengths {cfg.lengths} (up to {max(train)}): a [[length]] entry tests longer inputs "
            f"than it trains on; give eval_lengths above {max(train)}, e.g. "
            f'"{max(train) + 1}:{max(10 * max(train), max(train) + 10)}"'
        )


def throughput_cells(profile: str, table: dict[str, Any], where: str, models: list[str]) -> list[PlannedCell]:
    """The throughput grid; ``input_size`` defaults to the hidden size (DeepBench's convention)."""
    if not table:
        return []
    _check_keys(where, table, THROUGHPUT_KEYS)
    out = []
    tmodels = table.get("models", models)
    tmodels = [model_ref(m, Path.cwd(), where) for m in (tmodels if isinstance(tmodels, list) else [tmodels])]
    pairs = [(m, i) for m in tmodels for i in implementations(m, table.get("impl"), where)]
    spec = {
        "pair": pairs,
        "batch": table.get("batch", 64),
        "seq_len": table.get("seq_len", 100),
        "hidden_size": table.get("hidden_size", 256),
        "input_size": table.get("input_size", 0),
        "num_layers": table.get("num_layers", 1),
    }
    for g in grid(spec):
        shape = Shape(g["batch"], g["seq_len"], g["input_size"] or g["hidden_size"], g["hidden_size"], g["num_layers"])
        cell = ThroughputCell(g["pair"][0], g["pair"][1], shape, float(table.get("min_run_time", 0.5)))
        try:
            cell.validate()
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        out.append(PlannedCell(profile, "throughput", cell))
    return out
