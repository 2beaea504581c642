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
