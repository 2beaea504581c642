from pathlib import Path

import pytest

from rnnbench.check import run_checks, subjects
from rnnbench.cli import main
from rnnbench.models import MODELS, model_order

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "user_models.py"


def results(name, **kw):
    [(_, subject)] = subjects(f"{FIXTURES}:{name}", None, kw.get("bidirectional", False))
    return {r.name: r for r in run_checks(subject)}


def test_mylstm_fails_batch_independence_with_the_axis_explanation():
    r = results("MyLSTM")
    bi = r["batch independence"]
    assert bi.status == "FAIL"
    assert "batch_first" in bi.detail and "last batch element" in bi.detail


def test_the_corrected_model_passes():
    r = results("FixedLSTM")
    assert all(v.status in ("pass", "n/a") for v in r.values()), r


@pytest.mark.parametrize("name, impl", [(m, i) for m in model_order() for i in MODELS.get(m).implementations])
def test_every_builtin_passes_every_probe_that_applies(name, impl):
    if (why := MODELS.get(name).unavailable(impl)) is not None:  # the authors' kernels: their package and a GPU
        pytest.skip(f"{name} {impl}: {why}")
    [(_, subject)] = subjects(name, impl, False)
    r = {x.name: x for x in run_checks(subject)}
    assert all(v.status in ("pass", "n/a") for v in r.values()), r
    applicable = {k for k, v in r.items() if v.status == "pass"}
    expected = {"shape contract", "batch independence", "order sensitivity", "gradient reach", "seeded determinism"}
    if not MODELS.get(name).bidirectional:
        expected |= {"causality", "state carry-over"}
    assert expected <= applicable


def test_the_seed_model_as_written_gets_the_batch_time_explanation(capsys):
    """MyLSTM exactly as users write it: four constructor arguments, explicit h0/c0 from x.size(0)."""
    assert main(["check", f"{FIXTURES}:SeedLSTM"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  shape contract" in out and "Expected hidden[0] size" in out
    assert "batch/time mix-up" in out and "nn.LSTM with batch_first=False" in out
    assert f"{FIXTURES}:" in out  # the user's file and line
    assert out.strip().splitlines()[-1] == "1 probe(s) failed"


def test_whole_model_needs_no_edit_and_check_says_run_will_not_train_it(capsys):
    assert main(["check", f"{FIXTURES}:FixedLSTM"]) == 0
    out = capsys.readouterr().out
    assert "[whole model]" in out and "can be checked but not trained" in out


@pytest.mark.parametrize(
    "name, probe, fragment",
    [
        ("MeanPool", "order sensitivity", "ignores order"),
        ("Peeking", "causality", "see the future"),
        ("LastStepOnly", "shape contract", "a core must return y of shape (B, T, features)"),
        ("Forgetful", "state carry-over", "the returned state must continue the sequence"),
        ("Truncated", "gradient reach", "no gradient with respect to the first input step"),
        ("Unseeded", "seeded determinism", "two builds from the same seed gave different outputs"),
    ],
)
def test_broken_models_fail_the_right_probe(name, probe, fragment):
    """One defective core per probe: a probe that always passed would fail here."""
    r = results(name)
    assert r[probe].status == "FAIL" and fragment in r[probe].detail
    others = [n for n, v in r.items() if v.status == "FAIL" and n != probe]
    if name in ("Forgetful", "Truncated", "Unseeded"):  # otherwise sound GRUs: one defect, one failing probe
        assert not others, f"{name} should fail only {probe}, also failed {others}"


def test_peeking_model_passes_causality_when_declared_bidirectional():
    assert results("Peeking", bidirectional=True)["causality"].status == "n/a"


def test_check_command_exit_status(capsys):
    assert main(["check", f"{FIXTURES}:MyLSTM"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  batch independence" in out and "batch_first=True" in out
    assert main(["check", f"{FIXTURES}:MinGRU"]) == 0
    assert main(["check", "lstm"]) == 0


@pytest.mark.parametrize(
    "ref, fragment",
    [
        ("nosuch_pkg_xyz.mod:Thing", "cannot import nosuch_pkg_xyz.mod"),
        (f"{FIXTURES}:Nope", "has no attribute 'Nope'"),
        ("missing/file.py:X", "no such file"),
        ("lstmm", "unknown model 'lstmm'"),
    ],
)
def test_bad_model_references(ref, fragment, capsys):
    assert main(["check", ref]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_a_model_cut_off_from_its_first_step_only_at_init_passes_and_says_so():
    """RWKV-7 starts with its output projections at zero (RWKV-LM's init): every block is the
    identity, so at initialisation the last output has no gradient from the first step. The
    probe says so and passes on perturbed weights; a structural defect (Truncated above) still
    fails."""
    [(_, subject)] = subjects("rwkv7", "chunk", False)
    r = {x.name: x for x in run_checks(subject)}
    assert r["gradient reach"].status == "pass" and "only at its initialisation" in r["gradient reach"].detail
    [(_, subject)] = subjects("deltanet", "chunk", False)
    r = {x.name: x for x in run_checks(subject)}
    assert "initialisation" not in r["gradient reach"].detail


def test_check_skips_the_kernels_it_cannot_build_and_refuses_them_by_name(capsys):
    from rnnbench.models import MODELS

    arch = MODELS.get("deltanet")
    names = [label for label, _ in subjects("deltanet", None, False)]
    assert names == [f"deltanet ({i})" for i in arch.available_implementations()]
    if arch.unavailable("fla") is not None:
        assert main(["check", "deltanet", "--impl", "fla"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "implementation 'fla' cannot run here" in err
