"""Keep large activation buffers in the process instead of handing them back to the kernel.

glibc's malloc returns every freed block above its mmap threshold to the operating system
and maps it again at the next training step; for recurrent models, whose activations are
large and the same size every step, that is kernel time: measured here, Mamba's scan
forward+backward at B=16, T=1024, H=64 spent 66 s of a 62 s wall-clock run in the kernel,
and ran 2.2× faster once the thresholds were raised (results/README.md, "The allocator", has
the command). rnnbench's command line raises glibc's mmap and trim thresholds and its top pad
to 1 GiB at start-up (``mallopt``), and every record says which allocator setting ran. ``RNNBENCH_ALLOCATOR=default`` keeps the
system's defaults (e.g. to compare with a bare script, which gets them).

With the thresholds raised, a process keeps the largest heap it has needed so far: a sweep's
process, which runs cells of every size one after another, would hold the biggest cell's peak
through every later one (measured here: 2.75 GB resident after four T = 4096 throughput cells, at
the largest one's peak). So every cell ends with :func:`release` (glibc's ``malloc_trim``), which
hands what the cell freed back; the next cell's warm-up maps what it needs again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

THRESHOLD = 1 << 30
# glibc's mallopt parameters: M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
PARAMETERS = {"M_TRIM_THRESHOLD": -1, "M_TOP_PAD": -2, "M_MMAP_THRESHOLD": -3}
_SETTING = "system default (not configured)"


def configure() -> str:
    """Apply the setting once per process (unless ``RNNBENCH_ALLOCATOR=default``); return its description."""
    global _SETTING
    if os.environ.get("RNNBENCH_ALLOCATOR", "").lower() == "default":
        _SETTING = "system default (RNNBENCH_ALLOCATOR=default)"
        return _SETTING
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        _SETTING = "system default (no glibc mallopt)"
        return _SETTING
    ok = all(mallopt(code, THRESHOLD) == 1 for code in PARAMETERS.values())
    _SETTING = (
        "glibc mallopt " + ", ".join(f"{name}={THRESHOLD}" for name in PARAMETERS) if ok else "system default (mallopt refused)"
    )
    return _SETTING


def release() -> bool:
    """Hand the heap's free memory back to the kernel (glibc ``malloc_trim(0)``); False where there is
    no glibc. Cheap next to a cell (it walks the free lists once)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def setting() -> str:
    """What this process runs with, for the records."""
    return _SETTING
