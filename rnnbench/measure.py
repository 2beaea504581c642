"""Throughput and roofline measurement of recurrent cores.

Timing uses ``torch.utils.benchmark.Timer`` (which synchronises CUDA) after a
warm-up, on ``torch.get_num_threads()`` threads (the count the record states; the
Timer's own default is one thread); nothing inside the timed statement syncs, prints
or calls ``.item()``. FLOPs come from each architecture's own count (classic
families: 2·B·T·(I+H)·G·H per layer and direction, G = 1, 3, 4 for RNN, GRU, LSTM);
forward+backward counts 3× the forward. Roofline = achieved FLOP/s over the FLOP/s
of the architecture's reference matrix product (classic: ``(B·T, I+H) @ (I+H, G·H)``)
timed on the same device in the same run.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import benchmark

from rnnbench.config import require
from rnnbench.models import Architecture, blocks, resolve_model
from rnnbench.models.user import source_hash
from rnnbench.records import configured_model, head
from rnnbench.results import LoadMeter, cell_key, environment
from rnnbench.train import derive_seed


@dataclass(frozen=True)
class Shape:
    batch: int = 64
    seq_len: int = 100
    input_size: int = 256
    hidden_size: int = 256
    num_layers: int = 1

    def validate(self) -> None:
        for name in ("batch", "seq_len", "hidden_size", "input_size", "num_layers"):
            value = getattr(self, name)
            require(value >= 1, f"{name.replace('_', '-')}={value} is impossible; use 1 or more")


@dataclass(frozen=True)
class ThroughputCell:
    """One throughput configuration: model, implementation, shape."""

    model: str
    impl: str | None
    shape: Shape
    min_run_time: float = 0.5
    model_params: dict[str, Any] = dataclasses.field(default_factory=dict)  # beyond hidden_size/num_layers

    def on(self, device: str | torch.device = "cpu") -> ThroughputCell:
        """This cell with its implementation named: the architecture's default on ``device`` if none was."""
        return self if self.impl else dataclasses.replace(self, impl=resolve_model(self.model).default_for(device))

    def params(self) -> Any:
        """The architecture's parameters: the shape's hidden size and layers, then ``model_params``."""
        return shape_params(self, resolve_model(self.model))

    def resolve(self, device: str | torch.device = "cpu") -> ResolvedThroughput:
        """The architecture looked up and every value validated, once, the implementation named as
        it runs on ``device``: the typed values a measurement uses; raises UsageError."""
        arch = resolve_model(self.model)
        if self.impl:
            arch.check_impl(self.impl)
        self.shape.validate()
        params = shape_params(self, arch)
        require(self.min_run_time > 0, f"min-run-time={self.min_run_time} is impossible; use a positive number")
        cell = self if self.impl else dataclasses.replace(self, impl=arch.default_for(device))
        return ResolvedThroughput(cell, arch, params)

    def validate(self) -> None:
        self.resolve()

    def key(self, device: str) -> str:
        return throughput_key(self, resolve_model(self.model), device)


@dataclass(frozen=True)
class ResolvedThroughput:
    """A throughput cell resolved once (:meth:`ThroughputCell.resolve`): its architecture and
    validated parameters as typed values, passed down in place of the model's name."""

    cell: ThroughputCell  # its implementation named (unless built by build or forward_flops)
    arch: Architecture
    params: Any  # the architecture's Params, validated

    def key(self, device: str) -> str:
        return throughput_key(self.cell, self.arch, device)

    def forward_flops(self, core: torch.nn.Module | None = None) -> int | None:
        """Forward FLOPs of the core from its architecture's own count; None for a user's core that declares none."""
        s = self.cell.shape
        return self.arch.forward_flops(self.params, s.batch, s.seq_len, s.input_size, core)

    def build(self, device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
        """The core (weights from a fixed seed) and its input ``(B, T, I)``, on ``device``."""
        s = self.cell.shape
        generator = torch.Generator().manual_seed(derive_seed(0, "throughput"))
        core = self.arch.build(self.cell.impl, s.input_size, self.params, generator)
        x = torch.randn(s.batch, s.seq_len, s.input_size, generator=torch.Generator().manual_seed(0))
        return core.to(device), x.to(device)


def unchecked(cell: ThroughputCell) -> ResolvedThroughput:
    """``cell`` with its architecture and parameters, its shape and implementation not checked
    (as :func:`build` and :func:`forward_flops` have always taken them)."""
    arch = resolve_model(cell.model)
    return ResolvedThroughput(cell, arch, shape_params(cell, arch))


def shape_params(cell: ThroughputCell, arch: Architecture) -> Any:
    """:meth:`ThroughputCell.params` with its architecture."""
    values: dict[str, Any] = {"hidden_size": cell.shape.hidden_size, "num_layers": cell.shape.num_layers}
    factory = getattr(arch, "factory", None)
    lay = blocks.layout(cell.model, factory, cell.model_params.get("width_arg")) if factory is not None else None
    if lay is not None:  # a block: the shape's hidden size is its width (unless given), its layers the stack's
        given = lay.width_arg in cell.model_params or "hidden_size" in cell.model_params
        values = {k: v for k, v in values.items() if not (k == "hidden_size" and given) and not (k == "num_layers" and v == 1)}
    elif arch.user:  # a user's core gets only what its constructor takes
        fields = {k for k in values if k in _constructor_names(arch)}
        if cell.shape.num_layers != 1:
            fields.add("num_layers")
        values = {k: v for k, v in values.items() if k in fields}
    return arch.params({**values, **cell.model_params})


def throughput_key(cell: ThroughputCell, arch: Architecture, device: str) -> str:
    """:meth:`ThroughputCell.key` with its architecture: the implementation named as it runs on ``device``."""
    extra = [dict(sorted(cell.model_params.items()))] if cell.model_params else []
    source = [source_hash(arch.source_files)] if arch.user else []
    impl = cell.impl or arch.default_for(device)
    return cell_key({"throughput": [cell.model, impl, dataclasses.asdict(cell.shape), device, *extra, *source]})


def _constructor_names(arch: Any) -> set[str]:
    from rnnbench.models.user import constructor_fields

    factory = getattr(arch, "factory", None)
    return set(constructor_fields(factory)[0]) if factory is not None else {f.name for f in dataclasses.fields(arch.Params)}


def forward_flops(cell: ThroughputCell, core: torch.nn.Module | None = None) -> int | None:
    """Forward FLOPs of the cell's core from its architecture's own count; None for a user's
    core that declares none."""
    return unchecked(cell).forward_flops(core)


MATMUL_REPEATS = 3
NOISY = 0.2  # IQR / median above this marks a timing as taken on a noisy machine
SLOW_CALL = 1.0  # seconds: a statement this slow is warm after one call and timed 3 times, not 5


def time_it(fn: Callable[[], Any], min_run_time: float, warmup: int = 3, min_runs: int = 5) -> benchmark.Measurement:
    """Median-based timing of ``fn`` with torch.utils.benchmark on all of torch's intra-op
    threads, after ``warmup`` calls, with at least ``min_runs`` timed runs so that the IQR
    means something. A call slower than ``SLOW_CALL`` seconds gets one warm-up call and
    three timed runs (the record's ``runs`` says how many)."""
    start = time.perf_counter()
    fn()
    if time.perf_counter() - start > SLOW_CALL:
        warmup, min_runs = 1, min(min_runs, 3)
    for _ in range(warmup - 1):
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    parts = [timer.blocked_autorange(min_run_time=min_run_time)]
    while sum(len(m.times) for m in parts) < min_runs:
        parts.append(timer.timeit(1))
    return benchmark.Measurement.merge(parts)[0]


def build(cell: ThroughputCell, device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
    return unchecked(cell).build(device)


def step_functions(core: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], Any]]:
    """The timed statements: inference forward, and forward + backward to the parameters."""
    params = [p for p in core.parameters() if p.requires_grad]
    with torch.no_grad():
        grad_out = torch.ones_like(core(x)[0])

    def fwd() -> Any:
        with torch.no_grad():
            return core(x)

    def fwdbwd() -> Any:
        y, _ = core(x)
        return torch.autograd.grad(y, params, grad_out)  # no .grad accumulation to clear

    return {"fwd": fwd, "fwdbwd": fwdbwd}


def memory_bytes(core: torch.nn.Module, x: torch.Tensor, mode: str) -> tuple[int, str]:
    """Peak memory of one call. CUDA: max_memory_allocated above what was allocated
    before. CPU: parameters + output, plus for training the tensors autograd saves
    for backward (PyTorch keeps no CPU allocator statistics; this is the memory a
    training step must hold, not the process's resident size)."""
    fn = step_functions(core, x)[mode]
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        before = torch.cuda.memory_allocated(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        fn()
        torch.cuda.synchronize(x.device)
        return torch.cuda.max_memory_allocated(x.device) - before, "torch.cuda.max_memory_allocated"
    param_bytes = sum(p.numel() * p.element_size() for p in core.parameters())
    if mode == "fwd":
        y, _ = fn()
        return param_bytes + y.numel() * y.element_size(), "params+output (CPU)"
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        # by storage, so that views of one tensor (a KV cache sliced at every step) count once
        if t.layout == torch.strided:
            storage = t.untyped_storage()
            saved[storage.data_ptr()] = storage.nbytes()
        # a detached alias keeps the storage (so no address is reused and counted twice) but not the
        # graph: returning t itself makes a saved output refer to its own graph, a cycle through C++
        # that Python's collector cannot see, and every cell's graph then stays allocated for good
        return t.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y, _ = core(x)
    return param_bytes + y.numel() * y.element_size() + sum(saved.values()), "params+output+saved-for-backward (CPU)"


def measure(cell: ThroughputCell, device: torch.device) -> dict[str, Any]:
    """Time forward and forward+backward of one cell; return a throughput record."""
    return measure_resolved(cell.resolve(device), device)


def measure_resolved(resolved: ResolvedThroughput, device: torch.device) -> dict[str, Any]:
    """:func:`measure` of a cell already resolved (on ``device``)."""
    cell, arch, params = resolved.cell, resolved.arch, resolved.params
    s = cell.shape
    core, x = resolved.build(device)
    flops = resolved.forward_flops(core)
    meter = LoadMeter()
    timings = {mode: time_it(fn, cell.min_run_time) for mode, fn in step_functions(core, x).items()}
    matmul_record: dict[str, Any] = {}
    if flops is not None:  # the roofline reference: the architecture's matrix product, e.g. (B·T, I+H) @ (I+H, G·H)
        M, K, N = arch.roofline_shape(params, s.batch, s.seq_len, s.input_size)
        a = torch.randn(M, K, device=device)
        b = torch.randn(K, N, device=device)
        # timed several times after the model and the best kept: a reference slowed by a busy
        # moment would otherwise put the model above 100% of the machine
        medians = [time_it(lambda: a @ b, cell.min_run_time / 2).median for _ in range(MATMUL_REPEATS)]
        matmul_rate = 2 * M * K * N / min(medians)
        matmul_record = {"shape": [[M, K], [K, N]], "median_s": min(medians), "medians_s": medians, "flop_per_s": matmul_rate}
    results: dict[str, Any] = {}
    for mode, m in timings.items():
        mode_flops = None if flops is None else flops * (3 if mode == "fwdbwd" else 1)
        mem, method = memory_bytes(core, x, mode)
        results[mode] = {
            "median_s": m.median,
            "iqr_s": m.iqr,
            "runs": len(m.times),
            "noisy": m.iqr / m.median > NOISY,
            "tokens_per_s": s.batch * s.seq_len / m.median,
            "flops": mode_flops,
            "flop_per_s": None if mode_flops is None else mode_flops / m.median,
            "roofline": None if mode_flops is None else mode_flops / m.median / matmul_record["flop_per_s"],
            "memory_bytes": mem,
            "memory_method": method,
        }
    return head("throughput", resolved.key(str(device))) | {
        "model": configured_model(
            cell.model,
            arch,
            cell.impl,
            device,
            params,
            {"bidirectional": arch.bidirectional, "state_size": arch.state_numbers(params, s.seq_len, core)},
            block_record(core, params, s) if isinstance(core, blocks.BlockCore) else None,
        ),
        "shape": dataclasses.asdict(s),
        "min_run_time": cell.min_run_time,
        "matmul": matmul_record,
        "results": results,
        "load": meter.record(),
        "env": environment(device),
    }


def block_record(core: blocks.BlockCore, params: Any, s: Shape) -> dict[str, Any]:
    """A block's ``encoder`` and ``stack``: parameters and forward FLOPs of each, apart."""
    out = blocks.record(core.layout, dataclasses.asdict(params), {"kind": "identity", "dim": s.input_size})
    counts = core.counts()
    out["encoder"]["flops"] = core.encoder_flops(s.batch, s.seq_len, s.input_size)
    out["stack"] |= {"n_params": counts["blocks"] + counts["norms"], "block_n_params": counts["blocks"]}
    return out


def bare_timer_check(cell: ThroughputCell, device: torch.device, rounds: int = 3) -> dict[str, float]:
    """rnnbench's reported forward median of ``cell`` against a bare ``Timer`` of the same
    core's call in the same process (same thread count); the ratio shows the harness's own
    cost. The two alternate for ``rounds`` rounds and the median of each side is kept, so
    that drift in the machine's speed does not land on one side only."""
    cell = cell.on(device)
    min_run_time = cell.min_run_time
    core, x = build(cell, device)
    timer = benchmark.Timer(
        stmt="with torch.no_grad(): core(x)", globals={"core": core, "x": x, "torch": torch}, num_threads=torch.get_num_threads()
    )
    bare, harness = [], []
    for _ in range(rounds):
        bare.append(timer.blocked_autorange(min_run_time=min_run_time).median)
        harness.append(measure(cell, device)["results"]["fwd"]["median_s"])
    b, h = statistics.median(bare), statistics.median(harness)
    return {"harness_median_s": h, "bare_median_s": b, "ratio": h / b}
