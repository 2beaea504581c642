"""Portable numerics: CPU results that are bit-identical across CPU models.

By default PyTorch, MKL and oneDNN each run the fastest code for the CPU they find (AVX-512
kernels on one machine, AVX2 on another, MKL's own branch per vendor), so a CPU result
reproduces bit for bit only on the same instruction set. ``--numerics portable`` (or
``RNNBENCH_NUMERICS=portable``) pins each library to one code path that every x86-64 CPU
with AVX2 runs the same way, and routes the fused LSTM around oneDNN (see ``PINS`` and
docs/reproducibility.md for what holds, the evidence and the cost). The pins are
environment variables that each library reads once, when it first runs, so they are set
before torch is imported (as the allocator setting is applied at start-up), and every
record says which mode and pins it ran with (``env.numerics``). Without the option nothing
changes: the fastest code path, and the records of that CPU's instruction set.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

from rnnbench.errors import UsageError

ENV_VAR = "RNNBENCH_NUMERICS"
MODES = ("default", "portable")

# What ``portable`` sets, and why each one (docs/reproducibility.md has the evidence).
PINS: dict[str, str] = {
    # PyTorch's own kernels (pointwise, reductions, Adam): the AVX2 build, not AVX-512, on every
    # CPU. Its float kernels use only exact instructions (no rcp/rsqrt estimates), so they agree
    # between vendors.
    "ATEN_CPU_CAPABILITY": "avx2",
    # MKL's matrix products: the SSE2 branch of its conditional numerical reproducibility. MKL
    # honours the other branches (AVX2, ...) on Intel CPUs only; on AMD, MKL_CBWR=AVX2 silently
    # runs the AUTO branch (MKL_VERBOSE prints CNR:AUTO), whose code depends on the CPU.
    "MKL_CBWR": "COMPATIBLE",
    # exactly the threads torch asks for: dynamic MKL/OpenMP may use fewer (say, on a machine
    # with fewer physical cores than threads), and the partition of a product changes its sums
    "MKL_DYNAMIC": "FALSE",
    "OMP_DYNAMIC": "FALSE",
    # oneDNN's JIT code: no AVX-512 (rnnbench itself keeps the fused LSTM off oneDNN, below)
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
CAPABILITY = "AVX2"  # what torch.backends.cpu.get_cpu_capability() reports under the pins
# oneDNN documents no cross-CPU reproducibility (MKL's CNR has no oneDNN counterpart), so the
# fused LSTM, which PyTorch otherwise runs on oneDNN's RNN primitive, runs ATen's LSTM instead:
# matrix products through MKL (pinned above) and PyTorch's AVX2 kernels.
MKLDNN = False

_MODE = "default"


def assignments() -> str:
    """The pins as shell assignments, for a message: ``ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=...``."""
    return " ".join(f"{k}={v}" for k, v in PINS.items())


def resolve(flag: str | None) -> str:
    """The mode asked for: the ``--numerics`` flag, else ``RNNBENCH_NUMERICS``, else default."""
    if flag is not None:
        value, source = flag, "--numerics"
    else:
        value, source = os.environ.get(ENV_VAR, "").strip(), ENV_VAR
    value = (value or "default").lower()
    if value not in MODES:
        raise UsageError(
            f"{source}={value!r} is not a numerics mode; choose one of: {', '.join(MODES)} (see docs/reproducibility.md)"
        )
    return value


def mode() -> str:
    """The numerics mode this process runs with."""
    return _MODE


def configure(wanted: str) -> dict[str, Any]:
    """Apply ``wanted`` to this process and return ``setting()``.

    ``portable`` sets the pins in the environment and then imports torch to check that they
    took effect (PyTorch's reported capability) and to keep the LSTM off oneDNN. It must run
    before torch is imported: with torch already imported and the pins not in the environment
    from the start, it raises a UsageError instead of recording pins that do not hold.
    """
    global _MODE
    if wanted not in MODES:
        raise UsageError(f"unknown numerics mode {wanted!r}; choose one of: {', '.join(MODES)}")
    if wanted == "default":
        if _MODE == "portable":
            raise UsageError(
                "this process already runs with --numerics portable (the pins cannot be undone once "
                "torch has read them); run default-numerics work in a new process"
            )
        return setting()
    differing = {k: os.environ.get(k) for k, v in PINS.items() if os.environ.get(k) != v}
    if differing and "torch" in sys.modules:
        raise UsageError(
            "torch was imported before the portable numerics pins were set, so they cannot take effect "
            f"in this process; start Python with them in the environment ({assignments()}) or call "
            "rnnbench.numerics.configure('portable') before importing torch"
        )
    replaced = {k: v for k, v in differing.items() if v is not None}
    if replaced:
        warnings.warn(
            "portable numerics replaces "
            + ", ".join(f"{k}={v}" for k, v in replaced.items())
            + f" with {', '.join(f'{k}={PINS[k]}' for k in replaced)}",
            stacklevel=2,
        )
    os.environ.update(PINS)
    _apply_torch()
    _MODE = "portable"
    return setting()


def _apply_torch() -> None:
    import torch

    got = torch.backends.cpu.get_cpu_capability()
    if got != CAPABILITY:
        raise UsageError(
            f"--numerics portable runs PyTorch's {CAPABILITY} kernels, but torch reports {got} on this CPU "
            f"({platform.processor() or platform.machine()}): its results could not match other "
            "machines'; run without --numerics portable"
        )
    torch.backends.mkldnn.enabled = MKLDNN


def setting() -> dict[str, Any]:
    """What this process runs with, for the records' ``env.numerics``. In default mode, any of
    the pinned variables that someone set by hand are listed too: they change the results."""
    if _MODE == "portable":
        return {"mode": "portable", "pins": dict(PINS), "mkldnn": MKLDNN}
    by_hand = {k: os.environ[k] for k in PINS if k in os.environ}
    return {"mode": "default", **({"environment": by_hand} if by_hand else {})}


def of_record(env: dict[str, Any]) -> dict[str, Any]:
    """A record's numerics setting; records made before this option existed ran in default mode."""
    return env.get("numerics") or {"mode": "default"}


def worker_environment() -> dict[str, str]:
    """Environment variables a worker process must start with to run as this one does."""
    return dict(PINS) if _MODE == "portable" else {}


def enter_worker(expected: dict[str, Any] | None) -> None:
    """In an executor's worker: run with the driver's numerics, or fail saying how to start the worker.

    A worker is a separate process that imported torch before it got its first cell, so the
    pins must have been in its environment from its start; this checks that they were (and
    that its torch reports the pinned capability) rather than trusting the driver's word."""
    global _MODE
    if not expected or expected.get("mode") != "portable" or _MODE == "portable":
        return
    missing = [k for k, v in PINS.items() if os.environ.get(k) != v]
    if missing:
        raise RuntimeError(
            f"worker on {platform.node()} (pid {os.getpid()}) was started without the portable "
            f"numerics pins ({', '.join(missing)} missing); start the workers with {assignments()} "
            "in their environment"
        )
    _apply_torch()
    _MODE = "portable"


def recorded_mode(path: Path, run_id: str | None) -> str | None:
    """The numerics mode of the training record ``rerun`` will pick (the one with ``run_id``, else
    the last), read with the standard library only, before torch is imported; None if unreadable."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return None
    found = None
    for raw in lines:
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict) or record.get("kind", "train") != "train":
            continue
        if run_id is None or record.get("run_id") == run_id:
            found = record
    if found is None:
        return None
    return of_record(found.get("env") or {}).get("mode", "default")
