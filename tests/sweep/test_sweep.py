import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import tomllib

from rnnbench.errors import UsageError
from rnnbench.models import MODELS
from rnnbench.profiles import builtin_profiles, grid, load_profile
from rnnbench.results import append_record, read_records
from rnnbench.sweep import pending, records_path, sweep
from rnnbench.tasks import TASKS

TINY = """
name = "tiny"
seeds = [0, 1]
models = ["rnn", "gru"]
[model]
hidden_size = 4
[train]
steps = {steps}
eval_every = 5
eval_size = 16
[[accuracy]]
task = "adding"
params = {{ T = [5, 6] }}
"""


@pytest.fixture
def tiny(tmp_path):
    def make(steps=10, text=TINY):
        path = tmp_path / "tiny.toml"
        path.write_text(text.format(steps=steps))
        return path

    return make


def test_grid_expands_lists():
    assert grid({"T": [1, 2], "K": 3}) == [{"T": 1, "K": 3}, {"T": 2, "K": 3}]
    assert grid({}) == [{}]


def test_builtin_profiles_load_and_cover_every_task_and_model():
    assert {"quick", "full"} <= set(builtin_profiles())
    quick = load_profile("quick")
    acc = [pc.cell for pc in quick.cells if pc.section == "accuracy"]
    assert {c.task for c in acc} == {"copy", "adding", "sine", "selective_copy", "mqar", "mackey_glass", "sdigits"}
    full = {pc.cell.task for pc in load_profile("full").cells if pc.section != "throughput"}
    mnist = {e["task"] for e in tomllib.loads(Path(builtin_profiles()["mnist"]).read_text())["accuracy"]}
    formal = {pc.cell.task for pc in load_profile("formal-paper").cells}  # the length-generalisation tasks
    assert full | mnist | formal == set(TASKS), "every task is in a built-in profile"
    modern = load_profile("modern")
    assert {c.model for c in acc} | {pc.cell.model for pc in modern.cells} == set(MODELS)
    assert len({c.train["seed"] for c in acc}) >= 2
    for profile in (quick, modern):
        assert len({(pc.section, pc.key("cpu")) for pc in profile.cells}) == len(profile.cells)  # no duplicates
    throughput = {(pc.cell.model, pc.cell.impl) for p in (quick, modern) for pc in p.cells if pc.section == "throughput"}
    # every implementation that runs on a CPU (rnnbench's C++ one, native, among them; the authors'
    # GPU kernels are in the gpu profile)
    on_cpu = lambda m, i: i not in MODELS.get(m).requires or i == "native"  # noqa: E731
    assert {(m, i) for m in MODELS for i in MODELS.get(m).implementations if on_cpu(m, i)} <= throughput
    gpu = load_profile("gpu")
    kernels = {(m, i) for m in MODELS for i in MODELS.get(m).requires if not on_cpu(m, i)}
    assert kernels <= {(pc.cell.model, pc.cell.impl) for pc in gpu.cells if pc.section == "throughput"}


def test_profile_cells_are_the_grid(tiny):
    profile = load_profile(str(tiny()))
    assert profile.name == "tiny" and len(profile.cells) == 2 * 2 * 2
    assert {(pc.cell.model, pc.cell.task_params["T"], pc.cell.train["seed"]) for pc in profile.cells} == {
        (m, T, s) for m in ("rnn", "gru") for T in (5, 6) for s in (0, 1)
    }


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("name = 'x'\n[[accuracy]]\ntask = 'nosuch'\n", "unknown task 'nosuch'"),
        ("[[accuracy]]\ntask = 'copy'\nparams = { T = 0 }\n", "task.T=0"),
        ("[[accuracy]]\ntask = 'copy'\nmodels = ['lstn']\n", "unknown model 'lstn'"),
        ("[[accuracy]]\ntask = 'copy'\nseeds = 3\n", "seeds must be a list"),
        ("[[accuracy]]\nmodel_typo = 1\ntask = 'copy'\n", "unknown key 'model_typo'"),
        ("[[accuracy]]\nparams = { T = 3 }\n", "names no task"),
        ('[[accuracy]]\ntask = ["copy", "adding"]\n', "must be one task's name; write one entry per task"),
        ("this is = = not toml", "not valid TOML"),
        ("[train]\nsteps = -5\n[[accuracy]]\ntask = 'copy'\n", "train.steps=-5"),
    ],
)
def test_bad_profiles_are_explained(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=fragment):
        load_profile(str(path))


def test_unknown_profile_name():
    with pytest.raises(UsageError, match="not a built-in"):
        load_profile("nosuch")


def test_sweep_skips_finished_cells(tiny, tmp_path, monkeypatch):
    profile = load_profile(str(tiny()))
    counts = sweep(profile, tmp_path, "cpu", show_progress=False)
    assert counts["ok"] == 8 and counts["skipped"] == 0
    again = sweep(profile, tmp_path, "cpu", show_progress=False)
    assert again == {"skipped": 8, "ok": 0, "diverged": 0, "failed": 0, "timeout": 0}
    records = read_records(records_path(tmp_path, profile))
    assert len(records) == 8 and all(r["profile"] == "tiny" and r["section"] == "accuracy" for r in records)


def test_a_cell_that_raises_is_recorded_and_the_sweep_goes_on(tiny, tmp_path, monkeypatch):
    import rnnbench.cells as sw  # where a cell is run

    real_fit = sw.fit

    def flaky(cell, device, progress=None):
        if cell.model == "gru" and cell.train["seed"] == 1:
            raise RuntimeError("simulated kernel failure")
        return real_fit(cell, device, progress)

    monkeypatch.setattr(sw, "fit", flaky)
    profile = load_profile(str(tiny()))
    counts = sweep(profile, tmp_path, "cpu", show_progress=False)
    assert counts["failed"] == 2 and counts["ok"] == 6
    failed = [r for r in read_records(records_path(tmp_path, profile)) if r["status"] == "failed"]
    assert all("simulated kernel failure" in r["error"] for r in failed)
    monkeypatch.setattr(sw, "fit", real_fit)
    assert pending(profile, records_path(tmp_path, profile))[0] == []
    assert len(pending(profile, records_path(tmp_path, profile), retry_failed=True)[0]) == 2


def test_a_cell_over_its_time_limit_is_recorded_as_timeout(tiny, tmp_path):
    profile = load_profile(str(tiny(steps=100000)))
    profile.cells = profile.cells[:1]
    counts = sweep(profile, tmp_path, "cpu", cell_timeout=0.5, show_progress=False)
    [record] = read_records(records_path(tmp_path, profile))
    assert counts["timeout"] == 1 and record["status"] == "timeout" and "0.5 s" in record["error"]


def test_killed_sweep_resumes_without_duplicates(tiny, tmp_path):
    """SIGKILL a running sweep at points the test knows (after 1, 3 and 5 records), then
    finish it: the last run skips exactly the cells recorded before it, and every cell is
    recorded once."""
    path = tiny(steps=60)
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "rnnbench", "sweep", str(path), "--out", str(out), "--device", "cpu", "--no-progress"]
    raw = out / "raw" / "tiny.jsonl"

    def complete_lines():
        return raw.read_bytes().count(b"\n") if raw.exists() else 0

    for target in (1, 3, 5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while complete_lines() < target and time.time() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert complete_lines() >= target, "the sweep got that far before the kill"
    before = {r["cell_key"] for r in read_records(raw)}
    assert 5 <= len(before) < 8
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"sweep tiny: {len(before)} skipped, {8 - len(before)} ok" in done.stdout
    keys = Counter(r["cell_key"] for r in read_records(raw))
    assert len(keys) == 8 and set(keys.values()) == {1}


def test_partial_line_left_by_a_kill_is_skipped(tiny, tmp_path):
    profile = load_profile(str(tiny()))
    raw = records_path(tmp_path, profile)
    append_record(raw, {"schema_version": 1, "run_id": "x", "cell_key": "nope", "status": "ok"})
    with open(raw, "a") as fh:
        fh.write('{"schema_version": 1, "cell_key": "trunc')
    with pytest.warns(UserWarning, match="tiny.jsonl:2"):
        sweep(profile, tmp_path, "cpu", show_progress=False)
    with pytest.warns(UserWarning):
        assert len([r for r in read_records(raw) if r.get("profile") == "tiny"]) == 8


def test_a_second_sweep_of_the_same_profile_is_refused_while_one_runs(tiny, tmp_path):
    from rnnbench.sweep import exclusive

    profile = load_profile(str(tiny()))
    lock = records_path(tmp_path, profile).with_suffix(".lock")
    with exclusive(lock, "held"):
        with pytest.raises(UsageError, match="another sweep of profile 'tiny'"):
            sweep(profile, tmp_path, "cpu", show_progress=False)
    assert sweep(profile, tmp_path, "cpu", show_progress=False)["ok"] == 8  # free again


def test_retention_entries_must_sweep_their_axis(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[[retention]]\ntask = 'adding'\nparams = { T = 10 }\n")
    with pytest.raises(UsageError, match="give params.T as a list"):
        load_profile(str(path))
    path.write_text("[[gradient_flow]]\ntask = 'copy'\nparams = { T = 10 }\n")
    with pytest.raises(UsageError, match="gradient_flow needs a fixed-length task"):
        load_profile(str(path))


def test_the_same_setup_rule_for_resuming(tiny, tmp_path):
    """A training record from another host with the same CPU model, torch, commit and thread
    count is the same measurement; another CPU model or thread count is not, and a throughput
    record must come from this very host."""
    import json

    from rnnbench.results import same_setup

    profile = load_profile(str(tiny()))
    assert sweep(profile, tmp_path, "cpu", show_progress=False)["ok"] == 8
    raw = records_path(tmp_path, profile)
    original = raw.read_text()

    def rewrite(**env):
        lines = []
        for line in original.splitlines():
            record = json.loads(line)
            record["env"].update(env)
            lines.append(json.dumps(record))
        raw.write_text("\n".join(lines) + "\n")

    rewrite(host="elsewhere")
    assert pending(profile, raw, "cpu")[0] == [], "another host, same CPU model: done"
    rewrite(device_name="another CPU")
    assert len(pending(profile, raw, "cpu")[0]) == 8
    threads = json.loads(original.splitlines()[0])["env"]["threads"]
    rewrite(threads=threads + 1)
    assert len(pending(profile, raw, "cpu")[0]) == 8
    assert pending(profile, raw, "cpu", threads=threads + 1)[0] == [], "the thread count asked for decides"
    here = json.loads(original.splitlines()[0])["env"]
    assert same_setup(here | {"host": "elsewhere"}, here, "train")
    assert not same_setup(here | {"host": "elsewhere"}, here, "throughput")
    for key in ("torch", "git_commit", "git_dirty", "device_name", "threads", "cpu_capability"):
        assert not same_setup(here | {key: "other"}, here, "train"), key
    rewrite(device_name="another CPU")
    assert sweep(profile, tmp_path, "cpu", show_progress=False)["ok"] == 8
    assert pending(profile, raw, "cpu")[0] == []


def test_records_of_another_commit_do_not_count_as_done(tiny, tmp_path):
    import json

    profile = load_profile(str(tiny()))
    sweep(profile, tmp_path, "cpu", show_progress=False)
    raw = records_path(tmp_path, profile)
    records = [json.loads(line) for line in raw.read_text().splitlines()]
    records[0]["env"]["git_commit"] = "0" * 40  # as if recorded before a code change
    raw.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert len(pending(profile, raw, "cpu")[0]) == 1


def test_ctrl_c_in_a_local_sweep_keeps_finished_records_and_says_how_to_resume(tiny, tmp_path):
    """The local pool runs in the sweep's one loop: Ctrl-C keeps the records appended so far, names
    how many and how to resume, and the resumed run appends the rest in the profile's order."""
    path = tiny(steps=200)
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "rnnbench", "sweep", str(path), "--out", str(out), "--device", "cpu", "--no-progress"]
    raw = out / "raw" / "tiny.jsonl"
    # SIGINT back to its default in the child (a shell runs background jobs with SIGINT ignored)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (raw.exists() and raw.read_bytes().count(b"\n") >= 1):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    kept = raw.read_bytes().count(b"\n")
    assert 1 <= kept < 8
    assert f"interrupted: {kept} of 8 cells recorded in {raw}" in err and "Run the same command again to resume" in err
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"sweep tiny: {kept} skipped, {8 - kept} ok" in done.stdout
    profile = load_profile(str(path))
    keys = [r["cell_key"] for r in read_records(raw)]
    assert keys == [pc.key("cpu") for pc in profile.cells]  # one each, in the profile's order
    assert {r["executor"]["kind"] for r in read_records(raw)} == {"local"}


def test_each_progress_line_names_the_implementation_that_ran(tmp_path, capsys):
    """A cell that names no implementation runs the device's default (minGRU's chunk on a CPU,
    not its first-listed reference): its progress line and its record say the same one."""
    path = tmp_path / "one.toml"
    path.write_text(
        'name = "one"\nseeds = [0]\nmodels = ["mingru"]\n[model]\nhidden_size = 8\n'
        "[train]\nsteps = 2\nbatch_size = 4\neval_every = 2\neval_size = 8\n"
        '[[accuracy]]\ntask = "copy"\nparams = { T = 5, K = 2 }\n'
    )
    profile = load_profile(str(path))
    sweep(profile, tmp_path, "auto", show_progress=True)  # stderr is captured, not a terminal: one line per cell
    [record] = read_records(records_path(tmp_path, profile))
    assert record["model"]["implementation"] == "chunk"
    assert " mingru(chunk) seed=0: ok" in capsys.readouterr().err
