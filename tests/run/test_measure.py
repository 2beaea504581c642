import pytest
import torch

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.measure import Shape, ThroughputCell, build, forward_flops, measure, memory_bytes, step_functions, time_it

CPU = torch.device("cpu")
TINY = Shape(batch=2, seq_len=5, input_size=3, hidden_size=4, num_layers=1)


@pytest.mark.parametrize("model, gates", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_flop_count_follows_the_formula(model, gates):
    s = Shape(batch=8, seq_len=10, input_size=16, hidden_size=32, num_layers=2)
    one = 2 * 8 * 10 * (16 + 32) * gates * 32
    two = 2 * 8 * 10 * (32 + 32) * gates * 32
    assert forward_flops(ThroughputCell(model, None, s)) == one + two
    bi_second = 2 * 8 * 10 * (64 + 32) * gates * 32
    assert forward_flops(ThroughputCell("bi" + model, None, s)) == 2 * one + 2 * bi_second


def test_timed_statements_call_the_core_once_and_compute_real_gradients():
    core, x = build(ThroughputCell("lstm", "fused", TINY), CPU)
    calls = []
    core.register_forward_hook(lambda *a: calls.append(1))
    fns = step_functions(core, x)
    calls.clear()
    y, _ = fns["fwd"]()
    assert len(calls) == 1 and not y.requires_grad
    grads = fns["fwdbwd"]()
    assert len(calls) == 2 and len(grads) == len(list(core.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in core.parameters())  # nothing accumulates between timed runs


def test_time_it_takes_at_least_the_minimum_number_of_runs():
    import time

    m = time_it(lambda: torch.ones(3).sum(), min_run_time=0.01, min_runs=5)
    assert len(m.times) >= 5 and m.median > 0
    slept = time_it(lambda: time.sleep(0.005), min_run_time=0.01, min_runs=5)
    assert len(slept.times) >= 5 and 0.005 <= slept.median < 0.5, "it measures seconds per call"


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("model", ["rnn", "bigru", "lstm"])
def test_throughput_record(model, impl):
    r = measure(ThroughputCell(model, impl, TINY, min_run_time=0.01), CPU)
    assert r["kind"] == "throughput" and r["status"] == "ok" and r["env"]["device"] == "cpu"
    flops = forward_flops(ThroughputCell(model, impl, TINY))
    for mode, factor in (("fwd", 1), ("fwdbwd", 3)):
        m = r["results"][mode]
        assert m["flops"] == factor * flops
        assert m["tokens_per_s"] == pytest.approx(TINY.batch * TINY.seq_len / m["median_s"])
        assert m["roofline"] == pytest.approx(m["flop_per_s"] / r["matmul"]["flop_per_s"])
        assert m["runs"] >= 5 and m["iqr_s"] >= 0
    # training holds more than inference: the saved activations
    assert r["results"]["fwdbwd"]["memory_bytes"] > r["results"]["fwd"]["memory_bytes"]


@pytest.mark.parametrize("model, impl", [("mingru", "reference"), ("lstm", "fused"), ("mamba", "chunk")])
def test_measuring_saved_memory_leaves_no_graph_behind(model, impl):
    """The saved-tensor count must not keep the graph it counted: a sweep measures one cell after
    another in one process (a pack hook that returned its tensor kept every cell's graph: 4.1 GB
    resident after two T = 4096 cells, 5.6 GB after four, until the kernel ended a sweep)."""
    import gc
    import warnings

    def graph_tensors():
        gc.collect()
        with warnings.catch_warnings():  # isinstance on some of torch's deprecated module attributes warns
            warnings.simplefilter("ignore")
            return {id(o) for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.grad_fn is not None}

    cell = ThroughputCell(model, impl, Shape(batch=2, seq_len=9, input_size=3, hidden_size=4))
    core, x = build(cell, torch.device("cpu"))
    before = graph_tensors()
    size, _ = memory_bytes(core, x, "fwdbwd")
    assert size > 0
    assert graph_tensors() - before == set()


def test_cpu_training_memory_grows_with_sequence_length():
    short = measure(ThroughputCell("lstm", "reference", Shape(2, 5, 3, 4), 0.01), CPU)
    long = measure(ThroughputCell("lstm", "reference", Shape(2, 50, 3, 4), 0.01), CPU)
    assert long["results"]["fwdbwd"]["memory_bytes"] > 5 * short["results"]["fwdbwd"]["memory_bytes"] / 2


@pytest.mark.parametrize(
    "cell, fragment",
    [
        (ThroughputCell("lstn", "fused", TINY), "unknown model"),
        (ThroughputCell("lstm", "fast", TINY), "has no implementation 'fast'"),
        (ThroughputCell("lstm", "fused", Shape(batch=0)), "batch=0"),
        (ThroughputCell("lstm", "fused", TINY, min_run_time=0), "min-run-time=0"),
    ],
)
def test_bad_throughput_cells(cell, fragment):
    with pytest.raises(UsageError, match=fragment):
        cell.validate()


def test_throughput_command_prints_both_modes(capsys, tmp_path):
    out = tmp_path / "tp.jsonl"
    assert (
        main(
            [
                "throughput",
                "--model",
                "gru",
                "--batch",
                "2",
                "--seq-len",
                "4",
                "--hidden",
                "8",
                "--device",
                "cpu",
                "--min-run-time",
                "0.01",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "tokens/s" in text and "GFLOP/s" in text and "roofline" in text
    assert text.count("fwdbwd") == 2 and text.count("fwd ") >= 2  # fused and reference
    assert len(out.read_text().splitlines()) == 2
