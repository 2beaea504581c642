"""Sweeps on Dask and submitit: bit-identical to a serial run at the same thread count,
every cell recorded exactly once when a worker dies, shards that partition a profile,
timeouts inside workers, Ctrl-C that keeps what finished, and a clear error without the
optional dependency."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

pytest.importorskip("distributed")
pytest.importorskip("submitit")

from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.executors import ExecutorSpec, in_shard, make_pool, parse_shard  # noqa: E402
from rnnbench.profiles import load_profile  # noqa: E402
from rnnbench.results import read_records  # noqa: E402
from rnnbench.sweep import records_path, sweep  # noqa: E402

TINY = """name = "tiny"
seeds = [0, 1]
models = ["rnn", "gru"]
[model]
hidden_size = 8
[train]
steps = {steps}
eval_every = 10
eval_size = 16
[[accuracy]]
task = "copy"
params = {{ T = 3, K = 2 }}
"""


def tiny(tmp_path, steps=30, extra=""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(steps=steps) + extra)
    return load_profile(str(path))


def results(out, profile):
    return {(r["section"], r["cell_key"]): r for r in read_records(records_path(out, profile))}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key]["metrics"] == b[key]["metrics"], key
        assert a[key]["weights_sha256"] == b[key]["weights_sha256"], key


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    profile = tiny(out)
    sweep(profile, out, "cpu", show_progress=False, threads=1)
    return results(out, profile)


def test_dask_local_cluster_is_bit_identical_to_serial(serial, tmp_path):
    profile = tiny(tmp_path)
    counts = sweep(profile, tmp_path, "cpu", show_progress=False, executor=ExecutorSpec("dask", workers=2), threads=1)
    assert counts["ok"] == 4
    got = results(tmp_path, profile)
    assert_same(got, serial)
    for r in got.values():
        assert r["env"]["threads"] == 1 and r["executor"]["kind"] == "dask" and r["executor"]["worker"]
    assert len({r["executor"]["pid"] for r in got.values()} | {os.getpid()}) >= 2, "ran outside this process"
    # resuming across executors: a local sweep at 1 thread finds nothing left to do
    assert sweep(profile, tmp_path, "cpu", show_progress=False, threads=1) == {
        "skipped": 4,
        "ok": 0,
        "diverged": 0,
        "failed": 0,
        "timeout": 0,
    }


def test_submitit_local_and_shards_match_serial(serial, tmp_path):
    profile = tiny(tmp_path / "a")
    sweep(
        profile,
        tmp_path / "a",
        "cpu",
        show_progress=False,
        threads=1,
        executor=ExecutorSpec("submitit-local", workers=2, folder=tmp_path / "logs"),
    )
    got = results(tmp_path / "a", profile)
    assert_same(got, serial)
    assert {r["executor"]["kind"] for r in got.values()} == {"submitit-local"}
    sharded = tmp_path / "b"
    firsts = sweep(tiny(sharded), sharded, "cpu", show_progress=False, threads=1, shard=(1, 2))
    seconds = sweep(tiny(sharded), sharded, "cpu", show_progress=False, threads=1, shard=(2, 2))
    assert firsts["ok"] + seconds["ok"] == 4 and firsts["skipped"] == seconds["skipped"] == 0
    assert_same(results(sharded, profile), serial)
    keys = [pc.key("cpu") for pc in profile.cells]
    assert all(in_shard(k, (1, 2)) != in_shard(k, (2, 2)) for k in keys), "disjoint and covering"


def test_killing_a_dask_worker_mid_cell_loses_and_duplicates_nothing(tmp_path):
    import dask
    from distributed import Client, LocalCluster

    extra = '[[accuracy]]\ntask = "copy"\nparams = { T = 20, K = 2 }\nmodels = ["gru"]\nseeds = [7]\ntrain = { steps = 1500 }\n'
    profile = tiny(tmp_path, extra=extra)
    slow = next(pc.key("cpu") for pc in profile.cells if pc.cell.task_params["T"] == 20)
    with dask.config.set({"distributed.scheduler.allowed-failures": 2}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    killed = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for worker, keys in client.processing().items():
                if any(slow in str(k) for k in keys):
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    time.sleep(1.0)  # well inside the cell
                    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
                    killed.append(worker)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        counts = sweep(
            profile,
            tmp_path,
            "cpu",
            show_progress=False,
            threads=1,
            executor=ExecutorSpec("dask", scheduler=cluster.scheduler_address),
        )
    finally:
        thread.join()
        client.close()
        cluster.close()
    assert killed, "the slow cell was seen running and its worker killed"
    records = read_records(records_path(tmp_path, profile))
    assert Counter(r["cell_key"] for r in records) == Counter(pc.key("cpu") for pc in profile.cells), "each once"
    assert sum(counts.values()) == 5
    slow_record = next(r for r in records if r["cell_key"] == slow)
    assert slow_record["status"] in ("ok", "failed")
    if slow_record["status"] == "failed":
        assert "died" in slow_record["error"]


@pytest.mark.serial  # the four 30-step cells must finish inside their 8 s limit
def test_a_cell_past_its_timeout_is_stopped_inside_a_dask_worker(tmp_path):
    extra = '[[accuracy]]\ntask = "copy"\nparams = { T = 20, K = 2 }\nmodels = ["gru"]\nseeds = [7]\ntrain = { steps = 100000 }\n'
    profile = tiny(tmp_path, extra=extra)
    start = time.perf_counter()
    counts = sweep(
        profile, tmp_path, "cpu", cell_timeout=8, show_progress=False, threads=1, executor=ExecutorSpec("dask", workers=2)
    )
    assert counts["timeout"] == 1 and counts["ok"] == 4
    assert time.perf_counter() - start < 60
    timed_out = next(r for r in read_records(records_path(tmp_path, profile)) if r["status"] == "timeout")
    assert "per-cell limit of 8 s" in timed_out["error"]


def test_ctrl_c_keeps_finished_records_and_says_how_to_resume(tmp_path):
    profile_path = tmp_path / "tiny.toml"
    profile_path.write_text(TINY.format(steps=600))
    cmd = [
        sys.executable,
        "-m",
        "rnnbench",
        "sweep",
        str(profile_path),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--executor",
        "dask",
        "--workers",
        "1",
        "--threads",
        "1",
    ]
    # SIGINT back to its default in the child: a shell runs background jobs (CI under nohup ... &)
    # with SIGINT ignored, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    raw = tmp_path / "raw" / "tiny.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (raw.exists() and raw.read_text().count("\n") >= 1):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err
    kept = raw.read_text().count("\n")
    assert 1 <= kept < 4
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    keys = [json.loads(line)["cell_key"] for line in raw.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 4


def test_missing_extra_and_bad_options_are_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError, match=r"pip install 'rnnbench\[dask\]'"):
        make_pool(ExecutorSpec("dask", workers=1), 1)
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(UsageError, match=r"pip install 'rnnbench\[slurm\]'"):
        make_pool(ExecutorSpec("slurm", partition="x"), 1)
    for text in ("3/2", "0/2", "x"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(text)
    with pytest.raises(UsageError, match="needs --partition"):
        ExecutorSpec("slurm").validate()
    with pytest.raises(UsageError, match="not both"):
        ExecutorSpec("dask", workers=2, scheduler="tcp://x:1").validate()
