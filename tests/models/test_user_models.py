from pathlib import Path

import pytest

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.report import report
from rnnbench.train import Cell, fit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "user_models.py"
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
    assert (
        main(
            [
                "run",
                "--task",
                "copy",
                "--model",
                MINGRU,
                "--set",
                "task.T=3",
                "--set",
                "task.K=2",
                "--steps",
                "5",
                "--set",
                "train.eval_size=16",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "MinGRU" in capsys.readouterr().out
    report(tmp_path)
    table = (tmp_path / "runs" / "accuracy.md").read_text()
    assert "MinGRU" in table


def test_user_model_has_one_implementation():
    with pytest.raises(UsageError, match="has no implementation 'reference'; choose one of: user"):
        fit(Cell("adding", MINGRU, impl="reference", **SMALL), "cpu")


def test_a_core_that_breaks_the_contract_is_named(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch\nclass Bad(torch.nn.Module):\n    def __init__(self, input_size, hidden_size):\n"
        "        super().__init__()\n    def forward(self, x):\n        return x.sum()\n"
    )
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
    assert (
        main(
            [
                "throughput",
                "--model",
                MINGRU,
                "--batch",
                "2",
                "--seq-len",
                "4",
                "--hidden",
                "8",
                "--device",
                "cpu",
                "--min-run-time",
                "0.01",
            ]
        )
        == 0
    )
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


EXPANDING = f"{FIXTURES}:Expanding"


def test_a_parameter_the_core_does_not_take_is_refused_naming_what_it_takes(capsys):
    code = main(["run", "--task", "adding", "--model", MINGRU, "--set", "model.num_layers=2", "--steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (f"rnnbench: error: model '{MINGRU}' takes no parameter model.num_layers; it takes: hidden_size")


def test_a_parameter_rnnbench_does_not_know_is_passed_through_and_recorded():
    r = fit(
        Cell(
            "adding",
            EXPANDING,
            model_params={"hidden_size": 4, "expansion_factor": "2"},
            task_params={"T": 5},
            train={"steps": 2, "eval_size": 8},
        ),
        "cpu",
    )
    assert r["model"]["params"] == {"hidden_size": 4, "expansion_factor": 2}
    gru = 3 * (8 * 2 + 8 * 8 + 2 * 8)  # nn.GRU(2, 8): a hidden size of 4 × 2
    assert r["model"]["n_params"] == gru + 8 + 1
    assert r["model"]["display"] == "Expanding" and r["model"]["implementation"] == "user"


def test_a_user_core_that_declares_its_flops_gets_gflops_and_roofline(capsys):
    assert (
        main(
            [
                "throughput",
                "--model",
                EXPANDING,
                "--batch",
                "2",
                "--seq-len",
                "4",
                "--hidden",
                "8",
                "--set",
                "model.expansion_factor=2",
                "--device",
                "cpu",
                "--min-run-time",
                "0.01",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    row = next(l for l in out.splitlines() if l.split()[:2] == ["user", "fwd"])
    assert row.split()[5] != "n/a" and row.split()[6].endswith("%")
    assert "state: 16 numbers per sequence" in out


def test_errors_in_the_users_code_are_one_line_with_its_file_and_line(capsys):
    code = main(["run", "--task", "adding", "--model", f"{FIXTURES}:Raising", "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "ValueError: this core is broken on purpose" in err and f"(at {FIXTURES}:" in err and "--debug" in err
    assert main(["check", f"{FIXTURES}:Raising"]) == 1
    assert f"(at {FIXTURES}:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="broken on purpose"):
        main(["run", "--task", "adding", "--model", f"{FIXTURES}:Raising", "--steps", "1", "--debug"])


def write_core_with_sibling(folder, scale="1.0"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helpers.py").write_text(f"SCALE = {scale}\n")
    (folder / "sibling_core.py").write_text(
        "import torch\nfrom helpers import SCALE\n\nclass Core(torch.nn.Module):\n"
        "    def __init__(self, input_size, hidden_size):\n        super().__init__()\n"
        "        self.rnn = torch.nn.GRU(input_size, hidden_size, batch_first=True)\n"
        "    def forward(self, x, state=None):\n        y, s = self.rnn(x * SCALE, state)\n        return y, s\n"
    )
    return f"{folder / 'sibling_core.py'}:Core"


def test_a_file_that_imports_its_sibling_loads_and_the_sibling_is_in_the_source_hash(tmp_path):
    import sys

    from rnnbench.models import resolve_model
    from rnnbench.models.user import source_hash

    ref = write_core_with_sibling(tmp_path / "pkg_a")
    arch = resolve_model(ref)
    assert {Path(f).name for f in arch.source_files} == {"sibling_core.py", "helpers.py"}
    before = source_hash(arch.source_files)
    (tmp_path / "pkg_a" / "helpers.py").write_text("SCALE = 2.0\n")
    assert source_hash(arch.source_files) != before
    sys.modules.pop("helpers", None)


def test_profile_model_paths_resolve_against_the_profile_folder(tmp_path, monkeypatch):
    from rnnbench.profiles import load_profile

    folder = tmp_path / "proj"
    write_core_with_sibling(folder / "cores")
    (folder / "p.toml").write_text(
        'name = "p"\nmodels = ["cores/sibling_core.py:Core"]\n[model]\nhidden_size = 4\n'
        '[train]\nsteps = 1\n[[accuracy]]\ntask = "adding"\nparams = { T = 5 }\n'
    )
    monkeypatch.chdir(tmp_path)  # not the profile's folder
    [pc] = load_profile(str(folder / "p.toml")).cells
    assert pc.cell.model == f"{(folder / 'cores' / 'sibling_core.py').resolve()}:Core"
    import sys

    sys.modules.pop("helpers", None)


def test_a_module_reference_works_from_the_console_script(tmp_path):
    """``pkg.mod:Name`` from the working directory, as ``python -m rnnbench`` would find it."""
    import subprocess
    import sys

    (tmp_path / "mycores").mkdir()
    (tmp_path / "mycores" / "__init__.py").write_text("")
    (tmp_path / "mycores" / "gru.py").write_text(
        "import torch\nclass Core(torch.nn.GRU):\n    def __init__(self, input_size, hidden_size):\n"
        "        super().__init__(input_size, hidden_size, batch_first=True)\n"
    )
    script = Path(sys.executable).parent / "rnnbench"
    p = subprocess.run([str(script), "check", "mycores.gru:Core"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0 and "all probes passed" in p.stdout, p.stdout + p.stderr


def test_list_describes_a_plugin_class_by_its_constructor(monkeypatch, capsys):
    import importlib.metadata

    import rnnbench.models as models
    import rnnbench.models.user as user

    ep = importlib.metadata.EntryPoint(name="expanding", value="fixtures.user_models:Expanding", group="rnnbench.models")
    monkeypatch.setattr(user, "entry_points", lambda: {"expanding": ep})
    monkeypatch.setattr(models, "entry_points", lambda: {"expanding": ep})
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "expanding" in out and "hidden_size=64, expansion_factor=1" in out
