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
