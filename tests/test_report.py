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
    assert set(csv["model"]) == {"rnn", "bigru"} and (csv["n_seeds"] == 3).all()
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
        with pytest.warns(UserWarning, match="mini.jsonl"):
            assert main(["report", "--results", str(results)]) == 0
    finally:
        raw.write_bytes(original)


def test_report_without_records_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "no records" in capsys.readouterr().err


def test_task_label_shows_t_and_non_default_parameters():
    assert task_label({"name": "copy", "preset": "bai2018", "params": {"T": 5, "K": 10}}) == "copy/bai2018 (T=5)"
    assert task_label({"name": "sine", "preset": "multisine", "params": {"T": 9, "H": 2, "n_sines": 3, "noise": 0.1,
                       "min_period": 8.0, "max_period": 40.0}}) == "sine/multisine (T=9, H=2)"
