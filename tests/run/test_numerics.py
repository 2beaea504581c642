"""Portable numerics (``--numerics portable``): its weights do not depend on the instruction
set a process starts with, each pin reaches its library, records state the pins, the
same-setup rule lets portable records from another CPU model count and never mixes modes,
workers inherit the pins, and bad input is one line."""

import json
import os
import subprocess
import sys

import pytest
import torch

from rnnbench import numerics
from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.profiles import load_profile
from rnnbench.results import read_records, same_setup
from rnnbench.sweep import pending, records_path, sweep

# The fused LSTM (oneDNN's RNN primitive by default) and the fused GRU (ATen's cells, MKL's products).
PROFILE = """name = "numerics"
seeds = [0]
models = ["lstm", "gru"]
[model]
hidden_size = 8
[train]
steps = 12
eval_every = 12
eval_size = 16
[[accuracy]]
task = "adding"
params = { T = 6 }
"""
# What a process on another machine would start with: PyTorch's baseline kernels, MKL's SSE2
# branch, oneDNN without AVX2, each claimed through the library's own variable.
CLAIMS = {
    "aten": {"ATEN_CPU_CAPABILITY": "default"},
    "mkl": {"MKL_CBWR": "COMPATIBLE"},
    "onednn": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
}
# In portable mode, each claimed value differs from its pin (MKL's CNR branch AUTO, not COMPATIBLE).
ALL_CLAIMS = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO", "ONEDNN_MAX_CPU_ISA": "SSE41"}

needs_avx2 = pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
    reason="the claims lower the instruction set; this CPU has no AVX2 to lower from",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINS and k != numerics.ENV_VAR}
    return env | extra


def rnnbench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], env=env, capture_output=True, text=True)


def swept(tmp, name: str, claims: dict[str, str], *options: str) -> dict[str, dict]:
    """The records of the profile swept in a fresh process whose environment holds ``claims``."""
    out = tmp / name
    out.mkdir()
    (out / "numerics.toml").write_text(PROFILE)
    done = rnnbench(
        "sweep",
        str(out / "numerics.toml"),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-progress",
        *options,
        env=clean_env(**claims),
    )
    assert done.returncode == 0, done.stderr
    return {r["model"]["name"]: r for r in read_records(out / "raw" / "numerics.jsonl")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("numerics")
    got = {
        "best": swept(tmp, "best", {}),
        "portable_best": swept(tmp, "portable_best", {}, "--numerics", "portable"),
        "portable_claims": swept(tmp, "portable_claims", ALL_CLAIMS, "--numerics", "portable"),
    }
    for name, claim in CLAIMS.items():
        got[name] = swept(tmp, name, claim)
    got["tmp"] = tmp
    return got


def weights(records: dict[str, dict]) -> dict[str, str]:
    return {model: r["weights_sha256"] for model, r in records.items()}


@needs_avx2
def test_each_claimed_instruction_set_reaches_its_library(runs):
    """The negative control: without the pins, each library's variable changes the weights of the
    cell that runs through it. If a dependency stops reading one, this fails (and the pin would
    pin nothing)."""
    best = weights(runs["best"])
    assert weights(runs["aten"])["gru"] != best["gru"], "ATEN_CPU_CAPABILITY no longer changes PyTorch's kernels"
    assert weights(runs["mkl"])["gru"] != best["gru"], "MKL_CBWR no longer changes MKL's products"
    assert weights(runs["onednn"])["lstm"] != best["lstm"], "ONEDNN_MAX_CPU_ISA no longer changes oneDNN's LSTM"


@needs_avx2
def test_portable_weights_do_not_depend_on_the_instruction_set_the_process_starts_with(runs):
    portable, claimed = runs["portable_best"], runs["portable_claims"]
    assert weights(portable) == weights(claimed), "--numerics portable did not pin every code path"
    assert weights(portable) != weights(runs["best"]), "portable runs another code path than the default"
    for record in [*portable.values(), *claimed.values()]:
        assert record["env"]["numerics"] == {"mode": "portable", "pins": numerics.PINS, "mkldnn": False}
        assert record["env"]["cpu_capability"] == numerics.CAPABILITY
    for record in runs["best"].values():
        assert record["env"]["numerics"] == {"mode": "default"}
    for record in runs["aten"].values():  # a pin set by hand in default mode is recorded too
        assert record["env"]["numerics"] == {"mode": "default", "environment": {"ATEN_CPU_CAPABILITY": "default"}}


@needs_avx2
def test_rerun_of_a_portable_record_runs_portable_and_matches(runs):
    path = runs["tmp"] / "portable_claims" / "raw" / "numerics.jsonl"
    done = rnnbench("rerun", str(path), env=clean_env())
    assert done.returncode == 0 and "match: bit-identical" in done.stdout, done.stdout + done.stderr
    plain = rnnbench("rerun", str(path), "--numerics", "default", env=clean_env())
    assert plain.returncode == 1 and "numerics was" in plain.stdout and "MISMATCH" in plain.stdout, plain.stdout


@needs_avx2
def test_dask_workers_inherit_the_pins(runs, tmp_path):
    pytest.importorskip("distributed")
    got = swept(tmp_path, "dask", {}, "--numerics", "portable", "--executor", "dask", "--workers", "1")
    assert weights(got) == weights(runs["portable_best"])
    for record in got.values():
        assert record["executor"]["kind"] == "dask" and record["executor"]["pid"] != os.getpid()
        assert record["env"]["numerics"]["mode"] == "portable"


def test_a_worker_started_without_the_pins_refuses_to_run(monkeypatch):
    for name in numerics.PINS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="started without the portable numerics pins .*ATEN_CPU_CAPABILITY"):
        numerics.enter_worker({"mode": "portable"})
    numerics.enter_worker({"mode": "default"})  # nothing to check
    assert numerics.mode() == "default"


PORTABLE = {"mode": "portable", "pins": dict(numerics.PINS), "mkldnn": False}


def env_of(**changes):
    base = {
        "device": "cpu",
        "device_name": "AMD EPYC",
        "torch": "2.13.0+cpu",
        "git_commit": "a" * 40,
        "git_dirty": False,
        "threads": 2,
        "cpu_capability": "AVX2",
        "host": "vm",
        "numerics": PORTABLE,
    }
    return base | changes


def test_the_same_setup_rule_under_portable_numerics():
    here = env_of()
    assert same_setup(env_of(device_name="Intel Xeon Platinum 8375C", host="node7"), here), "another CPU model counts"
    assert not same_setup(env_of(device_name="Intel Xeon", host="node7"), here, "throughput"), "timings: this host"
    for key, value in [
        ("torch", "2.14.0+cpu"),
        ("git_commit", "b" * 40),
        ("git_dirty", True),
        ("threads", 1),
        ("cpu_capability", "AVX512"),
        ("device", "cuda"),
    ]:
        assert not same_setup(env_of(**{key: value}), here), key
    default = env_of(numerics={"mode": "default"})
    assert not same_setup(default, here) and not same_setup(here, default), "portable and default never match"
    other_pins = {**PORTABLE, "pins": {**numerics.PINS, "MKL_CBWR": "AVX2"}}
    assert not same_setup(env_of(numerics=other_pins), here)
    # default numerics: the rule as before (the CPU model decides), and records without the field are default ones
    assert not same_setup(env_of(numerics={"mode": "default"}, device_name="Intel Xeon"), default)
    old = {k: v for k, v in default.items() if k != "numerics"}
    assert same_setup(old, default) and same_setup(default, old)
    by_hand = env_of(numerics={"mode": "default", "environment": {"MKL_CBWR": "AVX2"}})
    assert not same_setup(by_hand, default), "a pin set by hand changes the results"
    # on a GPU, portable numerics pins the CPU libraries only: the GPU model still decides
    cuda = env_of(device="cuda", device_name="NVIDIA H100")
    assert not same_setup(env_of(device="cuda", device_name="NVIDIA A100"), cuda)


def test_a_portable_sweep_resumes_from_another_cpus_records_and_never_mixes_modes(tmp_path, monkeypatch):
    (tmp_path / "numerics.toml").write_text(PROFILE.replace("steps = 12", "steps = 2"))
    profile = load_profile(str(tmp_path / "numerics.toml"))
    assert sweep(profile, tmp_path, "cpu", show_progress=False)["ok"] == 2
    raw = records_path(tmp_path, profile)
    records = [json.loads(line) for line in raw.read_text().splitlines()]
    with pytest.raises(
        UsageError,
        match="already holds default-numerics records of 2 of these cells; a sweep with "
        "--numerics portable does not mix .* --out",
    ):
        monkeypatch.setattr(numerics, "_MODE", "portable")  # as a process configured portable reports itself
        pending(profile, raw, "cpu")

    def rewrite(*envs):
        raw.write_text("".join(json.dumps(r | {"env": r["env"] | e}) + "\n" for r, e in zip(records, envs)))

    # two shards, made on two other CPU models with the same pins: this portable sweep has nothing left to do
    rewrite(
        {"numerics": PORTABLE, "device_name": "Intel Xeon", "host": "a"},
        {"numerics": PORTABLE, "device_name": "AMD EPYC 9654", "host": "b"},
    )
    assert pending(profile, raw, "cpu")[0] == []
    monkeypatch.setattr(numerics, "_MODE", "default")
    with pytest.raises(UsageError, match="already holds portable-numerics records of 2 .* a sweep with default numerics"):
        pending(profile, raw, "cpu")
    rewrite({"numerics": PORTABLE}, {})  # one cell each way: a portable sweep refuses the default one
    monkeypatch.setattr(numerics, "_MODE", "portable")
    with pytest.raises(UsageError, match="records of 1 of these cells"):
        pending(profile, raw, "cpu")


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


RUN = ["run", "--task", "adding", "--model", "gru", "--set", "task.T=4", "--steps", "1", "--device", "cpu"]


def test_bad_modes_and_a_late_start_are_one_line(capsys, monkeypatch, tmp_path):
    code, _, err = run_cli(capsys, *RUN, "--numerics", "fast")
    assert code == 2 and "invalid choice: 'fast'" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv(numerics.ENV_VAR, "fast")
    code, _, err = run_cli(capsys, *RUN, "--out", str(tmp_path / "r.jsonl"))
    assert code == 2 and err.strip() == (
        "rnnbench: error: RNNBENCH_NUMERICS='fast' is not a numerics mode; choose one "
        "of: default, portable (see docs/reproducibility.md)"
    )
    for name in numerics.PINS:
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    monkeypatch.setenv(numerics.ENV_VAR, "portable")  # this test process imported torch long ago
    code, _, err = run_cli(capsys, *RUN, "--out", str(tmp_path / "r.jsonl"))
    assert code == 2 and "torch was imported before the portable numerics pins were set" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r.jsonl").exists()
    assert {k: v for k, v in os.environ.items() if k != numerics.ENV_VAR} == {
        k: v for k, v in before.items() if k != numerics.ENV_VAR
    }, "nothing was half-applied"
    assert numerics.mode() == "default"


def test_the_mode_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.delenv(numerics.ENV_VAR, raising=False)
    assert numerics.resolve(None) == "default"
    monkeypatch.setenv(numerics.ENV_VAR, " Portable ")
    assert numerics.resolve(None) == "portable"
    assert numerics.resolve("default") == "default", "the flag wins"
    with pytest.raises(UsageError, match=r"^--numerics='x' is not a numerics mode"):
        numerics.resolve("x")


def test_every_command_that_computes_numbers_takes_the_option(capsys):
    for command in ("run", "sweep", "throughput", "rerun"):
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0 and "--numerics {default,portable}" in out, command


def test_rerun_reads_the_records_mode_without_torch(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [
        {"kind": "train", "run_id": "a", "env": {"numerics": PORTABLE}},
        {"kind": "throughput", "run_id": "t", "env": {}},
        {"kind": "train", "run_id": "b", "env": {}},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{not json\n")
    assert numerics.recorded_mode(path, None) == "default"  # the last training record, an old one
    assert numerics.recorded_mode(path, "a") == "portable"
    assert numerics.recorded_mode(path, "zz") is None and numerics.recorded_mode(tmp_path / "none", None) is None
