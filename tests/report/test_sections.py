"""Report sections are a registry: a new kind of table is one module and one registration, and the
profiles, the report, the page and the index all pick it up with no other edit."""

import json
import sys

import pandas as pd
import pytest

from rnnbench.errors import UsageError
from rnnbench.profiles import load_profile
from rnnbench.report import report
from rnnbench.sections import SECTIONS, Section, trained_sections
from rnnbench.sweep import sweep

MODULE = '''
"""A test section: the median over seeds of each cell's final metric."""
import pandas as pd
from rnnbench.report.section import Frame


def frame(inputs):
    rows = inputs.train[inputs.train["section"] == "median"] if not inputs.train.empty else inputs.train
    if rows.empty:
        return None
    data = rows.groupby(["row", "column"], sort=False)["value"].median().rename("median").reset_index()
    return Frame(rows, data)


def table(f):
    return f.data.assign(median=f.data["median"].map(lambda v: f"{v:.4f}"))


def caption(f):
    return "Median over seeds."


def figures(f, directory):
    return []
'''

PROFILE = """
name = "plug"
seeds = [0, 1]
models = ["rnn"]
[model]
hidden_size = 4
[train]
steps = 3
eval_every = 3
eval_size = 8
[[median]]
task = "adding"
params = { T = 5 }
"""


@pytest.fixture
def median_section(tmp_path, monkeypatch):
    (tmp_path / "median_section.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(SECTIONS._items, "median", Section("median", "median", "train", "median_section", trained=True))
    yield
    sys.modules.pop("median_section", None)


def test_the_builtin_sections_and_their_modules_load():
    assert list(SECTIONS) == [
        "accuracy",
        "retention",
        "gradient_flow",
        "paper_comparison",
        "length",
        "length_paper_comparison",
        "throughput",
        "speedup",
    ]
    assert trained_sections() == ("accuracy", "retention", "gradient_flow", "length")
    for _, section in SECTIONS.items():
        module = section.load()
        assert all(callable(getattr(module, f)) for f in ("frame", "table", "caption", "figures")), section.name


def test_a_registered_section_is_a_profile_entry_a_table_and_a_page_article(tmp_path, median_section):
    (tmp_path / "plug.toml").write_text(PROFILE)
    profile = load_profile(str(tmp_path / "plug.toml"))
    assert {pc.section for pc in profile.cells} == {"median"} and len(profile.cells) == 2
    assert sweep(profile, tmp_path, "cpu", show_progress=False)["ok"] == 2
    written = report(tmp_path)
    md = (tmp_path / "plug" / "median.md").read_text()
    assert md.startswith("# rnnbench plug: median\n\nMedian over seeds. Source: rnnbench ")
    records = [json.loads(line) for line in (tmp_path / "raw" / "plug.jsonl").read_text().splitlines()]
    expected = pd.Series([r["metrics"]["mse"] for r in records]).median()
    csv = pd.read_csv(tmp_path / "plug" / "median.csv")
    assert csv["median"].iloc[0] == pytest.approx(expected) and "provenance" in csv
    assert f"{expected:.4f}" in md
    assert "plug/median.md" in (tmp_path / "index.html").read_text()
    assert "plug/median.tex" in json.loads((tmp_path / "index.json").read_text())
    assert tmp_path / "plug" / "median.md" in written


def test_an_unregistered_entry_kind_is_refused(tmp_path):
    (tmp_path / "plug.toml").write_text(PROFILE)
    with pytest.raises(UsageError, match="unknown key 'median'"):
        load_profile(str(tmp_path / "plug.toml"))
