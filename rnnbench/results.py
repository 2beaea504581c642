"""Run records: schema, provenance and a crash-safe JSONL store.

Each record is one JSON line. Appends take an exclusive ``flock`` and write the
whole line with one ``write`` on an ``O_APPEND`` descriptor, then ``fsync``, so
concurrent writers never interleave and a kill leaves at most the line being
written incomplete. Readers skip an incomplete or corrupt line with a warning
naming the file and line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

import rnnbench
from rnnbench import allocator, numerics

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # older records are upgraded in memory by ``upgrade``
STATUSES = ("ok", "diverged", "failed", "timeout")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def cell_key(config: dict[str, Any]) -> str:
    """A stable hash of what defines a cell (task, model, training, seed)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _git() -> dict[str, Any]:
    """rnnbench's own commit, only when the imported package sits in a git checkout that
    tracks it; otherwise (installed from a wheel, or into a virtual environment inside some
    other repository) no commit, and ``code_source`` says why: never another repository's."""
    here = Path(rnnbench.__file__).resolve().parent
    unknown = {"git_commit": None, "git_dirty": None}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel")).resolve()
        Path(rnnbench.__file__).resolve().relative_to(top)
        git("ls-files", "--error-unmatch", str(Path(rnnbench.__file__).resolve()))  # the package is tracked there
        commit = git("rev-parse", "HEAD")
        # results/ holds outputs (records, tables), not code: a sweep that rewrites them is not "dirty"
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)results")
    except (OSError, ValueError, subprocess.SubprocessError):
        return unknown | {"code_source": f"installed package rnnbench {rnnbench.__version__} (not a git checkout)"}
    return {"git_commit": commit, "git_dirty": bool(dirty), "code_source": f"git checkout {top}"}


SOURCE_COMMIT = "RNNBENCH_SOURCE_COMMIT"  # the commit a copied working tree came from, stated by whoever copied it
SKIP = ("__pycache__",)  # what Python writes beside the sources: never part of a commit


def tree_id(directory: Path) -> str | None:
    """Git's tree id of ``directory`` as it is on disk, so that ``git rev-parse COMMIT:rnnbench``
    prints the same id exactly when the package that ran is that commit's (``None`` for a folder
    git would not store: one with no files). Bytecode (``__pycache__``, ``*.pyc``) is left out."""
    entries = []
    for child in directory.iterdir():
        if child.name in SKIP or child.suffix == ".pyc" or child.name.endswith(".egg-info"):
            continue
        if child.is_symlink():
            mode, sha = b"120000", _object(b"blob", os.readlink(child).encode())
        elif child.is_dir():
            sub = tree_id(child)
            if sub is None:
                continue
            mode, sha = b"40000", bytes.fromhex(sub)
        else:
            mode = b"100755" if child.stat().st_mode & 0o100 else b"100644"
            sha = _object(b"blob", child.read_bytes())
        # git orders a tree's entries by name, a folder's name as if it ended in "/"
        entries.append((child.name.encode() + (b"/" if mode == b"40000" else b""), mode, child.name.encode(), sha))
    if not entries:
        return None
    body = b"".join(mode + b" " + name + b"\0" + sha for _, mode, name, sha in sorted(entries))
    return _object(b"tree", body).hex()


def _object(kind: bytes, data: bytes) -> bytes:
    return hashlib.sha1(kind + b" %d\0" % len(data) + data).digest()


def _code() -> dict[str, Any]:
    """The commit (``_git``) and the package's tree id; with ``RNNBENCH_SOURCE_COMMIT`` set (a run
    on a copy of a working tree, which has no history or another one), the stated commit, marked
    as stated, beside the tree id of the code that actually ran."""
    info = _git()
    try:
        info["source_tree"] = tree_id(Path(rnnbench.__file__).resolve().parent)
    except OSError:
        info["source_tree"] = None
    stated = os.environ.get(SOURCE_COMMIT, "").strip().lower()
    if not stated:
        return info
    if not re.fullmatch(r"[0-9a-f]{7,40}", stated):
        warnings.warn(f"ignoring {SOURCE_COMMIT}={stated!r}: not a commit id (7 to 40 hexadecimal digits)", stacklevel=2)
        return info
    checkout = info.get("git_commit")
    same = bool(checkout) and str(checkout).startswith(stated)
    return info | {
        "git_commit": checkout if same else stated,
        "git_dirty": info.get("git_dirty") if same else None,
        "commit_stated": True,
        **({"checkout_commit": checkout} if checkout and not same else {}),
        "code_source": f"copy of a working tree of commit {stated} (stated by {SOURCE_COMMIT}); "
        f"package tree {info['source_tree']}",
    }


# The commit of the code this process imported, read once at import: edits made to the
# tree while a long sweep runs must not be attributed to the records it writes.
GIT = _code()


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


BUSY_SHARE = 0.25  # other processes used more than a quarter of the machine's CPU time
BUSY_FACTOR = 1.5  # without /proc/stat: a 1-minute load average above 1.5 × the cores


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cpu_times() -> tuple[float, float] | None:
    """(seconds all CPUs spent busy, seconds this process spent), from /proc/stat (Linux;
    None elsewhere). Busy includes steal time: a neighbour on the same host competes too."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    mine = os.times()
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), mine.user + mine.system


class LoadMeter:
    """How busy the machine was with other work while a measurement ran: the share of all
    cores' time that other processes used (the CPUs' busy time minus this process's own),
    and the 1-minute load average at both ends. The load average lags by a minute, so the
    share decides: above 25%, another process competed and the timing is not to be trusted."""

    def __init__(self) -> None:
        self.wall, self.cpu, self.loadavg = time.perf_counter(), cpu_times(), load_average()

    def record(self) -> dict[str, Any]:
        cores = os.cpu_count() or 1
        wall, cpu, loadavg = time.perf_counter() - self.wall, cpu_times(), load_average()
        share = None
        if self.cpu and cpu and wall > 0:
            share = max(0.0, ((cpu[0] - self.cpu[0]) - (cpu[1] - self.cpu[1])) / (wall * cores))
        return busy_record(share, self.loadavg, loadavg, cores)


def busy_record(share: float | None, load_start: float | None, load_end: float | None, cores: int) -> dict[str, Any]:
    peak = max((v for v in (load_start, load_end) if v is not None), default=None)
    busy = share > BUSY_SHARE if share is not None else (peak is not None and peak > BUSY_FACTOR * cores)
    return {"others_cpu_share": share, "loadavg_start": load_start, "loadavg_end": load_end, "cores": cores, "busy": busy}


def busy_text(load: dict[str, Any]) -> str:
    """ "other processes used 61% of 2 cores" (or the load average where no share was measured)."""
    if load.get("others_cpu_share") is not None:
        return f"other processes used {load['others_cpu_share']:.0%} of its {load['cores']} cores"
    peak = max(load.get("loadavg_start") or 0, load.get("loadavg_end") or 0)
    return f"1-minute load average {peak:.1f} on {load['cores']} cores"


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Where a number came from: versions, commit, hardware, determinism flags."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    return {
        "rnnbench": rnnbench.__version__,
        **GIT,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "host": platform.node(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch picked (AVX2, AVX512, ...)
        "allocator": allocator.setting(),
        "numerics": numerics.setting(),  # default, or portable with its pins (rnnbench/numerics.py)
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic if cuda else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark if cuda else None,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG") if cuda else None,
        # TF32 changes float32 results on Ampere and later; cuDNN's RNNs use it by default
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if cuda else None,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32 if cuda else None,
    }


def same_setup(a: dict[str, Any], b: dict[str, Any], kind: str = "train") -> bool:
    """Whether a record from environment ``a`` stands for what a new run in ``b`` would
    give, so that a sweep may skip its cell: the same device model, torch and rnnbench code
    (commit and dirty flag), the same numerics setting, and on a CPU the same intra-op thread
    count and instruction set (CPU weights are bit-identical only at equal counts). Under
    portable numerics the CPU model may differ: the pins make CPU results the same on every
    CPU that runs them (rnnbench/numerics.py). A training record from another host with the
    same device is the same measurement; a throughput record must come from this host."""
    cpu = str(b.get("device", "cpu")).startswith("cpu")
    same_numerics = numerics.of_record(a) == numerics.of_record(b)
    portable = cpu and numerics.of_record(b).get("mode") == "portable"
    keys = ["torch", "git_commit", "git_dirty"] + (["device"] if portable else ["device_name"])
    if a.get("commit_stated") or b.get("commit_stated"):  # a copied tree: its commit is a claim, its tree is not
        keys += ["commit_stated", "source_tree"]
    if cpu:
        keys += ["threads", "cpu_capability"]  # one CPU model name can cover several instruction sets
    if kind != "train":
        keys.append("host")
    return same_numerics and all(a.get(k) == b.get(k) for k in keys)


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line, atomically with respect to other writers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, allow_nan=False).encode() + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # an earlier writer died mid-line: start on a fresh one
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write a whole file or nothing: a temporary file beside it, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A record of an older schema in today's form, in memory (the file is never rewritten).

    Schema 1 (before the model contract) knew only the classic families, whose default
    implementation was ``fused``; its records get ``model.display`` (a user model's class
    name) and ``model.default_implementation``. Their cell keys differ from schema 2's, so a
    sweep never resumes from them; they still appear in reports.
    """
    if record.get("schema_version") == 1 and isinstance(record.get("model"), dict):
        from rnnbench.models import MODELS  # here: the models import nothing from this module's users

        model = dict(record["model"])
        model.setdefault("display", str(model.get("name", "")).rpartition(":")[2])
        model.setdefault("default_implementation", "fused")
        if model.get("name") in MODELS:  # schema 1 gave every family the Elman RNN's nonlinearity
            fields = {f.name for f in dataclasses.fields(MODELS.get(model["name"]).Params)}
            model["params"] = {k: v for k, v in model.get("params", {}).items() if k in fields}
        record = {**record, "model": model}
    return record


def read_records(paths: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """All records in the given JSONL files (or directories of them), skipping bad lines."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob("*.jsonl")) if p.is_dir() else [p])
    records = []
    for file in files:
        with open(file, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    warnings.warn(f"{file}:{number}: skipping an incomplete or corrupt record", stacklevel=2)
                    continue
                if not isinstance(record, dict) or record.get("schema_version") not in READABLE_VERSIONS:
                    warnings.warn(f"{file}:{number}: skipping a line that is not an rnnbench record", stacklevel=2)
                    continue
                records.append(upgrade(record))
    return records
