from pathlib import Path

import pytest

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.report import report
from rnnbench.train import Cell, fit

FIXTURES = Path(__file__).parent / "fixtures" / "user_models.py"
MINGRU = f"{FIXTURES}:MinGRU"
SMALL = dict(task_params={"T": 8}, model_params={"hidden_size": 8}, train={"steps": 20, "eval_every": 10, "eval_size": 32})


def test_user_core_trains_reproducibly_and_records_its_source():
    a = fit(Cell("adding", MINGRU, **SMALL), "cpu")
    b = fit(Cell("adding", MINGRU, **SMALL), "cpu")
    assert a["status"] == "ok" and a["metrics"] == b["metrics"] and a["weights_sha256"] == b["weights_sha256"]
    assert a["model"]["name"] == MINGRU and len(a["model"]["source_sha256"]) == 16
    assert a["model"]["n_params"] == 2 * (2 * 8 + 8) + (8 + 1)  # two Linear(2, 8), readout Linear(8, 1)

def test_user_model_through_cli_run_and_report(tmp_path, capsys):
    out = tmp_path / "raw" / "runs.jsonl"
    assert main(["run", "--task", "copy", "--model", MINGRU, "--set", "task.T=3", "--set", "task.K=2",
                 "--steps", "5", "--set", "train.eval_size=16", "--device", "cpu", "--out", str(out)]) == 0
    assert "MinGRU" in capsys.readouterr().out
    report(tmp_path)
    table = (tmp_path / "runs" / "accuracy.md").read_text()
    assert "MinGRU" in table


def test_user_model_has_one_implementation():
    with pytest.raises(UsageError, match="has no implementation 'reference'; choose one of: user"):
        fit(Cell("adding", MINGRU, impl="reference", **SMALL), "cpu")


def test_a_core_that_breaks_the_contract_is_named(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nclass Bad(torch.nn.Module):\n    def __init__(self, input_size, hidden_size):\n"
                   "        super().__init__()\n    def forward(self, x):\n        return x.sum()\n")
    with pytest.raises(UsageError, match="rnnbench check"):
        fit(Cell("adding", f"{bad}:Bad", **SMALL), "cpu")


def test_installed_plugin_models_are_found_by_entry_point(monkeypatch):
    import importlib.metadata

    import rnnbench.models.user as user

    ep = importlib.metadata.EntryPoint(name="mingru", value="fixtures.user_models:MinGRU", group="rnnbench.models")
    monkeypatch.setattr(user, "entry_points", lambda: {"mingru": ep})
    import rnnbench.models as models
    monkeypatch.setattr(models, "entry_points", lambda: {"mingru": ep})
    r = fit(Cell("adding", "mingru", **SMALL), "cpu")
    assert r["status"] == "ok" and r["model"]["name"] == "mingru"


def test_user_model_throughput_has_no_flop_count(capsys):
    assert main(["throughput", "--model", MINGRU, "--batch", "2", "--seq-len", "4", "--hidden", "8",
                 "--device", "cpu", "--min-run-time", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "\nuser " in out and "n/a" in out and "reference" not in out.split("\n", 2)[2]


def test_user_model_in_a_profile_with_dry_run_and_sweep(tmp_path, capsys):
    profile = tmp_path / "mine.toml"
    profile.write_text(f"""
name = "mine"
models = ["gru", "{MINGRU}"]
[model]
hidden_size = 4
[train]
steps = 5
eval_size = 16
[[accuracy]]
task = "adding"
params = {{ T = 5 }}
[throughput]
batch = 2
seq_len = 4
hidden_size = 4
min_run_time = 0.01
""")
    assert main(["sweep", str(profile), "--out", str(tmp_path), "--dry-run"]) == 0
    assert "4 cells to run" in capsys.readouterr().out
    assert main(["sweep", str(profile), "--out", str(tmp_path), "--device", "cpu", "--no-progress"]) == 0
    assert "4 ok" in capsys.readouterr().out
    report(tmp_path)
    assert "MinGRU" in (tmp_path / "mine" / "throughput.md").read_text()
    assert "MinGRU" in (tmp_path / "mine" / "accuracy.md").read_text()


def test_a_user_file_is_executed_once_per_process():
    from rnnbench.models.user import load_object
    assert load_object(MINGRU) is load_object(MINGRU)  # one class, not a fresh one per lookup
