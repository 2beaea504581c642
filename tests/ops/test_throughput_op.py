"""``rnnbench throughput --op``: an op timed alone, every form asked for, a ratio line, a
record per form; bad names and values are one line, exit 2. (Speed itself is a benchmark's
business, not a test's: nothing here asserts a time.)"""

import pytest

from rnnbench.cli import main
from rnnbench.ops import OPS
from rnnbench.results import read_records


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


TINY = ["--batch", "2", "--hidden", "8", "--min-run-time", "0.01"]


def test_both_forms_are_timed_with_a_ratio_and_recorded(capsys, tmp_path):
    out_file = tmp_path / "ops.jsonl"
    code, out, err = run_cli(
        capsys,
        "throughput",
        "--op",
        "linear_recurrence",
        "--form",
        "chunk,recurrent",
        "--seq-len",
        "9,33",
        *TINY,
        "--out",
        str(out_file),
    )
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["chunk"], ["recurrent"])]
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (f, t, m) for f in ("chunk", "recurrent") for t in ("9", "33") for m in ("fwd", "fwdbwd")
    }
    assert "T=33: chunk is fwd" in out and "as fast as recurrent" in out
    records = read_records(out_file)
    assert [(r["op"]["form"], r["shape"]["seq_len"]) for r in records] == [
        ("chunk", 9),
        ("recurrent", 9),
        ("chunk", 33),
        ("recurrent", 33),
    ]
    r = records[0]
    assert r["kind"] == "op_throughput" and r["env"]["threads"] >= 1
    assert r["results"]["fwdbwd"]["traffic_bytes"] == 2 * r["results"]["fwd"]["traffic_bytes"] > 0
    assert r["memory"]["bytes"] > 0 and 0 < r["results"]["fwd"]["roofline"]


@pytest.mark.parametrize("name", list(OPS))
def test_every_registered_op_runs_every_form(capsys, name):
    code, out, err = run_cli(capsys, "throughput", "--op", name, "--seq-len", "5", *TINY)
    assert code == 0, err
    for form in OPS.get(name).forms:
        assert f"\n{form} " in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--op", "doubling_scan"], "unknown op 'doubling_scan'; choose one of: "),
        (["--op", "linear_recurrence", "--form", "fft"], "unknown form 'fft'; choose one of: chunk, log_scan, native, recurrent"),
        (["--op", "selective_scan", "--set", "op.d_state=0"], "op.d_state=0 is impossible"),
        (["--op", "selective_scan", "--set", "op.heads=2"], "unknown parameter op.heads; valid op parameters: d_state"),
        (["--op", "linear_recurrence", "--seq-len", "0"], "seq-len=0 is impossible"),
        (["--op", "linear_recurrence", "--seq-len", "a,b"], "--seq-len 'a,b' is not a list of integers"),
        (["--op", "linear_recurrence", "--impl", "chunk"], "use --form (not --impl)"),
        (["--op", "linear_recurrence", "--model", "lstm"], "give --model NAME (an architecture) or --op NAME"),
        (["--model", "lstm", "--form", "chunk"], "--form and --dtype are for --op"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(capsys, argv, fragment):
    code, out, err = run_cli(capsys, "throughput", *argv, *TINY)
    assert code == 2 and fragment in err and err.count("\n") == 1 and not out
