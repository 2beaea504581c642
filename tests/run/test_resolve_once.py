"""A cell is resolved once: running one cell looks its model, task and probes up by name once and
passes the typed values (rnnbench.train.ResolvedCell, rnnbench.measure.ResolvedThroughput) down."""

import collections
import dataclasses
import sys

import pytest
import torch

import rnnbench.models as models
import rnnbench.tasks as tasks
from rnnbench.cells import run_cell
from rnnbench.measure import Shape, ThroughputCell, measure_resolved
from rnnbench.profiles import PlannedCell
from rnnbench.registry import Registry
from rnnbench.train import Cell, fit_resolved

TINY = {"steps": 2, "eval_every": 1, "eval_size": 8, "batch_size": 4}
CELL = Cell("adding", "lstm", "arjovsky2016", {"T": 5}, model_params={"hidden_size": 4}, train=TINY, probes=("gradient_flow",))
THROUGHPUT = ThroughputCell("gru", None, Shape(2, 3, 4, 4, 1), 0.01)


def lookups(fn) -> collections.Counter:
    """How often ``fn`` calls the by-name resolvers, however each module imported them: the model
    resolver, the task factory, and each registry's ``get`` (by its kind)."""
    resolvers = {models.resolve_model.__code__: "resolve_model", tasks.make_task.__code__: "make_task"}
    seen: collections.Counter = collections.Counter()

    def profile(frame, event, arg):
        if event != "call":
            return
        if frame.f_code in resolvers:
            seen[resolvers[frame.f_code]] += 1
        elif frame.f_code is Registry.get.__code__:
            seen[frame.f_locals["self"].kind] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return seen


def test_a_training_cell_resolves_its_model_task_and_probes_once():
    record = {}
    seen = lookups(lambda: record.update(run_cell(PlannedCell("p", "accuracy", CELL), "cpu", None)))
    assert record["status"] == "ok" and "gradient_flow" in record["probes"]
    # main before this change: resolve_model 7, make_task 2, and each probe looked up 4 times
    assert seen == {"resolve_model": 1, "model": 1, "make_task": 1, "task": 1, "diagnostic": 1}


def test_a_throughput_cell_resolves_its_model_once():
    record = {}
    seen = lookups(lambda: record.update(run_cell(PlannedCell("p", "throughput", THROUGHPUT), "cpu", None)))
    assert record["status"] == "ok" and record["model"]["implementation"] == "fused"
    assert seen == {"resolve_model": 1, "model": 1}  # main before this change: 10 of each


def test_the_resolved_path_looks_nothing_up_and_uses_the_values_it_is_given():
    """Given a resolved cell, training and measuring take its architecture as it is: one with a
    hook swapped in is the one trained, with no name looked up on the way."""
    resolved = CELL.resolve("cpu")
    calls = []
    arch = dataclasses.replace(resolved.arch, after_step=lambda core, params: calls.append(params))
    swapped = dataclasses.replace(resolved, arch=arch)
    cpu = torch.device("cpu")
    seen = lookups(lambda: fit_resolved(swapped, cpu))
    assert calls == [resolved.params] * TINY["steps"]
    thr = THROUGHPUT.resolve(cpu)
    seen += lookups(lambda: measure_resolved(thr, cpu))
    assert seen == {}


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_resolved_cell_has_the_cells_key(device):
    """The key does not depend on which path computed it (the sweep's resume depends on it)."""
    other = Cell("adding", "lstm", "arjovsky2016", {"T": 6}, model_params={"hidden_size": 4}, train=TINY)
    for cell in (CELL, other, dataclasses.replace(CELL, impl="reference")):
        assert cell.resolve().key(device) == cell.resolve(device).key() == cell.key(device)
    assert len({c.key(device) for c in (CELL, other, dataclasses.replace(CELL, impl="reference"))}) == 3
    assert THROUGHPUT.resolve(device).key(device) == THROUGHPUT.key(device)
