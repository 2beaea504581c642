import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnnbench.cli import main
from rnnbench.results import read_records

FAST = ["--steps", "5", "--set", "train.eval_size=16", "--set", "model.hidden_size=4"]


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_task_preset_model_and_implementation(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for word in [
        "copy",
        "adding",
        "sine",
        "arjovsky2016",
        "bai2018",
        "exprnn2019",
        "hochreiter1997",
        "multisine",
        "pytorch_examples",
        "rnn",
        "lstm",
        "gru",
        "birnn",
        "bilstm",
        "bigru",
        "fused",
        "reference",
    ]:
        assert word in out, word


def test_sample_prints_json_pairs(capsys):
    code, out, _ = run_cli(
        capsys, "sample", "--task", "copy", "--preset", "bai2018", "--set", "task.T=5", "-n", "2", "--seed", "0"
    )
    assert code == 0
    data = json.loads(out)
    assert len(data["x"]) == len(data["y"]) == 2 and len(data["x"][0]) == 25
    assert data["x"][0][-11:] == [9] * 11 and data["y"][0][-10:] == data["x"][0][:10]
    code, again, _ = run_cli(
        capsys, "sample", "--task", "copy", "--preset", "bai2018", "--set", "task.T=5", "-n", "2", "--seed", "0"
    )
    assert again == out


def test_run_appends_one_record_and_prints_a_summary(tmp_path, capsys):
    out_file = tmp_path / "runs.jsonl"
    code, out, _ = run_cli(
        capsys, "run", "--task", "adding", "--model", "gru", "--device", "cpu", "--set", "task.T=8", *FAST, "--out", str(out_file)
    )
    assert code == 0
    assert "adding/arjovsky2016 gru(fused) seed=0: mse=" in out and "baseline 0.1667" in out
    [record] = read_records(out_file)
    assert record["train"]["steps"] == 5 and record["task"]["params"]["T"] == 8


BAD = [
    (["run", "--task", "nosuch", "--model", "lstm"], "unknown task 'nosuch'; choose one of: a4xz5, a5, adding, binary_addition"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "task.T=0"], "task.T=0"),
    (["run", "--task", "adding", "--model", "nosuch"], "unknown model 'nosuch'"),
    (["run", "--task", "adding", "--model", "lstm", "--preset", "x"], "unknown preset"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "model.hidden_size=0"], "model.hidden_size=0"),
    (["run", "--task", "adding", "--model", "lstm", "--steps", "0"], "train.steps=0"),
    (["run", "--task", "adding", "--model", "lstm", "--lr", "-1"], "train.lr=-1"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "task.nope=1"], "valid task parameters: T"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "oops"], "SECTION.NAME=VALUE"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "data.T=3"], "unknown section 'data'"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "task.T=many"], "not an integer"),
    (
        ["run", "--task", "adding", "--model", "lstm", "--impl", "magic"],
        "model 'lstm' has no implementation 'magic'; choose one of: fused, reference",
    ),
    (["run", "--task", "adding", "--model", "lstm", "--device", "tpu"], "device"),
    (
        ["run", "--task", "adding", "--model", "lstm", "--set", "model.nonlinearity=relu"],
        "unknown parameter model.nonlinearity; valid model parameters: hidden_size, num_layers",
    ),
    (["sample", "--task", "copy", "-n", "0"], "-n 0"),
    (["frobnicate"], "invalid choice"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "train.optimizer=sgd"], "choose one of: adam, rmsprop"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "train.early_stop=maybe"], "not a boolean"),
    (["run", "--task", "adding", "--model", "lstm", "--set", "train.clip=-1"], "train.clip=-1"),
    (["run", "--task", "copy", "--model", "lstm", "--set", "task.K=0"], "task.K=0"),
    (["run", "--task", "sine", "--model", "gru", "--set", "task.noise=-0.5"], "task.noise=-0.5"),
    (["run", "--task", "adding", "--model", "no_such_pkg_q:Core"], "cannot import no_such_pkg_q"),
    (["sweep", "nosuch_profile"], "not a built-in"),
    (["sweep", "quick", "--cell-timeout", "-1"], "--cell-timeout -1"),
    (["sweep", "quick", "--device", "gpu0"], "unknown device 'gpu0'"),
    (["throughput", "--model", "lstm", "--hidden", "0"], "hidden-size=0"),
    (["throughput", "--model", "gru", "--impl", "fused,turbo"], "model 'gru' has no implementation 'turbo'"),
    (["throughput", "--model", "gru", "--min-run-time", "0"], "min-run-time=0"),
    (["rerun", "no/such/file.jsonl"], "no results file"),
    (["check", "tests/fixtures/user_models.py:Missing"], "has no attribute 'Missing'"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(a[1:5]) for a, _ in BAD])
def test_bad_input_one_line_exit_2_no_record(argv, fragment, tmp_path, capsys):
    out_file = tmp_path / "runs.jsonl"
    extra = ["--out", str(out_file)] if argv[0] in ("run", "sweep", "throughput") else []
    code, out, err = run_cli(capsys, *argv, *extra)
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and fragment in err
    assert not out_file.exists()


def test_console_entry_point_and_module_exit_status():
    """The installed ``rnnbench`` script (pyproject's [project.scripts]) and ``python -m rnnbench``."""
    script = Path(sys.executable).parent / "rnnbench"
    assert script.exists(), "the console script is installed beside this Python"
    for cmd in ([str(script)], [sys.executable, "-m", "rnnbench"]):
        proc = subprocess.run([*cmd, "run", "--task", "nosuch", "--model", "lstm"], capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "unknown task 'nosuch'" in proc.stderr
        ok = subprocess.run([*cmd, "--help"], capture_output=True, text=True)
        assert ok.returncode == 0 and "sweep" in ok.stdout


def test_sweep_with_a_broken_profile_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[accuracy]]\ntask = 'copy'\nparams = { T = -3 }\n")
    code, out, err = run_cli(capsys, "sweep", str(bad), "--out", str(tmp_path / "res"))
    assert code == 2 and "task.T=-3" in err and str(bad) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "res").exists()


def test_rerun_reproduces_a_record_and_detects_a_mismatch(tmp_path, capsys):
    out_file = tmp_path / "runs.jsonl"
    assert (
        run_cli(
            capsys,
            "run",
            "--task",
            "sine",
            "--model",
            "gru",
            "--device",
            "cpu",
            "--set",
            "task.T=6",
            *FAST,
            "--out",
            str(out_file),
        )[0]
        == 0
    )
    [record] = read_records(out_file)
    code, out, _ = run_cli(capsys, "rerun", str(out_file), "--run-id", record["run_id"])
    assert code == 0 and "match: bit-identical" in out
    record["metrics"]["nmse"] += 1e-3  # a record that no longer matches what the code does
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(json.dumps(record) + "\n")
    code, out, _ = run_cli(capsys, "rerun", str(tampered))
    assert code == 1 and "MISMATCH" in out and "metrics.nmse" in out
    code, _, err = run_cli(capsys, "rerun", str(out_file), "--run-id", "nope")
    assert code == 2 and "no training record with run_id nope" in err
