"""Tables fit for a paper: intervals inside each metric's range, `rnnbench compare` corrected for
the number of cells it tests, best and significant entries marked, a report that owns (and
cleans up) its outputs, and the provenance of a run on a copied working tree."""

import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as sps

import rnnbench
from rnnbench.compare import compare
from rnnbench.report.build import build
from rnnbench.report.labels import provenance
from rnnbench.results import append_record, same_setup, tree_id
from rnnbench.stats import adjust, interval, mean_ci, welch
from rnnbench.tasks.base import metric_bounds

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "results"
ENV = {
    "rnnbench": "0.1.0",
    "git_commit": "0123456789abcdef",
    "git_dirty": False,
    "torch": "2.13.0",
    "python": "3.11",
    "device_name": "cpu-x",
    "cpu": "cpu-x",
    "threads": 2,
}


def record(profile, task, T, model, seed, value, metric="mse", baseline=0.17, env=ENV, when="2026-01-01T00:00:00"):
    """A training record with what the report reads (a real run's record has more)."""
    return {
        "schema_version": 2,
        "kind": "train",
        "profile": profile,
        "section": "accuracy",
        "status": "ok",
        "created_at": f"{when}.{seed:06d}",
        "run_id": f"{profile}{task}{T}{model}{seed}",
        "task": {"name": task, "preset": "arjovsky2016", "params": {"T": T}, "version": 1, "metric": metric},
        "model": {
            "name": model,
            "implementation": "fused",
            "default_implementation": "fused",
            "display": model,
            "params": {"hidden_size": 8},
            "n_params": 100,
        },
        "train": {"seed": seed, "steps": 10, "batch_size": 4},
        "metrics": {metric: value, "baseline": baseline, "solved": False},
        "history": [{"step": 0, metric: baseline}, {"step": 10, metric: value}],
        "env": env,
    }


# ---------------------------------------------------------------- intervals inside the range


def test_two_seeds_give_their_range_where_students_t_leaves_the_metrics_range():
    for values, metric in (([0.95, 0.999], "acc"), ([0.001, 0.2], "ce")):
        low, high = mean_ci(values)
        lo, hi = metric_bounds(metric)
        assert low < lo or high > hi  # the raw interval: what the tables used to show
        assert interval(values, metric_bounds(metric)) == (min(values), max(values), "range")


def test_three_or_more_seeds_give_a_t_interval_on_a_bounded_scale():
    acc = [0.97, 0.999, 1.0]  # a solved task: exactly 1 is common, and the logit of 1 is infinite
    assert mean_ci(acc)[1] > 1
    low, high, method = interval(acc, (0.0, 1.0))
    assert method == "t-arcsine" and 0 <= low < min(acc) and max(acc) <= high <= 1
    z = [math.asin(math.sqrt(v)) for v in acc]  # the same interval, computed here from its definition
    half = sps.t.ppf(0.975, 2) * sps.sem(z)
    assert low == pytest.approx(math.sin(sum(z) / 3 - half) ** 2) and high == 1.0  # cut at pi/2, mapped back
    loss = [0.0004, 0.003, 0.02]
    assert mean_ci(loss)[0] < 0
    low, high, method = interval(loss, (0.0, math.inf))
    assert method == "t-log" and 0 < low < min(loss) and high > max(loss)
    low, high, method = interval([0.0, 0.01, 0.02], (0.0, math.inf))  # no log of 0: the t interval, cut at 0
    assert method == "t-cut" and low == 0.0 and high == pytest.approx(mean_ci([0.0, 0.01, 0.02])[1])
    assert interval([1.0, 2.0, 4.0])[2] == "t" and interval([3.0])[2] == "single"


def test_the_log_scale_interval_covers_at_its_level_with_three_seeds():
    """Exact for log-normal data at any n: 95% of intervals from 3 seeds hold the geometric mean."""
    rng = random.Random(0)
    trials, covered = 4000, 0
    for _ in range(trials):
        values = [math.exp(rng.gauss(math.log(0.01), 1.5)) for _ in range(3)]
        low, high, _ = interval(values, (0.0, math.inf))
        covered += low <= 0.01 <= high
    assert abs(covered / trials - 0.95) < 0.015  # ± 4.4 binomial standard errors


# ---------------------------------------------------------------- many cells, one family


def test_holm_and_benjamini_hochberg_adjust_as_defined():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # Holm: sorted p × (m − k + 1), kept non-decreasing: 0.005·4, 0.01·3, 0.03·2, 0.04·1 -> 0.02, 0.03, 0.06, 0.06
    assert adjust(p, "holm")[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(adjust(p, "holm")[4])
    assert adjust(p, "bh")[:4] == pytest.approx(list(sps.false_discovery_control(p[:4], method="bh")))
    assert adjust(p, "none")[:4] == p[:4]


def test_correction_keeps_false_verdicts_among_pure_noise_cells_at_the_stated_rate():
    """Many families of 20 cells, both sides drawn from the same distribution (no cell has a real
    difference): uncorrected, most families hold a false 'better'; with Holm at most 5% do (the
    family-wise rate it promises), and with Benjamini–Hochberg too (its false-discovery rate
    equals the family-wise one when every cell is null)."""
    rng = random.Random(1)
    families, cells, seeds = 400, 20, 5
    false = {"none": 0, "holm": 0, "bh": 0}
    for _ in range(families):
        p = [
            welch([rng.gauss(0, 1) for _ in range(seeds)], [rng.gauss(0, 1) for _ in range(seeds)]).p_value for _ in range(cells)
        ]
        for method in false:
            false[method] += any(q < 0.05 for q in adjust(p, method))
    se = math.sqrt(0.05 * 0.95 / families)
    assert false["none"] / families > 0.5  # 1 − 0.95^20 = 0.64: the problem the correction solves
    assert false["holm"] / families < 0.05 + 3 * se and false["bh"] / families < 0.05 + 3 * se


def noise_results(tmp_path: Path, cells: int, seeds: int) -> Path:
    rng = random.Random(2)
    path = tmp_path / "raw" / "noise.jsonl"
    for T in range(5, 5 + cells):
        for model in ("gru", "lstm"):
            for seed in range(seeds):
                append_record(path, record("noise", "adding", T, model, seed, abs(rng.gauss(0.1, 0.02))))
    return tmp_path


def test_compare_verdicts_come_from_the_adjusted_p(tmp_path, capsys):
    from rnnbench.cli import main

    results = noise_results(tmp_path, cells=30, seeds=4)
    table = compare(results, "gru", "lstm")
    assert len(table) == 30 and (table["correction"] == "holm").all()
    assert list(table["p_adjusted"]) == pytest.approx(adjust(list(table["p_welch"]), "holm"))
    called = table["verdict"].str.contains(" is better than ")
    assert list(called) == list(table["p_adjusted"] < 0.05)
    assert all("Holm-adjusted p = " in v for v in table["verdict"])
    bh = compare(results, "gru", "lstm", correction="bh")
    assert list(bh["p_adjusted"]) == pytest.approx(list(sps.false_discovery_control(list(bh["p_welch"]))))
    assert main(["compare", "--results", str(results), "--a", "gru", "--b", "lstm", "--correction", "bh"]) == 0
    out = capsys.readouterr().out
    assert "p (Welch)" in out and "p (Benjamini–Hochberg)" in out and "30 cells were tested together" in out
    with pytest.raises(SystemExit) as bad:
        main(["compare", "--results", str(results), "--a", "gru", "--b", "lstm", "--correction", "bonf"])
    assert bad.value.code == 2 and "invalid choice: 'bonf'" in capsys.readouterr().err


def test_compare_says_when_two_seeds_are_too_few(tmp_path, capsys):
    from rnnbench.cli import main

    results = noise_results(tmp_path, cells=3, seeds=2)
    table = compare(results, "gru", "lstm")
    assert (table["df_welch"] < 2.01).all()  # Welch–Satterthwaite: between 1 and 2 with 2 seeds a side
    quiet = table[~table["verdict"].str.contains(" is better than ")]
    assert all("too few seeds: at " in v and "standard errors could be called" in v for v in quiet["verdict"])
    assert main(["compare", "--results", str(results), "--a", "gru", "--b", "lstm"]) == 0
    assert "3 of 3 cells have fewer than 3 seeds on a side" in capsys.readouterr().out


# ---------------------------------------------------------------- published tables: range and markers

INTERVAL = re.compile(r"\[(-?[0-9.e+-]+), (-?[0-9.e+-]+)\]|range (-?[0-9.e+-]+)–(-?[0-9.e+-]+)")


def intervals(text: str) -> list[tuple[float, float]]:
    return [(float(m[0] or m[2]), float(m[1] or m[3])) for m in INTERVAL.findall(text)]


def within(bounds: tuple[float, float], found: list[tuple[float, float]], where: str) -> None:
    lo, hi = bounds
    for a, b in found:
        assert lo <= a <= b <= hi, f"{where}: interval [{a}, {b}] outside [{lo}, {hi}]"


def rows_of_markdown(md: Path) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in md.read_text().splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return split[0], split[2:]


class Cells(HTMLParser):
    """Each table of the page as (header, rows of cell text)."""

    def __init__(self):
        super().__init__()
        self.tables, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            header, rows = self.tables[-1]
            (header if tag == "th" else rows[-1]).append(self.cell.strip())
            self.cell = None


def check_tables_in_range(root: Path) -> int:
    """Every interval of every Markdown, CSV, LaTeX and page table under ``root`` inside its
    metric's range (a table without a metric column holds non-negative quantities only)."""
    checked = 0

    def row_bounds(header: list[str], row: list[str]) -> tuple[float, float]:
        return metric_bounds(row[header.index("metric")]) if "metric" in header else (0.0, math.inf)

    for md in sorted(root.glob("*/*.md")):
        header, rows = rows_of_markdown(md)
        for row in rows:
            found = intervals(" ".join(row))
            within(row_bounds(header, row), found, f"{md}: {row[0]}")
            checked += len(found)
    for csv in sorted(root.glob("*/*.csv")):
        df = pd.read_csv(csv)
        for prefix in ("", "ours "):
            if f"{prefix}interval_low" not in df:
                continue
            for _, r in df.iterrows():
                lo, hi = metric_bounds(r["metric"])
                if "normalised_mean" in df:  # retention: metric / baseline
                    lo, hi = lo / r["baseline"], hi / r["baseline"]
                if pd.notna(r[f"{prefix}interval_low"]):
                    within((lo, hi), [(r[f"{prefix}interval_low"], r[f"{prefix}interval_high"])], str(csv))
                    checked += 1
    for tex in sorted(root.glob("*/*.tex")):
        source = tex.read_text().replace("\\_", "_")
        metric = dict(re.findall(r"\\textsuperscript\{([a-z]+)\}[^;]*?, ([a-z_0-9.]+) \((?:lower|higher) is better", source))
        head, body = source.split("\\midrule", 1)
        letters = re.findall(r"\\textsuperscript\{([a-z]+)\}", head)  # tasks as columns
        row_letter = None  # tasks as rows: the letter of the row's label (its interval row has none)
        for line in body.split("\\bottomrule", 1)[0].splitlines():
            cells = re.split(r"(?<!\\)&", line)
            label = re.search(r"\\textsuperscript\{([a-z]+)\}", cells[0])
            row_letter = label.group(1) if label else (row_letter if not cells[0].strip() else None)
            for i, cell in enumerate(cells[1:], start=1):
                found = intervals(re.sub(r"\\num\{([^}]*)\}", r"\1", cell))
                letter = letters[i - 1] if letters and i - 1 < len(letters) else row_letter
                within(metric_bounds(metric[letter]) if letter in metric else (0.0, math.inf), found, str(tex))
                checked += len(found)
    page = root / "index.html"
    if page.exists():
        parser = Cells()
        parser.feed(page.read_text())
        for header, rows in parser.tables:
            for row in filter(None, rows):
                found = intervals(" ".join(row))
                within(row_bounds(header, row), found, f"{page}: {row[0]}")
                checked += len(found)
    return checked


def test_no_published_table_shows_an_interval_outside_its_metrics_range():
    assert check_tables_in_range(PUBLISHED) > 100


def test_a_two_seed_report_stays_in_range_and_marks_the_best(tmp_path):
    path = tmp_path / "raw" / "two.jsonl"
    cells = {
        ("copy", "ce", "gru"): [0.001, 0.2],
        ("copy", "ce", "lstm"): [0.25, 0.4],
        ("mqar", "acc", "gru"): [0.95, 0.999],
        ("mqar", "acc", "lstm"): [0.5, 0.6],
    }
    for (task, metric, model), values in cells.items():
        for seed, v in enumerate(values):
            append_record(path, record("two", task, 10, model, seed, v, metric=metric, baseline=0.4))
    build(tmp_path)
    csv = pd.read_csv(tmp_path / "two" / "accuracy.csv")
    assert (csv["interval_method"] == "range").all()
    raw_outside = [
        (lo < metric_bounds(m)[0]) or (hi > metric_bounds(m)[1])
        for lo, hi, m in zip(csv["ci95_low"], csv["ci95_high"], csv["metric"])
    ]
    assert all(raw_outside)  # the raw Student-t bounds (kept in the CSV) leave the range; the tables do not
    assert check_tables_in_range(tmp_path) >= 4 * 3  # every cell, in Markdown, LaTeX and the page
    header, rows = rows_of_markdown(tmp_path / "two" / "accuracy.md")
    for task in ("copy", "mqar"):  # gru is the better of the two on both (lower ce, higher acc)
        [row] = [r for r in rows if r[0].startswith(f"{task}/")]
        gru, lstm = row[header.index("gru")], row[header.index("lstm")]
        values = cells[(task, "ce" if task == "copy" else "acc", "gru")]
        assert gru.strip().startswith(f"**{sum(values) / 2:.3g} ± ") and gru.strip().endswith("(0/2)**")
        assert f"range {min(values):.3g}–{max(values):.3g}" in gru and "**" not in lstm
    tex = (tmp_path / "two" / "accuracy.tex").read_text()
    assert tex.count("\\bfseries ") == 2 and "lowest and highest of its seeds" in tex
    assert 'class="best"' in (tmp_path / "index.html").read_text()


def test_a_significant_lead_is_marked_in_every_format(tmp_path):
    path = tmp_path / "raw" / "sig.jsonl"
    rng = random.Random(3)
    for model, centre in (("gru", 0.01), ("lstm", 0.3), ("rnn", 0.6)):
        for seed in range(6):
            append_record(path, record("sig", "adding", 10, model, seed, centre * (1 + 0.05 * rng.gauss(0, 1))))
    build(tmp_path)
    csv = pd.read_csv(tmp_path / "sig" / "accuracy.csv")
    best = csv[csv["best"]].iloc[0]
    values = {
        m: [r["metrics"]["mse"] for r in map(json.loads, path.read_text().splitlines()) if r["model"]["name"] == m]
        for m in ("gru", "lstm")
    }
    assert best["column"] == "gru" and best["runner_up"] == "lstm" and best["significant"]
    assert best["p_vs_runner_up"] == pytest.approx(sps.ttest_ind(values["gru"], values["lstm"], equal_var=False).pvalue)
    assert "** †" in (tmp_path / "sig" / "accuracy.md").read_text()
    assert "{$^\\dagger$}" in (tmp_path / "sig" / "accuracy.tex").read_text()
    assert 'class="significant"' in (tmp_path / "index.html").read_text()


# ---------------------------------------------------------------- the report owns its outputs


def test_a_second_report_removes_a_gone_profiles_outputs_and_nothing_else(tmp_path):
    for profile in ("keep", "gone"):
        for model in ("gru", "lstm"):
            for seed in range(2):
                append_record(
                    tmp_path / "raw" / f"{profile}.jsonl", record(profile, "adding", 10, model, seed, 0.1 + 0.01 * seed)
                )
    first = build(tmp_path)
    gone = [p for p in first.written if "gone" in p.relative_to(tmp_path).parts]
    assert any(p.suffix == ".svg" for p in gone) and any(p.suffix == ".tex" for p in gone)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["files"]) == {str(p.relative_to(tmp_path)) for p in first.written}
    user_files = {
        tmp_path / "README.md": "mine",
        tmp_path / "gone" / "notes.txt": "mine too",
        tmp_path / "keep" / "figures" / "extra.png": "not the report's",
    }
    for p, text in user_files.items():
        p.write_text(text)
    edited = tmp_path / "gone" / "accuracy.csv"
    edited.write_text(edited.read_text() + "# an edit\n")
    kept = {p: p.read_bytes() for p in first.written if "gone" not in p.relative_to(tmp_path).parts}

    (tmp_path / "raw" / "gone.jsonl").unlink()
    with pytest.warns(UserWarning, match="accuracy.csv: left in place"):
        second = build(tmp_path)
    assert set(second.removed) == set(gone) - {edited}
    assert not any(p.exists() for p in second.removed) and not (tmp_path / "gone" / "figures").exists()
    assert edited.exists() and second.kept == [edited]
    for p, text in user_files.items():
        assert p.read_text() == text
    assert (tmp_path / "raw" / "keep.jsonl").exists()
    for p, data in kept.items():  # the remaining profile's outputs are all still there (the page is rewritten)
        assert p.exists() and (p.read_bytes() == data or p.name in ("index.html", "index.json")), p
    assert "gone" not in (tmp_path / "index.html").read_text()
    third = build(tmp_path)  # nothing more to delete; the edited file stays, and is no longer the report's
    assert third.removed == [] and edited.exists()


# ---------------------------------------------------------------- provenance of a copied tree


def test_tree_id_is_gits_id_of_the_package(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(Path(rnnbench.__file__).parent, repo / "rnnbench", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "rnnbench" / "__pycache__").mkdir()
    (repo / "rnnbench" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")  # never committed
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "-f", "rnnbench", ":!rnnbench/__pycache__"], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    committed = subprocess.run(git + ["rev-parse", "HEAD:rnnbench"], capture_output=True, text=True, check=True).stdout.strip()
    assert tree_id(repo / "rnnbench") == committed
    (repo / "rnnbench" / "tasks" / "copy.py").write_text("# edited\n")
    assert tree_id(repo / "rnnbench") != committed


def code_of(copy: Path, **env) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", "import json; from rnnbench.results import GIT; print(json.dumps(GIT))"],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def test_a_copied_tree_records_the_stated_commit_and_its_own_tree(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(Path(rnnbench.__file__).parent, copy / "rnnbench", ignore=shutil.ignore_patterns("__pycache__"))
    plain = code_of(copy)
    assert plain["git_commit"] is None and "not a git checkout" in plain["code_source"]
    stated = code_of(copy, RNNBENCH_SOURCE_COMMIT="1f7813cd1cfc1b2418bbb6124ce04e29e386c5da")
    assert stated["git_commit"] == "1f7813cd1cfc1b2418bbb6124ce04e29e386c5da" and stated["commit_stated"] is True
    assert stated["source_tree"] == tree_id(copy / "rnnbench") and stated["git_dirty"] is None
    assert "stated by RNNBENCH_SOURCE_COMMIT" in stated["code_source"]
    assert "commit_stated" not in code_of(copy, RNNBENCH_SOURCE_COMMIT="not-a-commit")
    # the tables say so, and a stated commit with another tree is not the same setup for resuming
    env = {**ENV, **{k: stated[k] for k in ("git_commit", "git_dirty", "commit_stated", "source_tree")}}
    line = provenance(pd.DataFrame({"env": [env], "created_at": ["2026-01-01T00:00:00"]}))
    assert f"commit 1f7813cd1c as stated, package tree {stated['source_tree'][:10]}" in line
    assert same_setup(env, dict(env)) and not same_setup(env, {**env, "source_tree": "0" * 40})
