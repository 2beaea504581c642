"""A toy architecture from outside rnnbench, installed with real entry-point metadata,
taken through every command as a user would: list, run, check, throughput, sweep, report.
Nothing in rnnbench names it; if any command kept its own list of models, this fails."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "fixtures" / "toyplugin"
RNNBENCH = Path(sys.executable).parent / "rnnbench"  # the console script, as a user runs it


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(PLUGIN)}
    return subprocess.run([str(RNNBENCH), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("toy")


def test_toy_is_listed_with_its_parameters_and_implementations(workdir):
    p = cli("list", "models", cwd=workdir)
    assert p.returncode == 0, p.stderr
    line = next(i for i, l in enumerate(p.stdout.splitlines()) if l.strip().startswith("toyleaky"))
    lines = p.stdout.splitlines()
    assert "[reference; default cpu: reference, cuda: reference]" in lines[line] and "decay=0.9" in lines[line + 1]


def test_toy_runs_and_its_record_holds_every_parameter(workdir):
    out = workdir / "results" / "raw" / "runs.jsonl"
    p = cli(
        "run",
        "--task",
        "adding",
        "--model",
        "toyleaky",
        "--set",
        "task.T=6",
        "--set",
        "model.decay=0.5",
        "--set",
        "model.hidden_size=8",
        "--steps",
        "3",
        "--set",
        "train.eval_size=16",
        "--device",
        "cpu",
        "--out",
        str(out),
        cwd=workdir,
    )
    assert p.returncode == 0, p.stderr
    record = json.loads(out.read_text().splitlines()[-1])
    assert record["model"]["params"] == {"hidden_size": 8, "num_layers": 1, "decay": 0.5}
    assert record["model"]["implementation"] == "reference" and record["model"]["state_size"] == 8
    bad = cli("run", "--task", "adding", "--model", "toyleaky", "--set", "model.decay=2", cwd=workdir)
    assert bad.returncode == 2 and bad.stderr.strip() == "rnnbench: error: model.decay=2.0 is impossible; use a number in [0, 1]"


def test_toy_passes_check(workdir):
    p = cli("check", "toyleaky", cwd=workdir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "pass  state carry-over" in p.stdout and "pass  causality" in p.stdout


def test_toy_throughput_uses_its_own_flop_count(workdir):
    p = cli(
        "throughput",
        "--model",
        "toyleaky",
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
        cwd=workdir,
    )
    assert p.returncode == 0, p.stderr
    row = next(l for l in p.stdout.splitlines() if l.split()[:2] == ["reference", "fwd"])
    gflops, roofline = row.split()[5], row.split()[6]
    assert gflops != "n/a" and float(gflops) >= 0 and roofline.endswith("%")  # tiny shape: may round to 0.0
    assert "state: 8 numbers per sequence" in p.stdout


def test_toy_in_a_profile_dry_run_and_report(workdir):
    profile = workdir / "toy.toml"
    profile.write_text(
        'name = "toy"\nmodels = ["toyleaky"]\n[model]\nhidden_size = 8\n[model.toyleaky]\n'
        "decay = [0.5, 0.8]\n[train]\nsteps = 2\neval_size = 16\n"
        '[[accuracy]]\ntask = "adding"\nparams = { T = 5 }\n'
    )
    p = cli("sweep", str(profile), "--out", str(workdir / "results"), "--dry-run", cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert "2 cells to run" in p.stdout and p.stdout.count("toyleaky(reference)") == 2
    p = cli("report", "--results", str(workdir / "results"), cwd=workdir)
    assert p.returncode == 0, p.stderr
    table = (workdir / "results" / "runs" / "accuracy.md").read_text()
    assert "toyleaky" in table.splitlines()[4]  # the header row of the table


def test_no_architecture_is_named_outside_the_models_package():
    """Everything outside rnnbench/models asks the registry (the profiles and data are data)."""
    import rnnbench
    from rnnbench.models import MODELS

    root = Path(rnnbench.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.parent.name == "models" or path.parent.parent.name == "models":
            continue
        if path.parent.name == "ops":  # an op is named after its recurrence (gla, mlstm): its own registry
            continue
        text = path.read_text()
        for name in MODELS:
            if f'"{name}"' in text or f"'{name}'" in text:
                offenders.append(f"{path.relative_to(root)}: {name}")
    assert not offenders, offenders
