"""asv benchmarks: speed and peak memory of every registered core (its default
implementation, and the step-by-step reference), and the accuracy of short fixed-seed
trainings (``track_*``, declared in ``track.toml`` beside this file), so that a learning
regression shows across commits as a slowdown does.

The architectures come from the registry of the commit that asv discovers benchmarks in;
a commit that lacks one (or predates the model contract, whose API is used as a fallback)
skips it, so ``asv continuous`` can compare any two commits.
"""

import functools
import os
from pathlib import Path

import tomllib
import torch

try:  # asv's skip for one parameter set, raised from the benchmark itself (there is no setup)
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # imported outside asv (the test suite)

    class SkipNotImplemented(NotImplementedError):
        pass


# Import rnnbench on one thread: an op run at import time on a thread pool starts the pool's threads
# in asv's forkserver, and every benchmark forked from it then hangs. rnnbench runs none now
# (tests/test_imports.py), but asv also imports this module at older commits, whose word-problem
# group tables did
torch.set_num_threads(1)

try:  # the same allocator setting as rnnbench's command line (commits before it had none)
    from rnnbench.allocator import configure

    configure()
except ImportError:
    pass

try:
    from rnnbench.models import build_core, model_order

    ARCHS = model_order()
except ImportError:  # commits before the model contract
    from rnnbench.models import MODELS, model_params

    build_core, ARCHS = None, list(MODELS)
# One thread count for every benchmark of every commit (RNNBENCH_ASV_THREADS, default 1),
# recorded by track_torch_threads: timings at different counts do not compare. One thread leaves
# the VM's other core to asv and the system (results/README.md, "The asv noise floor").
THREADS = int(os.environ.get("RNNBENCH_ASV_THREADS", "1")) or os.cpu_count() or 1


class Timed:
    """asv's sampling for every timing here, chosen by measurement on a 2-core VM whose speed
    changes for seconds at a time (results/README.md, "The asv noise floor"): 6 short rounds,
    interleaved across the two commits and with the other benchmarks, so each commit's median
    comes from six moments of the machine; in each, 2 to 4 samples of at least 20 ms (asv picks
    how many calls make one). The timer is asv's default, wall time: process CPU time moved with
    it to 1% when the machine slowed, so it buys nothing here. No ``setup``: with one, asv times
    one call per sample; the cores are built once per process instead (``_core``)."""

    rounds = 6
    repeat = (2, 4, 1.0)
    sample_time = 0.02
    warmup_time = 0.1


SHAPE = "32x100x128"  # (batch, seq_len, input/hidden size): 1 to 70 ms a call here, not dispatch alone
REFERENCE_SHAPE = "16x50x64"  # the step-by-step references, whose cost is the Python loop
# instruction counts (Instructions): small, since every core runs 100x slower or more under callgrind
COUNT_SHAPE = "4x32x32"
TRACK = tomllib.loads((Path(__file__).parent / "track.toml").read_text())


@functools.cache
def _core(model, shape, impl=None):
    """The core and its input, built once per benchmark process (and warmed by asv's calibration)."""
    torch.set_num_threads(THREADS)
    B, T, H = (int(v) for v in shape.split("x"))
    try:
        if build_core is not None:
            core = build_core(model, impl, input_size=H, hidden_size=H)
        else:
            core = MODELS.get(model).build_core(impl or "fused", H, model_params({"hidden_size": H}))
    except ValueError:  # UsageError: this commit lacks the architecture or the implementation
        raise SkipNotImplemented(f"this commit has no {model} {impl or ''}") from None
    x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(0))
    return core, x


@functools.cache
def _training(model, shape):
    core, x = _core(model, shape)
    params = list(core.parameters())
    with torch.no_grad():
        grad = torch.ones_like(core(x)[0])
    return core, x, params, grad


def _forward(model, shape):
    core, x = _core(model, shape)
    with torch.no_grad():
        core(x)


def _forward_backward(model, shape):
    core, x, params, grad = _training(model, shape)
    y, _ = core(x)
    torch.autograd.grad(y, params, grad)


class Forward(Timed):
    """Inference forward pass of the core's default (fastest) implementation."""

    params = (ARCHS, [SHAPE])
    param_names = ["model", "BxTxH"]
    timeout = 120

    def time_forward(self, model, shape):
        _forward(model, shape)

    def peakmem_forward(self, model, shape):
        _forward(model, shape)


class ForwardBackward(Timed):
    """Training step (forward and backward to the parameters) of the default implementation."""

    params = (ARCHS, [SHAPE])
    param_names = ["model", "BxTxH"]
    timeout = 120

    def time_forward_backward(self, model, shape):
        _forward_backward(model, shape)

    def peakmem_forward_backward(self, model, shape):
        _forward_backward(model, shape)


if os.environ.get("RNNBENCH_ASV_REFERENCES") == "1":

    class ReferenceForward(Timed):
        """The step-by-step reference implementation, to watch the Python loop's cost; only with
        ``RNNBENCH_ASV_REFERENCES=1``. asv flagged these Python-bound loops at up to 1.70x between
        commits that do not touch them on the 2-core VM, and the fast paths at no factor above 1.4,
        so they are not in the default comparison: compare them with a factor of their own
        (docs/asv.md)."""

        params = (ARCHS,)
        param_names = ["model"]
        timeout = 120

        def time_reference_forward(self, model):
            core, x = _core(model, REFERENCE_SHAPE, "reference")
            with torch.no_grad():
                core(x)


class Instructions:
    """Instructions one call of each pass executes (forward, forward+backward of the default
    core at ``COUNT_SHAPE``), counted under valgrind's callgrind (``instructions.py``): the same
    count whatever else the machine is doing, so asv can flag a 10-20% change that wall time on a
    shared VM hides. One valgrind process per commit counts every core (``setup_cache``, run
    once); the counts are deterministic, so one round. Skipped where valgrind is not installed."""

    params = (ARCHS, ["forward", "forward_backward"])
    param_names = ["model", "pass"]
    unit = "instructions"
    rounds = 1
    repeat = 1
    timeout = 3600  # setup_cache's too: every core of one commit

    def setup_cache(self):
        from .instructions import count, unavailable

        why = unavailable()
        return {"unavailable": why} if why else count(ARCHS, COUNT_SHAPE)

    def track_instructions(self, counts, model, pass_):
        if "unavailable" in counts:
            raise SkipNotImplemented(counts["unavailable"])
        if model not in counts:
            raise SkipNotImplemented(f"this commit has no {model}")
        return counts[model][pass_]


def _train(name):
    """The held-out metric of one fixed-seed training declared in track.toml."""
    from rnnbench.train import Cell, fit  # here, not at import: the forkserver imports this module

    torch.set_num_threads(THREADS)
    c = TRACK[name]
    cell = Cell(c["task"], c["model"], task_params=c["task_params"], model_params=c["model_params"], train=c["train"])
    return fit(cell, "cpu")["metrics"][c["metric"]]


def track_torch_threads():
    """The intra-op thread count the benchmarks ran with."""
    torch.set_num_threads(THREADS)
    return torch.get_num_threads()


track_torch_threads.unit = "threads"


def track_adding_mse():
    """Held-out MSE of ``track.toml``'s adding cell (baseline 0.1667)."""
    return _train("adding")


track_adding_mse.unit = "MSE"
track_adding_mse.timeout = 300


def track_copy_recall_accuracy():
    """Recall accuracy of ``track.toml``'s copy cell (chance 0.125)."""
    return _train("copy")


track_copy_recall_accuracy.unit = "accuracy"
track_copy_recall_accuracy.timeout = 300


class HarnessOverhead:
    """rnnbench's reported median over a bare torch.utils.benchmark.Timer of the same
    core's forward (``track.toml``'s harness model, B=64, T=100, I=H=256), in the same
    process: 1.0 means the harness adds nothing; the bound is within 5%."""

    unit = "ratio"
    timeout = 300

    def setup(self):
        if build_core is None:  # commits before the model contract timed this differently
            raise NotImplementedError
        from rnnbench.measure import Shape, ThroughputCell, bare_timer_check

        torch.set_num_threads(THREADS)

        cell = ThroughputCell(TRACK["harness"]["model"], None, Shape(64, 100, 256, 256), 0.5)
        self.check = lambda: bare_timer_check(cell, torch.device("cpu"))

    def track_harness_vs_bare_timer(self):
        return self.check()["ratio"]
