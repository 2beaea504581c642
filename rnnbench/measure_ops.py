"""Throughput of one op of :mod:`rnnbench.ops` alone (``rnnbench throughput --op``), with the
same machinery as a model's: ``torch.utils.benchmark`` medians after a warm-up, the machine's
load, the environment, one JSON record per form.

An op on these shapes is memory-bound, so its roofline is bandwidth, not FLOPs: GB/s is its
minimum traffic (every input read once and every output written once; forward+backward
twice that: the output gradients read and the input gradients written too) per second, and
the roofline is that rate over a memory copy of the same number of bytes timed in the same
run. Memory is the tensors autograd saves for the backward (CPU) or the CUDA peak.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from rnnbench.config import override, require
from rnnbench.errors import UsageError
from rnnbench.measure import MATMUL_REPEATS, NOISY, time_it
from rnnbench.ops.base import OPS, Op, check_form, tensors_of
from rnnbench.records import head
from rnnbench.results import LoadMeter, cell_key, environment

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class OpCell:
    """One op measurement: the op, its form, the shape (B, T, width), its shape parameters."""

    op: str
    form: str
    batch: int = 16
    seq_len: int = 1024
    hidden: int = 64
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    dtype: str = "float32"
    min_run_time: float = 0.5

    def spec(self) -> Op:
        return OPS.get(self.op)

    def op_params(self) -> Any:
        return override(self.spec().Params(), self.params, "op")

    def validate(self) -> None:
        check_form(self.op, self.form, self.spec().forms)
        for name in ("batch", "seq_len", "hidden"):
            value = getattr(self, name)
            require(value >= 1, f"{name.replace('_', '-')}={value} is impossible; use 1 or more")
        require(self.dtype in DTYPES, f"dtype {self.dtype!r} is not supported; choose one of: {', '.join(DTYPES)}")
        require(self.min_run_time > 0, f"min-run-time={self.min_run_time} is impossible; use a positive number")
        self.op_params()

    def key(self, device: str) -> str:
        return cell_key(
            {
                "op": [
                    self.op,
                    self.form,
                    self.batch,
                    self.seq_len,
                    self.hidden,
                    dict(sorted(self.params.items())),
                    self.dtype,
                    device,
                ]
            }
        )


def inputs(cell: OpCell, device: torch.device) -> dict[str, Any]:
    """The op's example inputs on ``device``; the floating ones require grad."""
    made = cell.spec().example(
        cell.op_params(), cell.batch, cell.seq_len, cell.hidden, torch.Generator().manual_seed(0), DTYPES[cell.dtype]
    )
    return {
        k: v.to(device).requires_grad_() if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex()) else v
        for k, v in made.items()
    }


def nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def step_functions(cell: OpCell, args: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    call = cell.spec().call
    grads = [v for v in args.values() if isinstance(v, torch.Tensor) and v.requires_grad]
    with torch.no_grad():
        outs = tensors_of(call(**args, form=cell.form))
    seeds = [torch.ones_like(o) for o in outs]

    def fwd() -> Any:
        with torch.no_grad():
            return call(**args, form=cell.form)

    def fwdbwd() -> Any:
        return torch.autograd.grad(tensors_of(call(**args, form=cell.form)), grads, seeds, allow_unused=True)

    return {"fwd": fwd, "fwdbwd": fwdbwd}


def saved_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the tensors autograd saves for the backward while ``fn`` runs (each storage once)."""
    saved: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.layout == torch.strided:
            saved[(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(saved.values())


def memory(cell: OpCell, args: dict[str, Any], device: torch.device) -> tuple[int, str]:
    call = cell.spec().call
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step_functions(cell, args)["fwdbwd"]()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before, "torch.cuda.max_memory_allocated"
    return saved_bytes(lambda: call(**args, form=cell.form)), "saved-for-backward (CPU)"


def measure_op(cell: OpCell, device: torch.device) -> dict[str, Any]:
    """Time the op's forward and forward+backward in one form; return an ``op_throughput`` record."""
    cell.validate()
    args = inputs(cell, device)
    with torch.no_grad():
        outs = tensors_of(cell.spec().call(**args, form=cell.form))
    tensor_in = [v for v in args.values() if isinstance(v, torch.Tensor)]
    traffic = {"fwd": nbytes(tensor_in) + nbytes(outs)}
    traffic["fwdbwd"] = 2 * traffic["fwd"]
    meter = LoadMeter()
    timings = {mode: time_it(fn, cell.min_run_time) for mode, fn in step_functions(cell, args).items()}
    src = torch.empty(max(1, traffic["fwd"] // 8), dtype=torch.float32, device=device)  # read + write = traffic
    dst = torch.empty_like(src)
    medians = [time_it(lambda: dst.copy_(src), cell.min_run_time / 2).median for _ in range(MATMUL_REPEATS)]
    copy_rate = 2 * src.numel() * src.element_size() / min(medians)
    mem, method = memory(cell, args, device)
    results = {}
    for mode, m in timings.items():
        rate = traffic[mode] / m.median
        results[mode] = {
            "median_s": m.median,
            "iqr_s": m.iqr,
            "runs": len(m.times),
            "noisy": m.iqr / m.median > NOISY,
            "tokens_per_s": cell.batch * cell.seq_len / m.median,
            "traffic_bytes": traffic[mode],
            "bytes_per_s": rate,
            "roofline": rate / copy_rate,
        }
    op = cell.spec()
    return head("op_throughput", cell.key(str(device))) | {
        "op": {
            "name": op.name,
            "form": cell.form,
            "params": dataclasses.asdict(cell.op_params()),
            "equations": op.equations,
            "citation": op.citation,
        },
        "shape": {
            "batch": cell.batch,
            "seq_len": cell.seq_len,
            "hidden": cell.hidden,
            "dtype": cell.dtype,
            "inputs": {k: list(v.shape) for k, v in args.items() if isinstance(v, torch.Tensor)},
        },
        "min_run_time": cell.min_run_time,
        "copy": {
            "bytes": 2 * src.numel() * src.element_size(),
            "median_s": min(medians),
            "medians_s": medians,
            "bytes_per_s": copy_rate,
        },
        "memory": {"bytes": mem, "method": method},
        "results": results,
        "load": meter.record(),
        "env": environment(device),
    }


def op_cells(
    op: str,
    forms: str | None,
    batch: int,
    seq_lens: list[int],
    hidden: int,
    params: dict[str, Any],
    dtype: str,
    min_run_time: float,
) -> list[OpCell]:
    """The cells of ``rnnbench throughput --op``: every form asked for (default all) at every length."""
    if op not in OPS:
        raise UsageError(f"unknown op {op!r}; choose one of: {', '.join(sorted(OPS))}")
    names = [f.strip() for f in forms.split(",")] if forms else list(OPS.get(op).forms)
    cells = [OpCell(op, f, batch, t, hidden, params, dtype, min_run_time) for t in seq_lens for f in names]
    for c in cells:
        c.validate()
    return cells
