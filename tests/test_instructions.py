"""benchmarks/instructions.py: instruction counts under callgrind, which asv compares at
ASV_FACTOR (the Instructions benchmark). Each count starts one valgrind process (about a
minute: torch is imported under valgrind)."""

import importlib.util
from pathlib import Path

import pytest

# by path: the tests run without the repository root on sys.path (pytest's entry point, as in CI)
_FILE = Path(__file__).resolve().parents[1] / "benchmarks" / "instructions.py"
_spec = importlib.util.spec_from_file_location("asv_instructions", _FILE)
instructions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(instructions)
needs_valgrind = pytest.mark.skipif(instructions.unavailable() is not None, reason=str(instructions.unavailable()))


@needs_valgrind
def test_counts_see_the_work_and_leave_out_what_the_commit_lacks():
    """The Elman RNN's forward at twice the sequence runs about twice the steps, so about twice
    the instructions; its backward adds to its forward; a model the commit lacks is left out."""
    short = instructions.count(["rnn", "no_such_model"], "2x8x16")
    long = instructions.count(["rnn"], "2x16x16")
    assert set(short) == {"rnn"}
    fwd, fwd_bwd = short["rnn"]["forward"], short["rnn"]["forward_backward"]
    assert 0 < fwd < fwd_bwd
    assert 1.5 < long["rnn"]["forward"] / fwd < 2.5, (fwd, long)


def test_a_file_that_is_not_a_callgrind_dump_is_refused(tmp_path: Path):
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("events: Ir\nsummary: 5\ntotals: 12345\n")
    assert instructions.totals(dump) == 12345
    dump.write_text("not a profile\n")
    with pytest.raises(RuntimeError, match="not a callgrind dump"):
        instructions.totals(dump)
