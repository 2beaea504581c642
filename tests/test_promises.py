"""README promises that no other test pinned: training defaults and the clipping order,
the newest record of a cell wins even within one second, the roofline's matrix shape,
``--compare-bare``, every asv benchmark runs, and the published tables are exactly what
``rnnbench report`` rebuilds from ``results/raw``."""

import dataclasses
import importlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnbench.results import append_record, now, read_records
from rnnbench.train import Cell, TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]


def test_training_defaults_are_the_documented_ones():
    assert dataclasses.asdict(TrainConfig()) == {
        "steps": 1000,
        "batch_size": 64,
        "optimizer": "adam",
        "lr": 3e-3,
        "clip": 1.0,
        "eval_every": 100,
        "eval_size": 1000,
        "early_stop": False,
        "seed": 0,
        "deterministic": True,
        "lengths": "",
    }


def test_gradients_are_clipped_after_backward_and_before_the_step(monkeypatch):
    events = []
    real_clip, real_step = torch.nn.utils.clip_grad_norm_, torch.optim.Adam.step

    def clip(params, max_norm, *args, **kwargs):
        params = list(params)
        events.append(("clip", max_norm, all(p.grad is not None for p in params)))
        return real_clip(params, max_norm, *args, **kwargs)

    def step(self, *args, **kwargs):
        events.append(("step",))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    fit(Cell("adding", "rnn", task_params={"T": 5}, model_params={"hidden_size": 4}, train={"steps": 3, "eval_size": 8}), "cpu")
    assert events == [("clip", 1.0, True), ("step",)] * 3, "clip every step, grads present, before step()"
    events.clear()
    fit(
        Cell(
            "adding", "rnn", task_params={"T": 5}, model_params={"hidden_size": 4}, train={"steps": 2, "eval_size": 8, "clip": 0}
        ),
        "cpu",
    )
    assert events == [("step",)] * 2, "clip = 0 turns clipping off"


def test_evaluation_cadence():
    r = fit(
        Cell(
            "copy",
            "rnn",
            task_params={"T": 3, "K": 2},
            model_params={"hidden_size": 4},
            train={"steps": 25, "eval_every": 10, "eval_size": 8},
        ),
        "cpu",
    )
    assert [h["step"] for h in r["history"]] == [0, 10, 20, 25]


def test_created_at_tells_records_of_one_second_apart_and_ties_keep_file_order(tmp_path):
    from rnnbench.report import train_frame

    assert "." in now(), "created_at has sub-second resolution"
    cell = Cell("copy", "rnn", task_params={"T": 3, "K": 2}, model_params={"hidden_size": 4}, train={"steps": 1, "eval_size": 8})
    a = fit(cell, "cpu") | {"profile": "p", "section": "accuracy"}
    b = dict(a, run_id="second", metrics=dict(a["metrics"], ce=123.0))
    b["created_at"] = a["created_at"]  # a tie: the one appended later is the newer
    path = tmp_path / "r.jsonl"
    append_record(path, a)
    append_record(path, b)
    df = train_frame(read_records(path))
    assert list(df["value"]) == [123.0]


def test_roofline_reference_is_the_architectures_matrix_product():
    from rnnbench.measure import Shape, ThroughputCell, measure

    for model, gates in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        record = measure(ThroughputCell(model, "fused", Shape(2, 3, 5, 7, 1), 0.01), torch.device("cpu"))
        assert record["matmul"]["shape"] == [[2 * 3, 5 + 7], [5 + 7, gates * 7]], model


def test_compare_bare_prints_the_ratio(capsys):
    from rnnbench.cli import main

    assert (
        main(
            [
                "throughput",
                "--model",
                "lstm",
                "--impl",
                "fused",
                "--batch",
                "4",
                "--seq-len",
                "10",
                "--hidden",
                "16",
                "--min-run-time",
                "0.02",
                "--device",
                "cpu",
                "--compare-bare",
            ]
        )
        == 0
    )
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("harness vs a bare"))
    ratio = float(line.rsplit("ratio ", 1)[1])
    assert 0.2 < ratio < 5, line  # the same work timed twice: same order of magnitude (no timing target)


def test_every_asv_benchmark_runs_once(monkeypatch):
    """Each benchmark's body as asv would call them, with every value of every
    parameter (every model at the first shape, the first model at every shape: each model's
    code and each shape's, without the full product's repeat of the larger shape for every
    model); the track_* trainings with their step counts cut to 2."""
    threads = torch.get_num_threads()
    # the module sets asv's thread count in each benchmark: keep this process's (one per xdist worker),
    # or the 2-thread ops spin against the other worker here and in every later test of this one
    monkeypatch.setenv("RNNBENCH_ASV_THREADS", str(threads))
    monkeypatch.setenv("RNNBENCH_ASV_REFERENCES", "1")  # the opt-in reference timings too
    bench = importlib.reload(importlib.import_module("benchmarks.bench_models"))
    assert hasattr(bench, "ReferenceForward")
    torch.set_num_threads(threads)  # the import set one thread
    monkeypatch.setattr(
        bench,
        "TRACK",
        {name: dict(c, train=dict(c["train"], steps=2, eval_every=2)) if "train" in c else c for name, c in bench.TRACK.items()},
    )
    # Instructions' setup_cache counts every core under valgrind (minutes): here a stand-in that
    # records what it was asked for; tests/test_instructions.py runs the real count
    asked = []

    def fake_count(models, shape):
        asked.append((list(models), shape))
        return {m: {"forward": 10 * i + 1, "forward_backward": 10 * i + 2} for i, m in enumerate(models)}

    instructions = importlib.import_module("benchmarks.instructions")
    monkeypatch.setattr(instructions, "count", fake_count)
    monkeypatch.setattr(instructions, "unavailable", lambda: None)
    ran = 0
    for _, cls in inspect.getmembers(bench, inspect.isclass):
        bodies = [n for n in dir(cls) if n.startswith(("time_", "peakmem_", "mem_", "track_"))]
        if not bodies or cls.__module__ != bench.__name__:
            continue
        params = getattr(cls, "params", ())
        grids = [] if not params else (params if isinstance(params[0], (list, tuple)) else [params])
        combos = {
            tuple(g[0] for g in grids[:i]) + (v,) + tuple(g[0] for g in grids[i + 1 :]) for i, g in enumerate(grids) for v in g
        }
        cache = (cls().setup_cache(),) if hasattr(cls, "setup_cache") else ()  # once per class, as asv
        for combo in sorted(combos, key=str) or [()]:
            obj = cls()
            if hasattr(obj, "setup"):
                obj.setup(*cache, *combo)
            for name in bodies:
                value = getattr(obj, name)(*cache, *combo)
                if cache:  # the count of this model and pass, out of the one count of every core
                    i = bench.ARCHS.index(combo[0])
                    assert value == 10 * i + (1 if combo[1] == "forward" else 2), (combo, value)
                ran += 1
    for name, fn in inspect.getmembers(bench, inspect.isfunction):
        if name.startswith("track_"):
            assert isinstance(fn(), (int, float))
            ran += 1
    assert ran >= 3 * len(bench.ARCHS)
    assert asked == [(bench.ARCHS, bench.COUNT_SHAPE)]  # one count per commit, of every core


def test_asv_timings_have_no_setup_hooks():
    """asv times one call per sample when a benchmark has a setup (asv#966): sub-millisecond
    samples, the noise the timings were redesigned against. The time_* classes build their cores
    in the benchmark process instead, and asv calibrates how many calls make a sample."""
    bench = importlib.import_module("benchmarks.bench_models")
    timed = [c for _, c in inspect.getmembers(bench, inspect.isclass) if any(n.startswith("time_") for n in dir(c))]
    assert timed
    for cls in timed:
        assert not hasattr(cls, "setup"), cls.__name__
        assert cls.sample_time >= 0.01 and cls.rounds >= 2, cls.__name__


def test_asv_benchmarks_run_in_a_process_forked_after_their_import():
    """asv.conf.json's forkserver imports the benchmarks once and forks every benchmark from
    there. A thread pool started at import (an op rnnbench runs while importing, on 2 threads)
    makes the forked child hang on its first parallel op; this import must leave none."""
    code = (
        "import os, sys; sys.path.insert(0, '.'); import benchmarks.bench_models as b\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    b._forward('lstm', b.SHAPE); os._exit(0)\n"
        "os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    env = dict(os.environ, RNNBENCH_ASV_THREADS="2", OMP_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0


@pytest.mark.parametrize("profile", ["quick", "modern", "modern_retention"])
def test_published_tables_are_rebuilt_exactly_from_the_raw_records(profile, tmp_path):
    from rnnbench.report import report

    raw = ROOT / "results" / "raw" / f"{profile}.jsonl"
    if not raw.exists():
        pytest.skip(f"no published {profile} records")
    (tmp_path / "raw").mkdir()
    shutil.copy(raw, tmp_path / "raw")
    report(tmp_path)
    published = sorted((ROOT / "results" / profile).glob("*.md"))
    assert published
    for md in published:
        assert (tmp_path / profile / md.name).read_text() == md.read_text(), f"{md} drifted from its records"


def test_the_scan_floor_benchmark_times_every_model_and_its_stand_ins_reach_every_parameter(capsys, monkeypatch):
    """benchmarks/scan_floor.py (results/README.md, "What the layers around the scans cost"): a row
    per model with its floor; the floor core really runs without its recurrence (the op is never
    called), and a stand-in that drops a parameter's gradient is refused, not timed."""
    floor = importlib.import_module("benchmarks.scan_floor")
    threads = torch.get_num_threads()
    floor.main(batch=2, seq_len=9, hidden=8, threads=threads, rounds=1, min_run_time=0.01)
    torch.set_num_threads(threads)
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split() and line.split()[0] in floor.TARGETS}
    assert set(rows) == set(floor.TARGETS) and "free scan ×" in out
    import rnnbench.models.architectures.mamba as mamba
    from rnnbench.models import build_core

    core = build_core("mamba", "chunk", 8, hidden_size=8)
    floor.stand_ins("mamba")(core)
    monkeypatch.setattr(mamba, "selective_scan", lambda *a, **k: pytest.fail("the floor ran the scan"))
    core(torch.randn(2, 9, 8))

    def skipping_delta(name):  # y = x: Δ, B, C and A reach nothing, so dt_proj would get no backward
        def swap(core):
            for layer in core.layers:
                layer.scan = lambda x, delta, A, Bm, Cm, h0, neg=False: (x, h0)

        return swap

    monkeypatch.setattr(floor, "stand_ins", skipping_delta)
    monkeypatch.setattr(floor, "TARGETS", {"mamba": 3.0})
    with pytest.raises(RuntimeError, match="passes no gradient to .*dt_proj"):
        floor.main(batch=2, seq_len=9, hidden=8, threads=threads, rounds=1, min_run_time=0.01)
    torch.set_num_threads(threads)


def test_the_chunk_cost_breakdown_runs_and_counts_what_the_engine_dispatches(capsys):
    """benchmarks/chunk_costs.py (results/README.md, "What the chunk form costs"): every stage
    of the chunk form gets a row, and its dispatch column is the number of ATen calls the
    engine really makes at that size (counted here with the profiler), so the published
    breakdown cannot drift from the code."""
    costs = importlib.import_module("benchmarks.chunk_costs")
    threads = torch.get_num_threads()
    costs.main(batch=2, seq_len=40, hidden=4, threads=threads, repeats=2, min_run_time=0.01)
    torch.set_num_threads(threads)
    out = capsys.readouterr().out
    rows = {line[:23].strip(): line for line in out.splitlines() if line[:23].strip().startswith(("fwd:", "bwd:"))}
    assert len(rows) == 12 and "chunk is" in out and "10x needs" in out
    from rnnbench.ops import chunked

    C, n = 4, 10  # chunk_size(40) = round(√(40/3)) = 4
    a, b = torch.rand(2, 40, 4) + 0.5, torch.randn(2, 40, 4)
    A, H = chunked.to_chunks(a, C, 1.0), chunked.to_chunks(b, C)
    e, p = chunked.local(A.unbind(0), H.unbind(0), False)
    with torch.profiler.profile() as prof:
        chunked.carry(e, p, None, False)
    calls = sum(
        ev.count for ev in prof.key_averages() if ev.key in ("aten::addcmul", "aten::unbind", "aten::zero_", "aten::empty_like")
    )
    assert calls == n + 4  # n − 1 steps, three unbinds, the buffer and its first state
    assert rows["fwd: carry"].split()[2] == str(calls), rows["fwd: carry"]
