"""Instruction counts of every core's forward and forward+backward, under valgrind's callgrind.

Wall time on a shared 2-core VM moves by up to 1.4x between commits that change nothing
(results/README.md, "The asv noise floor"); the number of instructions a pass executes does not
depend on what else the machine is doing. ``count()`` runs this file as a script in one
``valgrind --tool=callgrind`` process per commit: it builds and warms every core uninstrumented
(import torch under valgrind alone costs about a minute), switches instrumentation on with
``callgrind_control``, and counts one call of each pass between torch's own callgrind toggles (the
ones ``torch.utils.benchmark.Timer.collect_callgrind`` uses, which instruments the whole process
and would spend minutes per core importing torch).

The counts are of the code valgrind runs, not of the machine's: MKL is held to its SSE4.2 kernels
(``MKL_ENABLE_INSTRUCTIONS``), because valgrind runs MKL's AVX2 GEMM about 800x slower than the
hardware (19 s for one 3200x128x512 product); ATen's own kernels keep their AVX2 paths. An extra
pass, a longer loop or a slower algorithm shows in the count; a change in cache behaviour or
memory traffic alone does not, which is what the wall-time benchmarks are still there for.

``python benchmarks/instructions.py [MODEL ...]`` prints the counts (minutes: each core's passes
run about 100x slower under callgrind).
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PASSES = ("forward", "forward_backward")
# Same seed for every commit's process (dict and set order), one thread, MKL's SSE4.2 kernels
ENV = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}


def unavailable() -> str | None:
    """Why instructions cannot be counted here, or None."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian/Ubuntu: apt install valgrind)"
    import torch

    if not torch._C._valgrind_supported_platform():
        return "this torch build has no callgrind hooks"
    return None


def count(models: list[str], shape: str, timeout: float = 1800) -> dict[str, dict[str, int]]:
    """Instructions of one call of each pass of each model's default core: {model: {pass: n}};
    a model this commit lacks is left out."""
    why = unavailable()
    if why:
        raise RuntimeError(f"cannot count instructions: {why}")
    with tempfile.TemporaryDirectory(prefix="rnnbench-callgrind-") as tmp:
        order = Path(tmp, "order.json")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out"]
        cmd += ["--instr-atstart=no", "--collect-atstart=no", sys.executable, __file__]
        cmd += ["--shape", shape, "--order", str(order), *models]
        done = subprocess.run(cmd, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"the callgrind run failed ({done.returncode}):\n{done.stderr[-4000:]}")
        labels = json.loads(order.read_text())
        counts: dict[str, dict[str, int]] = {}
        # callgrind numbers its dumps from 1, in the order the script made them
        for i, (model, pass_) in enumerate(labels, start=1):
            counts.setdefault(model, {})[pass_] = totals(Path(tmp, f"callgrind.out.{i}"))
        return counts


def totals(path: Path) -> int:
    """The instruction total of one callgrind dump."""
    match = re.search(r"^totals:\s+(\d+)", path.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{path} has no 'totals:' line: not a callgrind dump")
    return int(match.group(1))


def _passes(model: str, shape: str):
    """Both passes of one core as closures, warmed up, or None where this commit lacks the model."""
    import torch

    # this file's folder is sys.path[0]; rnnbench is the commit installed in this Python
    from bench_models import SkipNotImplemented, _core  # the cores asv times

    try:
        core, x = _core(model, shape)
    except SkipNotImplemented:
        return None
    params = list(core.parameters())
    with torch.no_grad():
        grad = torch.ones_like(core(x)[0])

    def forward():
        with torch.no_grad():
            core(x)

    def forward_backward():
        y, _ = core(x)
        torch.autograd.grad(y, params, grad)

    passes = {"forward": forward, "forward_backward": forward_backward}
    for fn in passes.values():  # first calls allocate and fill caches
        fn()
        fn()
    return passes


def _main(argv: list[str]) -> None:
    """Under callgrind: count each pass of each model, dumping one profile per pass."""
    import argparse

    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*")
    parser.add_argument("--shape", default="32x100x128")
    parser.add_argument("--order", type=Path, required=True)
    args = parser.parse_args(argv)
    built = {m: p for m in args.models if (p := _passes(m, args.shape)) is not None}
    subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, stdout=subprocess.DEVNULL)
    labels = []
    for model, passes in built.items():
        for name in PASSES:
            fn = passes[name]
            gc.collect()
            gc.disable()  # a collection's timing depends on everything allocated before
            torch._C._valgrind_toggle()
            fn()
            torch._C._valgrind_toggle_and_dump_stats()
            gc.enable()
            labels.append((model, name))
    subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True, stdout=subprocess.DEVNULL)
    args.order.write_text(json.dumps(labels))


if __name__ == "__main__":
    if "--order" in sys.argv:
        _main(sys.argv[1:])
    else:
        from bench_models import ARCHS, SHAPE

        print(json.dumps(count(sys.argv[1:] or ARCHS, SHAPE), indent=1))
