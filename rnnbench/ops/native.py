"""rnnbench's native CPU kernels: C++ built at first use with ``torch.utils.cpp_extension``.

``csrc/native.cpp`` holds the ``"native"`` form of
:func:`rnnbench.ops.linear_recurrence` (one sequential pass over time per lane, forward and
reverse, so it moves the data once where the chunk form's PyTorch ops make a dozen passes and
~300 dispatches) and the fused minGRU and minLSTM layers (their gates computed inside that
pass and recomputed in the reverse one; ``--impl native`` of those models). The first use on a
machine compiles it (about 20 s, a line on stderr says so) into torch's extension cache
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``); later processes load it in
milliseconds, and a changed source or flag rebuilds. It needs a C++ compiler (``c++`` or
``$CXX``) and ninja (``pip install 'rnnbench[native]'``); :func:`unavailable` says which is
missing. CPU tensors only; the lanes run on ATen's OpenMP threads (``torch.set_num_threads``).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import torch

from rnnbench.errors import UsageError

SOURCE = Path(__file__).with_name("csrc") / "native.cpp"
NAME = "rnnbench_native"  # the library's name and its operators' namespace (torch.ops.rnnbench_native)
# no -march=native: a cached build must run on every machine sharing the cache. -fopenmp makes
# at::parallel_for (an OpenMP loop in ATen's headers) parallel; it is not linked, so the loop runs on
# the OpenMP runtime torch has loaded, with torch's thread count. The math flags (not -ffast-math,
# whose flush-to-zero would leak into the process) let GCC call glibc's vector exp (libmvec) in the
# gate loops (`#pragma omp simd`), 4 floats at a time.
CFLAGS = ("-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math")
LDFLAGS = ("-lmvec",) if platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc" else ()
DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def unavailable() -> str | None:
    """Why the native kernels cannot be built here (no compiler, no ninja), or None."""
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"form 'native' compiles C++ at first use and finds no C++ compiler ({compiler!r}: set CXX or install g++)"
    if not cpp_extension.is_ninja_available():
        return "form 'native' compiles a C++ kernel with ninja, which is not installed: pip install 'rnnbench[native]'"
    return None


def ops(name: str = NAME, source: str | None = None) -> Any:
    """The operator namespace ``torch.ops.<name>``, built or loaded once per process.

    ``source`` replaces the C++ text (a test builds a copy with a planted bug under another name)."""
    with _lock:
        if name not in _loaded:
            _loaded[name] = _build(name, source)
        return _loaded[name]


def _build(name: str, source: str | None) -> Any:
    if (why := unavailable()) is not None:
        raise UsageError(why)
    from torch.utils import cpp_extension

    text = SOURCE.read_text() if source is None else source
    # one directory per torch and Python version: the library is compiled against both
    tag = f"torch{torch.__version__.replace('+', '_')}-py{sys.version_info.major}{sys.version_info.minor}"
    build_dir = Path(cpp_extension.get_default_build_root()) / f"{name}-{tag}"
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / f"{name}.cpp"
    if not (build_dir / f"{name}.so").exists() or not path.exists() or path.read_text() != text:
        print(f"rnnbench: building the native CPU kernel {name} (once per machine, about 20 s)", file=sys.stderr, flush=True)
    if not path.exists() or path.read_text() != text:  # torch rebuilds when the source's hash changes
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # whole or not at all: another process may be reading it
        tmp.write_text(text)
        os.replace(tmp, path)
    try:
        cpp_extension.load(
            name,
            sources=[str(path)],
            extra_cflags=[*CFLAGS, f"-DRNNBENCH_NS={name}"],
            extra_ldflags=list(LDFLAGS),
            build_directory=str(build_dir),
            is_python_module=False,
            verbose=False,
        )
    except (RuntimeError, OSError, ImportError) as e:  # a compiler error, a broken toolchain
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise UsageError(f"form 'native': building the C++ kernel in {build_dir} failed ({first[:200]}); use form 'chunk'") from e
    return getattr(torch.ops, name)


def check_tensors(op: str, tensors: dict[str, torch.Tensor | None]) -> None:
    """CPU tensors of a dtype the kernel is compiled for, else one line saying what to use."""
    for arg, t in tensors.items():
        if t is None:
            continue
        if t.device.type != "cpu":
            raise UsageError(f"{op}: form 'native' is a CPU kernel and {arg} is on {t.device}; use form 'chunk' there")
        if t.dtype not in DTYPES:
            names = [str(d).removeprefix("torch.") for d in (*DTYPES, t.dtype)]
            kinds = ", ".join(names[:-2]) + f" or {names[-2]}"
            raise UsageError(f"{op}: form 'native' takes {kinds}; {arg} is {names[-1]}: use form 'chunk'")
