"""Tables you can cite: one configuration per number, intervals over seeds, a seed-level
comparison, and provenance that cannot point at another repository's code."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

import rnnbench
from rnnbench.cli import main
from rnnbench.compare import compare
from rnnbench.profiles import load_profile
from rnnbench.report import report
from rnnbench.results import read_records
from rnnbench.stats import mean_ci
from rnnbench.sweep import sweep

FOUR_CONFIGS = """
name = "four"
seeds = [0]
models = ["lstm"]
[model]
hidden_size = [8, 16]
[train]
lr = [1e-3, 1e-2]
steps = 4
eval_every = 2
eval_size = 16
[[accuracy]]
task = "adding"
params = { T = 5 }
"""


def test_different_configurations_are_never_averaged_into_one_cell(tmp_path):
    (tmp_path / "four.toml").write_text(FOUR_CONFIGS)
    counts = sweep(load_profile(str(tmp_path / "four.toml")), tmp_path, "cpu", show_progress=False)
    assert counts["ok"] == 4
    report(tmp_path)
    md = (tmp_path / "four" / "accuracy.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| adding")]
    assert len(rows) == 4  # one per configuration, each with its one seed
    for hidden in (8, 16):
        for lr in (0.001, 0.01):
            [row] = [r for r in rows if f"hidden_size={hidden}," in r and f"lr={lr}]" in r]
            assert "(0/1)" in row and "not ok" not in row
    csv = pd.read_csv(tmp_path / "four" / "accuracy.csv")
    assert (csv["n"] == 1).all() and len(csv) == 4


def test_means_carry_a_student_t_interval_over_seeds(tmp_path):
    profile = FOUR_CONFIGS.replace("seeds = [0]", "seeds = [0, 1, 2]").replace("[8, 16]", "8").replace("[1e-3, 1e-2]", "1e-2")
    (tmp_path / "ci.toml").write_text(profile)
    sweep(load_profile(str(tmp_path / "ci.toml")), tmp_path, "cpu", show_progress=False)
    report(tmp_path)
    values = [r["metrics"]["mse"] for r in read_records(tmp_path / "raw")]
    row = pd.read_csv(tmp_path / "four" / "accuracy.csv").iloc[0]
    mean, sem = sum(values) / 3, stats.sem(values)
    half = stats.t.ppf(0.975, 2) * sem
    assert row["n"] == 3 and row["ci95_low"] == pytest.approx(mean - half) and row["ci95_high"] == pytest.approx(mean + half)
    # the tables show the interval on the log scale (an MSE is positive): exp(mean ± t·sem of log values)
    logs = [math.log(v) for v in values]
    log_half = stats.t.ppf(0.975, 2) * stats.sem(logs)
    assert row["interval_method"] == "t-log"
    assert row["interval_low"] == pytest.approx(math.exp(sum(logs) / 3 - log_half))
    assert row["interval_high"] == pytest.approx(math.exp(sum(logs) / 3 + log_half))
    md = (tmp_path / "four" / "accuracy.md").read_text()
    assert "95% Student-t interval on the log scale" in md
    assert f"[{row['interval_low']:.3g}, {row['interval_high']:.3g}]" in md
    assert all(math.isnan(v) for v in mean_ci([1.0]))  # one value: no interval, and none in the tables


COMPARE = """
name = "pair"
seeds = [0, 1, 2]
models = ["rnn", "gru"]
[model]
hidden_size = 8
[train]
steps = 30
eval_every = 30
eval_size = 32
lr = 1e-2
[[accuracy]]
task = "adding"
params = { T = 6 }
"""


def test_compare_reports_the_difference_its_interval_and_welchs_test(tmp_path, capsys):
    (tmp_path / "pair.toml").write_text(COMPARE)
    sweep(load_profile(str(tmp_path / "pair.toml")), tmp_path, "cpu", show_progress=False)
    table = compare(tmp_path, "rnn", "gru")
    assert len(table) == 1
    records = read_records(tmp_path / "raw")
    a = [r["metrics"]["mse"] for r in records if r["model"]["name"] == "rnn"]
    b = [r["metrics"]["mse"] for r in records if r["model"]["name"] == "gru"]
    expected = stats.ttest_ind(b, a, equal_var=False)
    row = table.iloc[0]
    assert row["b_minus_a"] == pytest.approx(sum(b) / 3 - sum(a) / 3)
    assert row["p_welch"] == pytest.approx(expected.pvalue)
    assert row["ci95_low"] == pytest.approx(expected.confidence_interval(0.95).low)
    sentence = row["verdict"]
    if expected.pvalue < 0.05:
        better = "gru" if sum(b) < sum(a) else "rnn"
        assert sentence.startswith(f"{better} is better than")
    else:
        assert sentence.startswith("no detectable difference at 3 vs 3 seeds")
    assert main(["compare", "--results", str(tmp_path), "--a", "rnn", "--b", "gru"]) == 0
    out = capsys.readouterr().out
    assert "Welch" in out and "gru − rnn" in out and sentence in out
    assert main(["compare", "--results", str(tmp_path), "--a", "rnn", "--b", "lstm"]) == 2
    assert "no ok records with model 'lstm'" in capsys.readouterr().err


def test_an_edited_user_model_reruns_and_the_table_shows_the_newest(tmp_path):
    core = tmp_path / "edited_core.py"
    source = (
        "import torch\nclass Core(torch.nn.Module):\n    def __init__(self, input_size, hidden_size):\n"
        "        super().__init__()\n        self.rnn = torch.nn.GRU(input_size, hidden_size, batch_first=True)\n"
        "    def forward(self, x, state=None):\n        y, s = self.rnn(x * SCALE, state)\n        return y, s\n"
    )
    core.write_text("SCALE = 1.0\n" + source)
    (tmp_path / "p.toml").write_text(
        FOUR_CONFIGS.replace('models = ["lstm"]', 'models = ["edited_core.py:Core"]')
        .replace("[8, 16]", "8")
        .replace("[1e-3, 1e-2]", "1e-2")
    )
    run = [
        sys.executable,
        "-m",
        "rnnbench",
        "sweep",
        str(tmp_path / "p.toml"),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert "1 ok" in subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "1 skipped, 0 ok" in subprocess.run(run, capture_output=True, text=True, check=True).stdout
    core.write_text("SCALE = 0.0\n" + source)  # the edit: the core now sees no input
    assert "0 skipped, 1 ok" in subprocess.run(run, capture_output=True, text=True, check=True).stdout
    records = read_records(tmp_path / "raw")
    assert len(records) == 2 and records[0]["model"]["source_sha256"] != records[1]["model"]["source_sha256"]
    report(tmp_path)
    [row] = [line for line in (tmp_path / "four" / "accuracy.md").read_text().splitlines() if line.startswith("| adding")]
    assert f"{records[1]['metrics']['mse']:.3g}" in row and "(0/1)" in row


def git_state(cwd: Path, pythonpath: Path | None = None) -> dict:
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    out = subprocess.run(
        [sys.executable, "-c", "import json; from rnnbench.results import GIT; print(json.dumps(GIT))"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


@pytest.fixture
def other_repo(tmp_path):
    repo = tmp_path / "other"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "f.txt").write_text("x")
    subprocess.run(["git", "-C", str(repo), "add", "f.txt"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"], check=True)
    return repo


def test_run_from_inside_another_repository_records_none_of_its_commits(other_repo):
    theirs = subprocess.run(
        ["git", "-C", str(other_repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_state(other_repo)["git_commit"] != theirs  # the working directory does not count
    # rnnbench copied into that repository, untracked (as an install into a venv inside it would be)
    shutil.copytree(Path(rnnbench.__file__).parent, other_repo / "site" / "rnnbench")
    state = git_state(other_repo, other_repo / "site")
    assert state["git_commit"] is None and "not a git checkout" in state["code_source"]


CITATION = Path(__file__).resolve().parents[2] / "CITATION.cff"


def cffconvert(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cffconvert"), "--validate", "-i", str(path)], capture_output=True, text=True
    )


def test_citation_file_validates_and_a_broken_one_does_not(tmp_path):
    assert cffconvert(CITATION).returncode == 0
    broken = tmp_path / "CITATION.cff"
    broken.write_text("\n".join(line for line in CITATION.read_text().splitlines() if not line.startswith("title:")))
    assert cffconvert(broken).returncode != 0
