"""The allocator setting rnnbench's processes run with is applied, recorded, and can be turned off."""

import json
import os
import subprocess
import sys


def allocator_of_a_run(tmp_path, env_extra):
    out = tmp_path / "r.jsonl"
    env = {**{k: v for k, v in os.environ.items() if k != "RNNBENCH_ALLOCATOR"}, **env_extra}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnbench",
            "run",
            "--task",
            "adding",
            "--model",
            "gru",
            "--set",
            "task.T=4",
            "--steps",
            "1",
            "--set",
            "train.eval_size=4",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return json.loads(out.read_text().splitlines()[-1])["env"]["allocator"]


def test_the_command_line_raises_glibcs_thresholds_and_records_it(tmp_path):
    assert allocator_of_a_run(tmp_path, {}) == (
        "glibc mallopt M_TRIM_THRESHOLD=1073741824, M_TOP_PAD=1073741824, M_MMAP_THRESHOLD=1073741824"
    )


def test_the_setting_can_be_turned_off(tmp_path):
    assert allocator_of_a_run(tmp_path, {"RNNBENCH_ALLOCATOR": "default"}) == "system default (RNNBENCH_ALLOCATOR=default)"


RELEASE = """
import torch
from rnnbench import allocator

def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) // 1024

allocator.configure()
x = torch.ones(64 << 20)  # 256 MB from the heap (below the raised mmap threshold)
keep = torch.ones(16)  # allocated after it, so its block is not the heap's top
del x
held = rss_mb()
released = allocator.release()
print(held, rss_mb(), released)
"""


def test_release_hands_a_freed_block_back_that_the_raised_thresholds_keep():
    if not os.path.exists("/proc/self/status"):
        import pytest

        pytest.skip("needs /proc to read the resident size")
    env = {k: v for k, v in os.environ.items() if k != "RNNBENCH_ALLOCATOR"}
    out = subprocess.run([sys.executable, "-c", RELEASE], env=env, check=True, capture_output=True, text=True).stdout
    held, after, released = out.split()
    assert released == "True"
    assert int(held) - int(after) > 200, f"resident {held} MB before release, {after} MB after"


def test_every_cell_ends_by_releasing_what_it_freed(monkeypatch):
    from rnnbench import allocator, cells
    from rnnbench.measure import Shape, ThroughputCell
    from rnnbench.profiles import PlannedCell

    calls = []
    monkeypatch.setattr(allocator, "release", lambda: calls.append(1) or True)
    cell = ThroughputCell("gru", None, Shape(batch=2, seq_len=3, input_size=2, hidden_size=2), min_run_time=0.01)
    record = cells.run_cell(PlannedCell("p", "throughput", cell), "cpu", None)
    assert record["status"] == "ok" and calls == [1]
