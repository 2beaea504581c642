"""The length-generalisation report section from records with known numbers: the score averages the
test lengths only, best and mean over seeds, the solved mark, newest values win, the figure, the
paper comparison, and report() writing the section beside the others."""

import json

import pandas as pd
import pytest

from rnnbench.report import report
from rnnbench.report.length import length_frame, length_summary, length_table, paper_comparison, published, side
from rnnbench.results import append_record


def train_record(run_id, model, seed, task="parity_check", preset="deletang2023", params=None, created="2026-01-01"):
    return {
        "schema_version": 2,
        "kind": "train",
        "run_id": run_id,
        "cell_key": f"key-{run_id}",
        "status": "ok",
        "created_at": created,
        "profile": "lg",
        "section": "length",
        "task": {"name": task, "version": 1, "preset": preset, "params": {"length": 40}, "metric": "acc"},
        "model": {
            "name": model,
            "display": model,
            "implementation": "fused",
            "default_implementation": "fused",
            "params": {"hidden_size": 16, **(params or {})},
            "n_params": 100,
        },
        "train": {"seed": seed, "lengths": "1:40", "steps": 100, "lr": 0.01, "batch_size": 32},
        "metrics": {"acc": 1.0},
        "env": {"git_commit": "abc", "torch": "2", "device_name": "cpu", "threads": 2},
    }


def eval_record(of_run, accs, created="2026-01-02", chance=0.5, run_id=None):
    return {
        "schema_version": 2,
        "kind": "length_eval",
        "run_id": run_id or f"e-{of_run}-{created}",
        "of_run": of_run,
        "created_at": created,
        "status": "ok",
        "profile": "lg",
        "section": "length",
        "eval": {"samples": 64, "lengths": list(accs)},
        "per_length": [{"length": n, "acc": a, "ce": 0.1, "chance": chance, "baseline": chance} for n, a in accs.items()],
        "env": {"git_commit": "abc", "torch": "2", "device_name": "cpu", "threads": 2},
    }


@pytest.fixture
def records():
    return [
        train_record("r0", "lstm", 0),
        train_record("r1", "lstm", 1),
        train_record("n0", "rnn", 0),
        eval_record("r0", {30: 0.0, 41: 1.0, 100: 1.0}),  # length 30 lies in the training range: not scored
        eval_record("r1", {41: 0.9, 100: 0.7}),
        eval_record("n0", {41: 0.5, 100: 0.52}),
    ]


def test_scores_average_the_test_lengths_and_summarise_seeds(records):
    df = length_frame(records)
    assert set(df["run_id"]) == {"r0", "r1", "n0"} and not df[df["length"] == 30]["test"].any()
    s = length_summary(df).set_index("column")
    assert s.loc["lstm", "best"] == 1.0 and s.loc["lstm", "best_seed"] == 0
    assert s.loc["lstm", "mean"] == pytest.approx((1.0 + 0.8) / 2) and s.loc["lstm", "n"] == 2
    assert s.loc["lstm", "solved"] == 1 and s.loc["rnn", "solved"] == 0
    assert s.loc["lstm", "ci95_low"] < 0.9 < s.loc["lstm", "ci95_high"]
    # two seeds: their range, never a t interval on 1 degree of freedom (which leaves [0, 1])
    assert (s.loc["lstm", "ci95_low"], s.loc["lstm", "ci95_high"], s.loc["lstm", "interval_method"]) == (0.8, 1.0, "range")
    table = length_table(length_summary(df))
    row = table.iloc[0]
    assert row["lstm"].startswith("best 1.000 ✓; mean 0.900 range 0.8–1") and row["lstm"].endswith("(1/2)")
    assert row["rnn"].startswith("best 0.510; mean 0.510 [n<2]") and "✓" not in row["rnn"]
    assert row["test lengths"] == "41, 100" and row["trained on"] == "1:40" and row["chance"] == "0.500"


def test_newest_values_win_and_reruns_replace_their_cell(records):
    later = eval_record("n0", {41: 0.9}, created="2026-01-03")
    rerun = train_record("n0b", "rnn", 0, created="2026-01-05")  # the same cell trained again
    df = length_frame(records + [later])
    assert df[(df["run_id"] == "n0") & (df["length"] == 41)]["value"].tolist() == [0.9]
    df = length_frame(records + [rerun, eval_record("n0b", {41: 0.2, 100: 0.2})])
    assert "n0" not in set(df["run_id"]) and "n0b" in set(df["run_id"])


def test_models_with_different_parameters_get_their_own_columns():
    recs = [
        train_record("a", "deltanet", 0, params={"allow_neg_eigval": False}),
        train_record("b", "deltanet", 0, params={"allow_neg_eigval": True}),
        eval_record("a", {41: 0.5}),
        eval_record("b", {41: 1.0}),
    ]
    s = length_summary(length_frame(recs))
    assert sorted(s["column"]) == ["deltanet [allow_neg_eigval=False]", "deltanet [allow_neg_eigval=True]"]


def test_paper_comparison_puts_each_number_beside_ours_on_the_papers_scale(records):
    df = length_frame(records)
    comparison, citations = paper_comparison(length_summary(df), df)
    parity = comparison[comparison["task"] == "parity_check/deletang2023"].set_index("ours")
    assert parity.loc["lstm", "paper"] == 1.0 and parity.loc["lstm", "ours best"] == 1.0
    assert parity.loc["lstm", "same side"] == "yes" and parity.loc["rnn", "same side"] == "no"
    assert parity.loc["rnn", "paper vs chance"] == "above" and parity.loc["rnn", "ours vs chance"] == "at"
    assert any("Delétang" in c for c in citations)
    grazzi = [train_record("m0", "mamba", 0, preset="grazzi2025"), eval_record("m0", {41: 0.5, 60: 0.56})]
    df = length_frame(grazzi)
    comparison, _ = paper_comparison(length_summary(df), df)
    row = comparison.set_index("model (paper)").loc["Mamba [0,1]"]
    assert row["metric"] == "scaled accuracy" and row["ours best"] == pytest.approx(0.06)
    assert "Mamba [-1,1]" not in set(comparison["model (paper)"]), "no negative eigenvalues: not that row"


def test_side_of_chance():
    assert side(0.52, 0.5) == "at" and side(0.6, 0.5) == "above" and side(0.3, 0.5) == "below"
    assert side(0.25, 0.2) == "at" and side(0.3, 0.2) == "above"


def test_published_tables_hold_the_design_notes_numbers():
    tables = {t["source_file"]: t for t in published()}
    deletang = {(r["task"], r["model"]): r["value"] for r in tables["deletang2023_table2.json"]["rows"]}
    assert deletang[("parity_check", "transformer")] == 0.52 and deletang[("modular_arithmetic", "transformer")] == 0.242
    assert deletang[("stack_manipulation", "lstm")] == 0.591 and deletang[("duplicate_string", "rnn")] == 0.503
    grazzi = {r["label"]: r["value"] for r in tables["grazzi2025_table3.json"]["rows"] if r["task"] == "parity_check"}
    assert grazzi["DeltaNet [-1,1]"] == 1.0 and grazzi["Mamba [0,1]"] == 0.0 and grazzi["mLSTM"] == 0.087
    assert all(t["confirmed"] is False for t in tables.values()), "unconfirmed until checked against arXiv"


def test_report_writes_the_section_table_figures_and_comparison(tmp_path, records):
    for r in records:
        append_record(tmp_path / "raw" / "lg.jsonl", r)
    written = {p.relative_to(tmp_path).as_posix() for p in report(tmp_path)}
    assert {
        "lg/length.md",
        "lg/length.csv",
        "lg/length_paper_comparison.md",
        "lg/figures/length_parity_check_deletang2023.svg",
        "index.html",
    } <= written
    md = (tmp_path / "lg" / "length.md").read_text()
    assert "best 1.000 ✓" in md and "the best of their seeds and learning rates" in md
    comparison = (tmp_path / "lg" / "length_paper_comparison.md").read_text()
    assert "confirmed = no" in comparison
    csv = pd.read_csv(tmp_path / "lg" / "length.csv")
    assert set(csv["column"]) == {"lstm", "rnn"} and "provenance" in csv
    assert "length generalisation" in (tmp_path / "index.html").read_text()
    json.loads((tmp_path / "index.json").read_text())


def test_models_trained_for_their_own_budgets_say_so(records):
    records[2]["train"]["steps"] = 5000  # the RNN trained longer than the LSTM
    table = length_table(length_summary(length_frame(records)))
    assert table.iloc[0]["rnn"].endswith("@5000 steps") and table.iloc[0]["lstm"].endswith("@100 steps")
    records[2]["train"]["steps"] = 100
    assert "@" not in length_table(length_summary(length_frame(records))).iloc[0]["rnn"]
