"""Every kind of record the code builds fits the one schema in rnnbench/records.py (keys and
types), and the check is not a rubber stamp: a record missing a field, with a field of the wrong
type or with a field the schema does not know fails it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import rnnbench.cells as cells_module
from rnnbench.cells import failure, run_cell
from rnnbench.evaluate import evaluate_run
from rnnbench.measure import Shape, ThroughputCell, measure
from rnnbench.profiles import PlannedCell
from rnnbench.records import problems, validate
from rnnbench.results import read_records
from rnnbench.train import Cell, failed_record, fit

ROOT = Path(__file__).resolve().parents[1]
BLOCK = f"{ROOT / 'tests' / 'fixtures' / 'ecosystem_blocks.py'}:DimGLU"
TINY = {"steps": 3, "eval_every": 1, "eval_size": 8, "batch_size": 4}
CELL = Cell("adding", "rnn", task_params={"T": 5}, model_params={"hidden_size": 4}, train=TINY)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """One record of each kind and status, each built by the code that builds it in a sweep."""
    weights = tmp_path_factory.mktemp("weights")
    out = {}
    out["train"] = fit(CELL, "cpu")
    formal = fit(
        Cell("parity_check", "rnn", task_params={"length": 5}, model_params={"hidden_size": 4}, train=TINY), "cpu", None, weights
    )
    out["train, formal, weights saved"] = formal
    out["train, diagnostics"] = fit(
        Cell(
            "adding",
            "lstm",
            preset="arjovsky2016",
            task_params={"T": 5},
            model_params={"hidden_size": 4},
            train=TINY,
            probes=("gradient_flow",),
        ),
        "cpu",
    )
    out["train, a user's block"] = fit(Cell("adding", BLOCK, task_params={"T": 5}, train=TINY), "cpu")
    out["train, failed"] = failed_record(CELL, "failed", "RuntimeError: boom", "cpu", 1.0)
    out["train, in a sweep"] = run_cell(PlannedCell("p", "retention", CELL, axis="T"), "cpu", None)
    out["throughput"] = measure(ThroughputCell("lstm", None, Shape(2, 3, 4, 4, 1), 0.01), torch.device("cpu"))
    out["throughput, a user's block"] = measure(ThroughputCell(BLOCK, None, Shape(2, 3, 4, 4, 1), 0.01), torch.device("cpu"))
    out["throughput, timeout"] = failure(
        PlannedCell("p", "throughput", ThroughputCell("rnn", None, Shape())),
        "timeout",
        "exceeded the per-cell limit of 1 s",
        "cpu",
        1.0,
    )
    out["length_eval"] = evaluate_run(formal, [3, 7], weights, samples=8)
    return out


def test_every_kind_of_record_fits_the_schema(records, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(cells_module, "fit", boom)
    records = dict(records, **{"train, raised in a sweep": run_cell(PlannedCell("p", "accuracy", CELL), "cpu", None)})
    assert records["train, raised in a sweep"]["status"] == "failed"
    assert {r["kind"] for r in records.values()} == {"train", "throughput", "length_eval"}
    for name, record in records.items():
        assert problems(record) == [], name


def test_the_model_part_has_the_same_fields_in_every_kind(records):
    """The fields every record names a model by, built in one place, agree across kinds."""
    train, thr, failed = records["train"]["model"], records["throughput"]["model"], records["throughput, timeout"]["model"]
    assert list(failed) == ["name", "display", "implementation"]
    assert list(train)[:5] == list(thr)[:5] == ["name", "display", "implementation", "default_implementation", "params"]
    assert list(records["length_eval"]["model"]) == [
        "name",
        "display",
        "implementation",
        "default_implementation",
        "params",
        "n_params",
    ]
    assert list(records["train, failed"]["model"]) == [k for k in train if k not in ("n_params", "state_size")]


def test_diagnostics_keep_their_published_field_name(records):
    """rnnbench.diagnostics' values sit under ``probes``, the name published gradient-flow records use."""
    record = records["train, diagnostics"]
    assert list(record["cell"]["probes"]) == ["gradient_flow"]
    assert set(record["probes"]["gradient_flow"]) == {"init", "trained"}
    assert "probes" not in records["train"]


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda r: r.pop("cell_key"), "train.cell_key: missing"),
        (lambda r: r["model"].pop("display"), "train.model.display: missing"),
        (lambda r: r["env"].pop("torch"), "train.env.torch: missing"),
        (lambda r: r["task"].update(version="1"), "train.task.version: '1' is not a int"),
        (lambda r: r.update(status="done"), "train.status: 'done' is not one of"),
        (lambda r: r["timing"].update(train_seconds=True), "train.timing.train_seconds: True is not a float"),
        (lambda r: r["model"].update(colour="red"), "train.model.colour: not in the schema"),
        (lambda r: r.update(history={}), "train.history: dict, not a list"),
        (lambda r: r["model"].pop("n_params"), "train.model.n_params: missing"),  # a trained model's, not a failure's
    ],
)
def test_a_damaged_record_fails_the_schema(records, damage, fragment):
    record = copy.deepcopy(records["train"])
    validate(record)
    damage(record)
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        validate(record)


def test_a_failure_record_is_held_to_its_own_schema(records):
    """A failed training record has no trained model; given one of an ok record's fields it fails."""
    record = copy.deepcopy(records["train, failed"])
    del record["error"]
    assert problems(record) == ["train.error: missing"]
    record = copy.deepcopy(records["throughput, timeout"])
    record["load"] = records["throughput"]["load"]
    assert problems(record) == ["throughput.load: not in the schema"]
    assert problems({"kind": "length_eval", "status": "failed"}) == ["no schema for a 'length_eval' record with status 'failed'"]


@pytest.mark.parametrize("name", ["formal", "modern"])
def test_recent_published_records_fit_the_schema(name):
    """The profiles published since the schema last grew (older ones predate fields such as ``load``)."""
    raw = ROOT / "results" / "raw" / f"{name}.jsonl"
    if not raw.exists():
        pytest.skip(f"no published {name} records")
    found = {r["run_id"]: problems(r) for r in read_records(raw)}
    assert found and not any(found.values()), next(p for p in found.values() if p)
