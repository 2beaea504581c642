import pandas as pd
import pytest

from rnnbench.cli import main
from rnnbench.profiles import load_profile
from rnnbench.report import report, task_label
from rnnbench.sweep import records_path, sweep

PROFILE = """
name = "mini"
seeds = [0, 1, 2]
models = ["rnn", "bigru"]
[model]
hidden_size = 4
[train]
steps = 10
eval_every = 5
eval_size = 16
[[accuracy]]
task = "adding"
params = { T = 6 }
[[accuracy]]
task = "copy"
preset = "bai2018"
params = { T = 4, K = 2 }
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    path = out / "mini.toml"
    path.write_text(PROFILE)
    sweep(load_profile(str(path)), out, "cpu", show_progress=False)
    return out


def test_accuracy_table_has_every_cell_with_mean_std_seeds_and_baseline(results):
    written = report(results)
    md = (results / "mini" / "accuracy.md").read_text()
    assert "torch 2." in md and "commit" in md and "threads" in md  # provenance in the header
    rows = [line for line in md.splitlines() if line.startswith("| adding") or line.startswith("| copy")]
    assert len(rows) == 2 and "| copy/bai2018 (T=4, K=2)" in md
    for row in rows:
        assert row.count("±") == 2 and row.count("/3)") == 2  # rnn and bigru, 3 seeds each
    csv = pd.read_csv(results / "mini" / "accuracy.csv")
    assert set(csv["model"]) == {"rnn", "bigru"} and (csv["n"] == 3).all()
    adding = csv[csv["task"].str.startswith("adding")]
    assert adding["baseline"].iloc[0] == pytest.approx(1 / 6)
    tex = (results / "mini" / "accuracy.tex").read_text()
    assert "\\caption{" in tex and "\\begin{tabular}" in tex
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) == 2 and all(p.stat().st_size > 5000 for p in pngs)
    assert len([p for p in written if p.suffix == ".svg"]) == 2


def test_report_matches_the_records(results):
    """The table's mean is the mean of the records' final metrics."""
    import json

    recs = [json.loads(l) for l in records_path(results, load_profile(str(results / "mini.toml"))).read_text().splitlines()]
    values = [r["metrics"]["mse"] for r in recs if r["model"]["name"] == "rnn" and r["task"]["name"] == "adding"]
    report(results)
    csv = pd.read_csv(results / "mini" / "accuracy.csv")
    row = csv[(csv["model"] == "rnn") & csv["task"].str.startswith("adding")].iloc[0]
    assert row["mean"] == pytest.approx(sum(values) / 3)


def test_report_survives_a_corrupt_line(results, capsys):
    raw = results / "raw" / "mini.jsonl"
    original = raw.read_bytes()
    try:
        raw.write_bytes(original + b'{"schema_version": 1, "truncated')
        assert main(["report", "--results", str(results)]) == 0
        err = capsys.readouterr().err
        assert err.startswith("rnnbench: warning: ") and "mini.jsonl:13: skipping an incomplete" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        raw.write_bytes(original)


def test_report_without_records_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "no records" in capsys.readouterr().err


def test_task_label_shows_t_and_non_default_parameters():
    assert task_label({"name": "copy", "preset": "bai2018", "params": {"T": 5, "K": 10}}) == "copy/bai2018 (T=5)"
    assert (
        task_label(
            {
                "name": "sine",
                "preset": "multisine",
                "params": {"T": 9, "H": 2, "n_sines": 3, "noise": 0.1, "min_period": 8.0, "max_period": 40.0},
            }
        )
        == "sine/multisine (T=9, H=2)"
    )


RETENTION = """
name = "ret"
seeds = [0, 1, 2]
models = ["rnn", "gru"]
[model]
hidden_size = 4
[train]
steps = 10
eval_every = 5
eval_size = 16
[[retention]]
task = "adding"
params = { T = [4, 8] }
[[retention]]
task = "sine"
axis = "H"
params = { T = 5, H = [1, 3] }
[[gradient_flow]]
task = "adding"
params = { T = 12 }
models = ["rnn", "lstm"]
seeds = [0, 1]
"""


@pytest.fixture(scope="module")
def retention_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ret")
    path = out / "ret.toml"
    path.write_text(RETENTION)
    sweep(load_profile(str(path)), out, "cpu", show_progress=False)
    report(out)
    return out


def test_retention_table_and_curves(retention_results):
    d = retention_results / "ret"
    md = (d / "retention.md").read_text()
    assert "| adding/arjovsky2016 " in md and "| sine/multisine (T=5) " in md
    csv = pd.read_csv(d / "retention.csv")
    assert set(csv["axis_value"]) == {4, 8, 1, 3} and (csv["n"] == 3).all()
    # normalised metric = mean over seeds of metric / baseline, read back from the records
    import json

    recs = [json.loads(l) for l in (retention_results / "raw" / "ret.jsonl").read_text().splitlines()]
    mine = [
        r["metrics"]["mse"] / r["metrics"]["baseline"]
        for r in recs
        if r["task"]["name"] == "adding" and r["task"]["params"]["T"] == 8 and r["model"]["name"] == "gru"
    ]
    row = csv[(csv["model"] == "gru") & (csv["axis_value"] == 8) & csv["group"].str.startswith("adding")].iloc[0]
    assert row["normalised_mean"] == pytest.approx(sum(mine) / 3)
    assert (d / "figures" / "retention_adding_arjovsky2016.png").stat().st_size > 5000


def test_largest_t_solved_needs_a_strict_majority():
    from rnnbench.report import retention_table

    summary = pd.DataFrame(
        [
            {
                "group": "g",
                "axis": "T",
                "model": "lstm",
                "axis_value": 10,
                "solved": 2,
                "n": 3,
                "steps_to_solve": 100,
                "steps": 1000,
                "batch_size": 64,
                "hidden_size": 32,
            },
            {
                "group": "g",
                "axis": "T",
                "model": "lstm",
                "axis_value": 20,
                "solved": 2,
                "n": 4,
                "steps_to_solve": 300,
                "steps": 1000,
                "batch_size": 64,
                "hidden_size": 32,
            },
            {
                "group": "g",
                "axis": "T",
                "model": "rnn",
                "axis_value": 10,
                "solved": 1,
                "n": 3,
                "steps_to_solve": 900,
                "steps": 1000,
                "batch_size": 64,
                "hidden_size": 32,
            },
        ]
    )
    row = retention_table(summary).iloc[0]
    assert row["lstm"] == "10 (step 100)"  # 2 of 4 at T=20 is no majority
    assert row["rnn"] == "none"


def test_gradient_flow_table_and_figure(retention_results):
    d = retention_results / "ret"
    md = (d / "gradient_flow.md").read_text()
    assert "decay per step at init" in md and "decay per step trained" in md
    assert "| lstm " in md and "| rnn " in md and "(n=2)" in md
    assert (d / "figures" / "gradient_flow_adding_arjovsky2016__T_12.png").exists()


def test_decay_rate_recovers_a_known_geometric_decay():
    from rnnbench.diagnostics import decay_rate

    assert decay_rate([0.5**d for d in range(20)])["decay_per_step"] == pytest.approx(0.5)
    assert decay_rate([1.0] * 5)["decay_per_step"] == pytest.approx(1.0)
    assert decay_rate([1.0, 0.0, 0.0])["decay_per_step"] is None  # one usable point


def test_paper_comparison_puts_published_numbers_beside_ours():
    from rnnbench.report import paper_comparison

    rows = [
        {
            "task_name": "copy",
            "preset": "bai2018",
            "T": 1000,
            "model": m,
            "column": m,
            "row_variant": "",
            "status": "ok",
            "value": v,
            "baseline": 0.0204,
            "seed": 0,
            "n_params": 16000,
            "steps": 100,
        }
        for m, v in (("lstm", 0.0200), ("gru", 0.0150), ("rnn", 0.0300))
    ]
    rows.append(
        {
            "task_name": "adding",
            "preset": "bai2018",
            "T": 600,
            "model": "gru",
            "column": "gru",
            "row_variant": "",
            "status": "ok",
            "value": 1e-4,
            "baseline": 1 / 6,
            "seed": 0,
            "n_params": 70000,
            "steps": 100,
        }
    )
    table, citations = paper_comparison(pd.DataFrame(rows))
    assert "Bai" in citations[0] and len(table) == 4
    by = {(r["task"].split("/")[0], r["model"]): r for _, r in table.iterrows()}
    assert by["copy", "gru"]["paper"] == 0.0197 and by["copy", "gru"]["ratio ours/paper"] == pytest.approx(0.0150 / 0.0197)
    assert by["copy", "lstm"]["paper vs baseline"] == "at" and by["copy", "lstm"]["same side"] == "yes"
    assert by["copy", "gru"]["ours vs baseline"] == "below" and by["copy", "gru"]["same side"] == "no"
    assert by["copy", "rnn"]["ours vs baseline"] == "above" and by["copy", "rnn"]["same side"] == "no"
    assert by["adding", "gru"]["paper vs baseline"] == "below" and by["adding", "gru"]["same side"] == "yes"


def test_speedup_table_divides_the_reference_time_by_each_implementations(tmp_path):
    import json

    import torch

    from rnnbench.measure import Shape, ThroughputCell, measure
    from rnnbench.results import append_record

    path = tmp_path / "raw" / "tp.jsonl"
    for impl in ("fused", "reference"):
        append_record(
            path, measure(ThroughputCell("gru", impl, Shape(2, 6, 3, 4), 0.01), torch.device("cpu")) | {"profile": "tp"}
        )
    report(tmp_path)
    records = {json.loads(l)["model"]["implementation"]: json.loads(l) for l in path.read_text().splitlines()}
    table = pd.read_csv(tmp_path / "tp" / "speedup.csv")
    assert list(table["impl"]) == ["fused"] and list(table["model"]) == ["gru"]
    for mode, column in (("fwd", "fwd T=6"), ("fwdbwd", "fwd+bwd T=6")):
        expected = records["reference"]["results"][mode]["median_s"] / records["fused"]["results"][mode]["median_s"]
        assert table[column].iloc[0] == f"{expected:.2f}×"


def test_a_model_not_swept_on_a_task_shows_a_dash_not_nan():
    from rnnbench.report import retention_table

    row = dict(axis="T", axis_value=10, solved=1, n=1, steps_to_solve=50, steps=100, batch_size=8, hidden_size=4)
    summary = pd.DataFrame([dict(row, group="adding", model="lstm"), dict(row, group="copy", model="gru")])
    table = retention_table(summary).set_index("task")
    assert table.loc["adding", "gru"] == "–" and table.loc["copy", "lstm"] == "–"
    assert table.loc["adding", "lstm"] == "10 (step 50)"
