import math

import pytest
import torch

from rnnbench.tasks.adding import AddingTask
from rnnbench.train import Cell, derive_seed, fit

SMALL = dict(task_params={"T": 10}, model_params={"hidden_size": 8}, train={"steps": 30, "eval_every": 10, "eval_size": 64})


def test_same_seed_bit_identical_metrics_and_weights():
    a = fit(Cell("adding", "gru", **SMALL), "cpu")
    b = fit(Cell("adding", "gru", **SMALL), "cpu")
    c = fit(Cell("adding", "gru", **{**SMALL, "train": {**SMALL["train"], "seed": 1}}), "cpu")
    assert a["metrics"] == b["metrics"] and a["history"] == b["history"]
    assert a["weights_sha256"] == b["weights_sha256"]
    assert a["weights_sha256"] != c["weights_sha256"] and a["metrics"] != c["metrics"]
    assert a["run_id"] != b["run_id"] and a["cell_key"] == b["cell_key"] != c["cell_key"]


def test_record_has_the_contract_fields():
    r = fit(Cell("copy", "bilstm", **{**SMALL, "task_params": {"T": 3}}), "cpu")
    for key in (
        "schema_version",
        "run_id",
        "created_at",
        "status",
        "task",
        "model",
        "train",
        "metrics",
        "timing",
        "env",
        "history",
    ):
        assert key in r, key
    assert r["status"] == "ok" and r["train"]["steps_done"] == 30
    assert {"name": "copy", "version": 1, "preset": "arjovsky2016"}.items() <= r["task"].items()
    assert r["model"]["n_params"] == sum(p.numel() for p in torch.nn.LSTM(10, 8, bidirectional=True).parameters()) + 16 * 9 + 9
    assert {"ce", "recall_acc", "baseline", "solved"} <= r["metrics"].keys()
    assert [h["step"] for h in r["history"]] == [0, 10, 20, 30]
    assert {"torch", "git_commit", "cpu", "threads", "device"} <= r["env"].keys()


def test_eval_set_does_not_depend_on_run_seed():
    """Two seeds are scored on the same held-out data: an untrained model's score at step 0
    differs only through its weights, so equal weights give equal step-0 scores."""

    def cell(seed):
        return Cell("sine", "rnn", train={"steps": 1, "eval_size": 32, "seed": seed})

    a, b = fit(cell(0), "cpu"), fit(cell(5), "cpu")
    assert a["metrics"]["baseline"] == b["metrics"]["baseline"]  # persistence on the eval set


def test_non_finite_loss_ends_the_run_as_diverged(monkeypatch):
    calls = {"n": 0}
    original = AddingTask.loss

    def loss(self, output, batch):
        calls["n"] += 1
        value = original(self, output, batch)
        return value * math.inf if calls["n"] == 5 else value

    monkeypatch.setattr(AddingTask, "loss", loss)
    r = fit(Cell("adding", "rnn", **SMALL), "cpu")
    # found at the evaluation of step 10 (no host sync per step), reported at the exact step
    assert r["status"] == "diverged" and r["diverged_at"] == 5 and r["train"]["steps_done"] == 10
    assert r["metrics"] == {}


def test_early_stop_stops_at_the_first_solved_evaluation():
    cell = Cell(
        "sine",
        "lstm",
        task_params={"T": 20, "H": 1, "noise": 0.0},
        model_params={"hidden_size": 32},
        train={"steps": 3000, "eval_every": 50, "eval_size": 256, "early_stop": True, "lr": 1e-2},
    )
    r = fit(cell, "cpu")
    m = r["metrics"]
    assert m["solved"] and m["steps_to_solve"] == r["train"]["steps_done"] < 3000


def test_derived_seeds_are_independent():
    assert derive_seed(0, "init") != derive_seed(0, "data") != derive_seed(1, "init")


@pytest.mark.slow
def test_lstm_solves_adding_t50_within_2000_steps():
    """Issue 2's acceptance run (about 10 s here)."""
    r = fit(Cell("adding", "lstm", task_params={"T": 50}, model_params={"hidden_size": 64}, train={"steps": 2000}), "cpu")
    m = r["metrics"]
    assert m["mse"] < 0.1 * m["baseline"] and m["solved"]


def flags():
    return (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


def test_cuda_determinism_is_applied_inside_the_cell_and_restored_after(monkeypatch):
    """The CUDA branch, exercised on the CPU: flags go on for the cell and come back off after it,
    so a throughput cell that follows does not inherit them."""
    import os

    from rnnbench.train import determinism

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = flags()
    with determinism(torch.device("cuda"), True):
        assert flags() == (True, True, False) and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert flags() == before and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    with determinism(torch.device("cuda"), False):
        assert flags() == (False, False, True)
    assert flags() == before


def test_fit_applies_determinism_by_default_and_records_what_was_on(monkeypatch):
    import rnnbench.train as train

    seen = []
    real = train.determinism

    def spy(device, on):
        seen.append((device.type, on))
        return real(device, on)

    monkeypatch.setattr(train, "determinism", spy)
    r = fit(Cell("adding", "rnn", **SMALL), "cpu")
    assert seen == [("cpu", True)]
    assert r["env"]["deterministic_algorithms"] is False  # CPU runs are deterministic without the switch
    fit(Cell("adding", "rnn", **{**SMALL, "train": {**SMALL["train"], "deterministic": False}}), "cpu")
    assert seen[-1] == ("cpu", False)


def test_bidirectional_models_are_refused_on_variable_length_presets():
    from rnnbench.errors import UsageError

    with pytest.raises(UsageError, match="different lengths, right-padded: a bidirectional model"):
        Cell("adding", "bilstm", "hochreiter1997", {"T": 20}).resolved()
    Cell("adding", "lstm", "hochreiter1997", {"T": 20}).resolved()  # unidirectional: fine
