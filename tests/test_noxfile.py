"""noxfile.py's own logic, loaded with a stand-in for nox (the test environment has no nox)."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def noxfile(monkeypatch):
    fake = types.ModuleType("nox")
    fake.session = lambda f=None, **kw: f if f is not None else (lambda g: g)
    fake.options = types.SimpleNamespace()
    fake.Session = object
    monkeypatch.setitem(sys.modules, "nox", fake)
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "commits"),
    [
        (["main", "HEAD"], ["main", "HEAD"]),
        (["main", "HEAD", "--factor", "1.1"], ["main", "HEAD"]),  # the docs' example: 1.1 is no commit
        (["-b", "Forward", "A", "B", "--quick"], ["A", "B"]),
        (["A", "B", "-a", "rounds=12", "--factor=1.2"], ["A", "B"]),
        (["A", "--factor", "1.1"], ["A"]),
    ],
)
def test_asv_session_finds_the_two_commits_among_its_arguments(noxfile, args, commits):
    assert noxfile._asv_commits(args) == commits


def test_asv_factor_is_a_ratio_above_one(noxfile):
    assert float(noxfile.ASV_FACTOR) > 1


def test_the_exact_factor_is_tighter_than_the_wall_time_one(noxfile):
    assert 1 < float(noxfile.ASV_FACTOR) < float(noxfile.ASV_TIME_FACTOR)


class _Session:
    """Records what the asv session runs."""

    def __init__(self, posargs):
        self.posargs, self.runs = posargs, []

    def install(self, *args):
        pass

    def run(self, *args, **kwargs):
        self.runs.append(list(args))

    def log(self, *args):
        pass

    def error(self, message):
        raise SystemExit(message)


def test_asv_session_compares_in_two_passes_each_at_its_factor(noxfile):
    session = _Session(["A", "B", "--quick"])
    noxfile.asv(session)
    continuous = [r for r in session.runs if r[:2] == ["asv", "continuous"]]
    assert [(r[r.index("--factor") + 1], r[r.index("-b") + 1]) for r in continuous] == [
        (noxfile.ASV_FACTOR, noxfile.ASV_EXACT),
        (noxfile.ASV_TIME_FACTOR, noxfile.ASV_TIMED),
    ]
    assert all(r[-3:] == ["A", "B", "--quick"] for r in continuous)  # the user's arguments last: theirs win
    assert session.runs[-1] == ["asv", "publish"]


def test_asv_session_with_chosen_benchmarks_runs_one_pass(noxfile):
    session = _Session(["-b", "Forward", "A", "B"])
    noxfile.asv(session)
    continuous = [r for r in session.runs if r[:2] == ["asv", "continuous"]]
    assert len(continuous) == 1 and continuous[0][continuous[0].index("--factor") + 1] == noxfile.ASV_TIME_FACTOR
    assert continuous[0].count("-b") == 1  # only the user's


def test_every_asv_benchmark_is_compared_in_exactly_one_pass(noxfile, monkeypatch):
    """A benchmark neither pass's -b matches would never be compared; one both match, twice."""
    import importlib
    import inspect
    import re

    import torch

    threads = torch.get_num_threads()
    monkeypatch.setenv("RNNBENCH_ASV_REFERENCES", "1")
    bench = importlib.reload(importlib.import_module("benchmarks.bench_models"))
    torch.set_num_threads(threads)  # the import set one thread
    prefixes = ("time_", "peakmem_", "mem_", "track_")
    names = [f"bench_models.{n}" for n, f in inspect.getmembers(bench, inspect.isfunction) if n.startswith(prefixes)]
    for cname, cls in inspect.getmembers(bench, inspect.isclass):
        if cls.__module__ == bench.__name__:
            names += [f"bench_models.{cname}.{m}" for m in dir(cls) if m.startswith(prefixes)]
    assert any("Instructions" in n for n in names) and any("time_" in n for n in names)
    for name in names:
        hits = [bool(re.search(noxfile.ASV_EXACT, name)), bool(re.search(noxfile.ASV_TIMED, name))]
        assert sum(hits) == 1, (name, hits)
