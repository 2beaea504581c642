"""Running at the machine's speed, pinned without timing anything: the reference loops'
backward is linear in T (counted in elements the backward writes), start-up imports
nothing heavy, the thread count is applied and recorded, a busy machine is flagged, and
a log gets one line per finished cell."""

import json
import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rnnbench.models import MODELS, build_core, model_order
from rnnbench.results import busy_record, read_records


class ElementCounter(TorchDispatchMode):
    """Sums the elements of every tensor the dispatched operations return."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.elements += t.numel()
        return out


def backward_elements(name: str, T: int) -> int:
    core = build_core(name, "reference", input_size=4, hidden_size=8)
    x = torch.randn(2, T, 4, requires_grad=True)
    y, _ = core(x)
    loss = y.sum()
    with ElementCounter() as counter:
        loss.backward()
    return counter.elements


@pytest.mark.parametrize("name", model_order())
def test_reference_backward_is_linear_in_T(name):
    """8x the length must cost about 8x the backward's work. Reading x[:, t] in the loop
    instead of x.unbind(1) makes each step's backward write a zero tensor the size of x
    (ratio ~64 here); that pattern fails this test. An architecture whose state grows with T
    (a Transformer's KV cache: each step attends to every earlier one) is quadratic by
    definition: 8x the length may cost 64x, not the 512x of a quadratic pattern inside it."""
    arch = MODELS.get(name)
    p = arch.params({"hidden_size": 8})
    grows = arch.state_numbers(p, 1) != arch.state_numbers(p, 2)
    short, long = backward_elements(name, 64), backward_elements(name, 512)
    limit = 80 if grows else 10
    assert long / short < limit, f"{name}: backward elements grow {long / short:.1f}x for 8x T"


def test_the_quadratic_pattern_is_caught():
    """The negative control: the same count on a loop that indexes x[:, t]."""
    w = torch.randn(4, 8)

    def elements(T):
        x = torch.randn(2, T, 4, requires_grad=True)
        h = torch.zeros(2, 8)
        for t in range(T):
            h = torch.tanh(x[:, t] @ w + h)
        with ElementCounter() as counter:
            h.sum().backward()
        return counter.elements

    assert elements(512) / elements(64) > 30


def python(*code_lines: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", "\n".join(code_lines)], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_help_and_bad_options_do_not_import_torch():
    out = python(
        "import sys",
        "from rnnbench.cli import build_parser",
        "build_parser().format_help()",
        "build_parser().parse_args(['sweep', 'quick', '--executor', 'dask', '--shard', '1/2'])",
        "print('torch' in sys.modules)",
    )
    assert out == "False"


def test_list_sample_and_the_determinism_switches_do_not_import_dynamo():
    """``torch._dynamo`` costs about 1 s to import. rnnbench's own code never needs it
    (torch.optim's constructor still imports it, inside PyTorch, on a training run)."""
    out = python(
        "import sys, io, contextlib, torch",
        "from rnnbench.cli import main",
        "from rnnbench.train import determinism",
        "with contextlib.redirect_stdout(io.StringIO()):",
        "    main(['list']); main(['sample', '--task', 'copy', '--set', 'task.T=3'])",
        "with determinism(torch.device('cpu'), True): pass",
        "print('DYNAMO', 'torch._dynamo' in sys.modules)",
    )
    assert out.splitlines()[-1] == "DYNAMO False"


def test_threads_are_applied_recorded_and_reapplied_by_rerun(tmp_path):
    out = tmp_path / "r.jsonl"
    base = [sys.executable, "-m", "rnnbench"]
    subprocess.run(
        [
            *base,
            "run",
            "--task",
            "adding",
            "--model",
            "gru",
            "--steps",
            "20",
            "--set",
            "task.T=20",
            "--set",
            "model.hidden_size=16",
            "--set",
            "train.eval_size=64",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    record = read_records(out)[0]
    assert record["env"]["threads"] == 1
    rerun = subprocess.run([*base, "rerun", str(out), "--threads", "2"], capture_output=True, text=True)
    assert rerun.returncode in (0, 1)  # at 2 threads the weights may differ: that is the point of the next call
    again = subprocess.run([*base, "rerun", str(out), "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 0 and "match: bit-identical" in again.stdout, again.stdout + again.stderr
    assert read_records(out)[-1]["env"]["threads"] == 1, "rerun applied the recorded thread count"
    bad = subprocess.run([*base, "run", "--task", "copy", "--model", "rnn", "--threads", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--threads 0 is impossible" in bad.stderr


def test_busy_rule():
    """Other processes' share of the CPU decides; the lagging load average only where no
    share could be measured."""
    assert busy_record(0.6, 0.1, 0.2, 2)["busy"] and not busy_record(0.1, 9.0, 9.0, 2)["busy"]
    assert busy_record(None, 1.0, 3.5, 2)["busy"] and not busy_record(None, 1.0, 2.5, 2)["busy"]
    assert not busy_record(None, None, None, 2)["busy"]


@pytest.mark.serial  # another test beside it would make the quiet baseline busy
def test_load_meter_sees_another_process_competing():
    """A process spinning on every core while we wait shows as a share near 100%; alone, near 0."""
    import os
    import time

    from rnnbench.results import LoadMeter, cpu_times

    if cpu_times() is None:
        pytest.skip("no /proc/stat")
    meter = LoadMeter()
    time.sleep(0.5)
    quiet = meter.record()
    spinners = [
        subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    time.sleep(0.5)
    meter = LoadMeter()
    time.sleep(1.5)
    loud = meter.record()
    for p in spinners:
        p.wait()
    assert loud["busy"] and loud["others_cpu_share"] > 0.5
    assert quiet["others_cpu_share"] < loud["others_cpu_share"]


def test_a_busy_measurement_is_flagged_in_the_record_the_warning_and_the_table(tmp_path, monkeypatch, capsys):
    import rnnbench.measure as measure
    from rnnbench.cli import main
    from rnnbench.report import throughput_frame, throughput_table

    busy = {"others_cpu_share": 0.9, "loadavg_start": 0.5, "loadavg_end": 3.0, "cores": 2, "busy": True}
    monkeypatch.setattr(measure.LoadMeter, "record", lambda self: busy)
    out = tmp_path / "t.jsonl"
    assert (
        main(
            [
                "throughput",
                "--model",
                "rnn",
                "--impl",
                "fused",
                "--batch",
                "2",
                "--seq-len",
                "5",
                "--hidden",
                "8",
                "--min-run-time",
                "0.01",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "the machine was busy" in capsys.readouterr().err
    record = read_records(out)[0]
    assert record["load"]["busy"] is True
    table = throughput_table(throughput_frame([record]))
    assert table["fwd ms (IQR)"].str.contains("busy").all()
    monkeypatch.setattr(measure.LoadMeter, "record", lambda self: dict(busy, others_cpu_share=0.0, busy=False))
    quiet = measure.measure(measure.ThroughputCell("rnn", "fused", measure.Shape(2, 5, 8, 8, 1), 0.01), torch.device("cpu"))
    assert not throughput_table(throughput_frame([quiet]))["fwd ms (IQR)"].str.contains("busy").any()


def test_a_sweep_logging_to_a_file_prints_one_line_per_cell(tmp_path):
    profile = tmp_path / "tiny.toml"
    profile.write_text(
        'name = "tiny"\nseeds = [0]\nmodels = ["rnn", "gru"]\n[model]\nhidden_size = 4\n'
        '[train]\nsteps = 30\neval_every = 10\neval_size = 8\n[[accuracy]]\ntask = "copy"\n'
        "params = { T = 3, K = 2 }\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "rnnbench", "sweep", str(profile), "--out", str(tmp_path), "--device", "cpu"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("tiny 1/2 ") and lines[1].startswith("tiny 2/2 ")
    assert "\r" not in proc.stderr and all(": ok" in line for line in lines)
    assert {json.loads(l)["model"]["name"] for l in (tmp_path / "raw" / "tiny.jsonl").read_text().splitlines()} == {"rnn", "gru"}
