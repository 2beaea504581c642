"""The default implementation is declared per device type, not "the first in the dict":
cells and throughput cells name it as it runs on their device, and records say which ran."""

import dataclasses

import pytest

from rnnbench.measure import Shape, ThroughputCell
from rnnbench.models import MODELS, model_order
from rnnbench.train import Cell, fit


@pytest.mark.parametrize("name", model_order())
def test_every_declared_default_is_an_implementation(name):
    arch = MODELS.get(name)
    for device in ("cpu", "cuda"):
        assert arch.default_for(device) in arch.implementations
    assert arch.default_impl == arch.default_for("cpu")


def test_the_modern_recurrences_default_to_their_chunk_form():
    for name in ("mingru", "minlstm", "lru", "mamba"):
        assert MODELS.get(name).default_for("cpu") == "chunk", name


@pytest.fixture
def split_defaults(monkeypatch):
    """minGRU declared with different defaults on the two devices."""
    arch = dataclasses.replace(MODELS.get("mingru"), defaults={"cpu": "chunk", "cuda": "log_scan"})
    monkeypatch.setitem(MODELS._items, "mingru", arch)
    return arch


def test_a_cell_names_the_default_of_its_device(split_defaults):
    cell = Cell("copy", "mingru", task_params={"T": 3, "K": 2})
    assert cell.impl is None
    assert cell.on("cpu").impl == "chunk" and cell.on("cuda:0").impl == "log_scan"
    assert cell.key("cpu") == cell.on("cpu").key() != cell.key("cuda")
    assert Cell("copy", "mingru", task_params={"T": 3, "K": 2}, impl="log_scan").key("cpu") == cell.key("cuda")
    tp = ThroughputCell("mingru", None, Shape(2, 5, 4, 4))
    assert tp.on("cuda").impl == "log_scan" and tp.key("cpu") != tp.key("cuda")


def test_records_say_which_implementation_ran_and_which_is_the_default(split_defaults):
    r = fit(
        Cell("copy", "mingru", task_params={"T": 3, "K": 2}, model_params={"hidden_size": 4}, train={"steps": 2, "eval_size": 8}),
        "cpu",
    )
    assert r["model"]["implementation"] == "chunk" and r["model"]["default_implementation"] == "chunk"
    assert r["cell"]["impl"] == "chunk"  # a rerun on another device runs what ran here
    r = fit(
        Cell(
            "copy",
            "mingru",
            task_params={"T": 3, "K": 2},
            impl="log_scan",
            model_params={"hidden_size": 4},
            train={"steps": 2, "eval_size": 8},
        ),
        "cpu",
    )
    assert r["model"]["implementation"] == "log_scan" and r["model"]["default_implementation"] == "chunk"


def test_an_undeclared_default_is_refused():
    with pytest.raises(ValueError, match="default 'fft' for cuda is not an implementation"):
        dataclasses.replace(MODELS.get("mingru"), defaults={"cuda": "fft"})
