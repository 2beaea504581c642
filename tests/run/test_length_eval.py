"""Length generalisation end to end: training lengths as a curriculum, saved weights checked against
their hash, ``rnnbench evaluate`` and a sweep's evaluation step adding lengths without retraining,
chunked evaluation at long lengths, the bad inputs, and unchanged cell keys for every earlier cell."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.evaluate import evaluate_lengths, evaluate_run, evaluated, length_batch, load_trained
from rnnbench.lengths import describe_lengths, parse_lengths
from rnnbench.models import MODELS
from rnnbench.profiles import load_profile
from rnnbench.rerun import cell_from_record
from rnnbench.results import read_records
from rnnbench.sweep import sweep
from rnnbench.train import Cell, fit, weights_hash
from rnnbench.weights import weights_path

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(
    task_params={"length": 8},
    model_params={"hidden_size": 8},
    train={"steps": 12, "eval_every": 6, "eval_size": 16, "lengths": "1:8", "batch_size": 16},
)

PROFILE = """
name = "lg"
seeds = [0, 1]
models = ["rnn", "gru"]
eval_samples = 16
[model]
hidden_size = 6
[train]
steps = 8
eval_every = 4
eval_size = 16
batch_size = 8
lengths = "1:6"
[[length]]
task = "parity_check"
params = {{ length = 6 }}
eval_lengths = "{lengths}"
"""


# ---- length specifications --------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, lengths",
    [
        ("41:45", (41, 42, 43, 44, 45)),
        ("41:60:10", (41, 51)),
        ("7", (7,)),
        ("3,1,2,2", (1, 2, 3)),
        ("1:3,10", (1, 2, 3, 10)),
        (12, (12,)),
        ([5, 3], (3, 5)),
    ],
)
def test_length_specs_are_inclusive_ranges(spec, lengths):
    assert parse_lengths(spec) == lengths


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("500:41", "empty range"),
        ("", "names no length"),
        ("0:3", "includes length 0"),
        ("a:b", "not a length"),
        ("1:2:3:4", "4 fields"),
        ("1:10:0", "step 0"),
        (True, "not a length specification"),
    ],
)
def test_bad_length_specs_are_one_line(spec, fragment):
    with pytest.raises(UsageError, match=fragment) as exc:
        parse_lengths(spec, "--lengths")
    assert "\n" not in str(exc.value)


def test_describe_lengths():
    assert describe_lengths(range(41, 501)) == "41..500"
    assert describe_lengths(range(41, 501, 20)) == "41..481 (every 20, 23 lengths)"
    assert describe_lengths([41, 100, 500]) == "41, 100, 500"


# ---- training on a curriculum -------------------------------------------------------------------


def test_curriculum_draws_one_length_per_batch_from_the_range(monkeypatch):
    import rnnbench.tasks.regular.parity_check as pc

    seen = []
    real = pc.ParityCheckTask.generate

    def spy(self, batch_size, generator, length):
        seen.append(length)
        return real(self, batch_size, generator, length)

    monkeypatch.setattr(pc.ParityCheckTask, "generate", spy)
    fit(Cell("parity_check", "rnn", **{**SMALL, "train": {**SMALL["train"], "steps": 60, "eval_every": 60}}), "cpu")
    training = seen[1:]  # the first is the held-out set at length 8, drawn once
    assert len(training) == 60 and set(training) <= set(range(1, 9)) and len(set(training)) >= 6


def test_curriculum_runs_are_reproducible_and_keyed_by_their_lengths():
    a, b = fit(Cell("parity_check", "gru", **SMALL), "cpu"), fit(Cell("parity_check", "gru", **SMALL), "cpu")
    assert a["weights_sha256"] == b["weights_sha256"] and a["history"] == b["history"]
    other = Cell("parity_check", "gru", **{**SMALL, "train": {**SMALL["train"], "lengths": "1:7"}})
    assert other.key() != a["cell_key"] == Cell("parity_check", "gru", **SMALL).key()
    assert a["train"]["lengths"] == "1:8"


def test_earlier_cells_keep_their_keys_and_records_their_fields():
    """The new training field is left out of keys and records at its default: every published quick
    training record's cell, rebuilt from the record, still has the key it was recorded under (but
    for cells whose default implementation has changed since, which are new cells), and a record
    has no 'lengths' unless it trained on some. (The modern profile's models gained parameters
    since its records were published, neg_eigval among them: those are new cells too.)"""
    checked = 0
    for name in ("quick",):
        raw = ROOT / "results" / "raw" / f"{name}.jsonl"
        if not raw.exists():
            pytest.skip(f"no published {name} records")
        for record in read_records(raw):
            if record.get("kind", "train") != "train" or record.get("status") != "ok":
                continue
            cell = cell_from_record(record)
            if cell.impl is None and record["model"]["implementation"] != MODELS.get(cell.model).default_for("cpu"):
                continue  # recorded under the default of its day (a scan that issue 20 replaced)
            assert cell.key("cpu") == record["cell_key"], (name, record["run_id"])
            assert "lengths" not in record["train"]
            checked += 1
    assert checked >= 150  # the published quick profile has 156 training cells
    r = fit(
        Cell("adding", "rnn", task_params={"T": 5}, model_params={"hidden_size": 4}, train={"steps": 2, "eval_size": 8}), "cpu"
    )
    assert "lengths" not in r["train"]


def test_fixed_length_tasks_refuse_training_lengths():
    with pytest.raises(UsageError, match="train.lengths='1:40': task copy has no length parameter"):
        Cell("copy", "rnn", train={"lengths": "1:40"}).resolved()
    with pytest.raises(UsageError, match="below task induction_heads' minimum 3"):
        Cell("induction_heads", "rnn", train={"lengths": "1:40"}).resolved()


# ---- weights ------------------------------------------------------------------------------------


def test_weights_are_saved_by_run_id_and_checked_against_the_record(tmp_path):
    r = fit(Cell("parity_check", "lstm", **SMALL), "cpu", weights_dir=tmp_path)
    path = weights_path(tmp_path, r["run_id"])
    assert r["weights_file"] == path.name and path.is_file()
    model, task, cell = load_trained(r, tmp_path)
    assert weights_hash(model) == r["weights_sha256"] and task.name == "parity_check"
    other = fit(Cell("parity_check", "lstm", **{**SMALL, "train": {**SMALL["train"], "seed": 1}}), "cpu", weights_dir=tmp_path)
    shutil.copy(weights_path(tmp_path, other["run_id"]), path)  # another run's weights under this run's name
    with pytest.raises(UsageError, match=f"weights file {path} does not match run {r['run_id']}"):
        load_trained(r, tmp_path)
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(UsageError, match="cannot be read"):
        load_trained(r, tmp_path)
    path.unlink()
    with pytest.raises(UsageError, match=f"weights file {path} of run {r['run_id']} is missing"):
        load_trained(r, tmp_path)


def test_runs_without_saving_have_no_weights_file(tmp_path):
    r = fit(Cell("parity_check", "rnn", **SMALL), "cpu")
    assert "weights_file" not in r and not list(tmp_path.iterdir())


# ---- evaluation -----------------------------------------------------------------------------------


def test_evaluation_records_every_length_and_later_lengths_never_change_earlier_numbers(tmp_path):
    r = fit(Cell("cycle_navigation", "gru", **SMALL), "cpu", weights_dir=tmp_path)
    first = evaluate_run(r, [9, 20, 33], tmp_path, samples=32)
    later = evaluate_run(r, [20, 50], tmp_path, samples=32)
    assert first["kind"] == later["kind"] == "length_eval" and first["of_run"] == r["run_id"] != first["run_id"]
    assert [row["length"] for row in first["per_length"]] == [9, 20, 33]
    row20 = {k: v for k, v in first["per_length"][1].items()}
    assert later["per_length"][0] == row20, "the same sequences at a length, whatever else is evaluated"
    assert {"acc", "ce", "chance", "baseline", "scaled_acc"} <= row20.keys()
    assert evaluated([first, later], r["run_id"], 32) == {9, 20, 33, 50}
    assert evaluated([first, later], r["run_id"], 64) == set()


def test_evaluation_data_does_not_depend_on_the_run():
    from rnnbench.tasks import make_task

    task = make_task("parity_check")
    a, b = length_batch(task, 77, 8), length_batch(make_task("parity_check", None, {"length": 12}), 77, 8)
    assert torch.equal(a.x, b.x) and a.x.shape == (8, 78)
    assert not torch.equal(length_batch(task, 76, 8).x[:, :10], a.x[:, :10])


def test_long_lengths_are_evaluated_in_chunks_with_the_same_result(monkeypatch, tmp_path):
    import rnnbench.train as train

    r = fit(Cell("duplicate_string", "gru", **SMALL), "cpu", weights_dir=tmp_path)
    model, task, _ = load_trained(r, tmp_path)
    whole = evaluate_lengths(model, task, [300], samples=40)
    monkeypatch.setattr(train, "EVAL_CHUNK_NUMBERS", 900 * 8 * 7)  # 7 sequences of T = 900 per chunk
    chunked = evaluate_lengths(model, task, [300], samples=40)
    assert whole[0]["input_length"] == 900
    for k in ("acc", "ce"):
        assert chunked[0][k] == pytest.approx(whole[0][k], rel=1e-5)


# ---- rnnbench evaluate ----------------------------------------------------------------------------


def test_cli_evaluate_appends_one_record_and_skips_lengths_it_has(tmp_path, capsys):
    raw = tmp_path / "res" / "raw" / "runs.jsonl"
    assert (
        main(
            [
                "run",
                "--task",
                "parity_check",
                "--model",
                "rnn",
                "--set",
                "task.length=8",
                "--set",
                "train.lengths=1:8",
                "--set",
                "model.hidden_size=8",
                "--steps",
                "10",
                "--out",
                str(raw),
                "--save-weights",
                str(tmp_path / "res" / "weights"),
            ]
        )
        == 0
    )
    run_id = read_records(raw)[0]["run_id"]
    capsys.readouterr()
    assert main(["evaluate", run_id[:6], "--lengths", "9:30:10", "--samples", "16", "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "length     9" in out and "length    29" in out and "score (mean acc over the 3 lengths" in out
    before = raw.read_bytes()
    assert main(["evaluate", run_id, "--lengths", "9:30:10", "--samples", "16", "--results", str(tmp_path / "res")]) == 0
    assert "nothing to do" in capsys.readouterr().out and raw.read_bytes() == before
    assert main(["evaluate", run_id, "--lengths", "5,40", "--samples", "16", "--results", str(tmp_path / "res")]) == 0
    assert "(within the training lengths)" in capsys.readouterr().out
    assert raw.read_bytes().startswith(before), "nothing already written is rewritten"
    evals = [r for r in read_records(raw) if r.get("kind") == "length_eval"]
    assert [e["eval"]["lengths"] for e in evals] == [[9, 19, 29], [5, 40]]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--lengths", "500:41"], "empty range"),
        (["--lengths", "0:5"], "includes length 0"),
        (["--lengths", "10", "--samples", "1"], "--samples 1 is impossible"),
    ],
)
def test_cli_evaluate_bad_input_is_one_line(tmp_path, capsys, argv, fragment):
    assert main(["evaluate", "abc", *argv, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_cli_evaluate_missing_run_or_weights_is_one_line(tmp_path, capsys):
    raw = tmp_path / "raw" / "runs.jsonl"
    assert (
        main(
            [
                "run",
                "--task",
                "induction_heads",
                "--model",
                "rnn",
                "--set",
                "task.length=6",
                "--set",
                "train.lengths=3:6",
                "--set",
                "model.hidden_size=8",
                "--steps",
                "4",
                "--out",
                str(raw),
                "--save-weights",
                str(tmp_path / "weights"),
            ]
        )
        == 0
    )
    run_id = read_records(raw)[0]["run_id"]
    capsys.readouterr()
    assert main(["evaluate", run_id, "--lengths", "1:9", "--results", str(tmp_path)]) == 2
    assert "below task induction_heads' minimum 3" in capsys.readouterr().err
    assert main(["evaluate", "ffffff", "--lengths", "9", "--results", str(tmp_path)]) == 2
    assert "no training record with run id 'ffffff'" in capsys.readouterr().err
    (tmp_path / "weights" / f"{run_id}.safetensors").unlink()
    assert main(["evaluate", run_id, "--lengths", "9", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{run_id}.safetensors of run {run_id} is missing" in err[0]


# ---- sweeps -----------------------------------------------------------------------------------------


def test_sweep_trains_evaluates_and_adds_lengths_without_retraining(tmp_path, monkeypatch):
    import rnnbench.cells as sw  # where a cell is run

    path = tmp_path / "lg.toml"
    path.write_text(PROFILE.format(lengths="7:12"))
    counts = sweep(load_profile(str(path)), tmp_path / "out", "cpu", show_progress=False)
    assert counts["ok"] == 4 and counts["evaluated"] == 4
    raw = tmp_path / "out" / "raw" / "lg.jsonl"
    records = read_records(raw)
    trains = [r for r in records if r["kind"] == "train"]
    assert len(trains) == 4 and all((tmp_path / "out" / "weights" / r["weights_file"]).is_file() for r in trains)
    assert all("7:12" not in json.dumps(r["cell"]) for r in trains), "evaluation lengths are not part of a cell"
    before = raw.read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(sw, "fit", no_training)
    path.write_text(PROFILE.format(lengths="7:12,20"))  # one more test length
    counts = sweep(load_profile(str(path)), tmp_path / "out", "cpu", show_progress=False)
    assert counts == {"skipped": 4, "ok": 0, "diverged": 0, "failed": 0, "timeout": 0, "evaluated": 4}
    assert raw.read_bytes().startswith(before)
    added = [r for r in read_records(raw) if r["kind"] == "length_eval"][4:]
    assert [r["eval"]["lengths"] for r in added] == [[20]] * 4
    again = sweep(load_profile(str(path)), tmp_path / "out", "cpu", show_progress=False)
    assert again["evaluated"] == 0


def test_a_deleted_weights_file_is_named_and_the_other_cells_are_evaluated(tmp_path, capsys):
    path = tmp_path / "lg.toml"
    path.write_text(PROFILE.format(lengths="7:9"))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    victim = sorted((out / "weights").iterdir())[0]
    victim.unlink()
    path.write_text(PROFILE.format(lengths="7:10"))
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out), "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("rnnbench: error:")]
    assert len(errors) == 1 and victim.name in errors[0]
    added = [r for r in read_records(out / "raw" / "lg.jsonl") if r["kind"] == "length_eval" and 10 in r["eval"]["lengths"]]
    assert len(added) == 3, "the three cells whose weights are there were evaluated"


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ('eval_lengths = "30:10"', "empty range"),
        ('eval_lengths = "2:5"', "lie within or below the training lengths"),
        ("", "needs eval_lengths"),
        ('eval_lengths = "41:50"\ntrain = { lengths = "" }', "give train.lengths"),
        ('eval_lengths = "41:50"\neval_samples = 1', "eval_samples=1 is impossible"),
    ],
)
def test_bad_length_entries_are_explained(tmp_path, entry, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(f'[train]\nlengths = "1:40"\n[[length]]\ntask = "parity_check"\n{entry}\n')
    with pytest.raises(UsageError, match=fragment):
        load_profile(str(path))


def test_length_entries_refuse_lengths_below_the_minimum_and_fixed_length_tasks(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[length]]\ntask = "induction_heads"\ntrain = { lengths = "3:9" }\neval_lengths = "1:20"\n')
    with pytest.raises(UsageError, match="length 1 is below task induction_heads' minimum 3"):
        load_profile(str(path))
    path.write_text('[[length]]\ntask = "copy"\ntrain = { lengths = "3:9" }\neval_lengths = "10:20"\n')
    with pytest.raises(UsageError, match="task copy has no length parameter"):
        load_profile(str(path))
    path.write_text('[[accuracy]]\ntask = "copy"\neval_lengths = "10:20"\n')
    with pytest.raises(UsageError, match="eval_lengths applies to \\[\\[length\\]\\] entries only"):
        load_profile(str(path))


def test_cli_sweep_bad_eval_range_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[train]\nlengths = "1:40"\n[[length]]\ntask = "parity_check"\neval_lengths = "500:41"\n')
    assert main(["sweep", str(path), "--out", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty range" in err[0]
