"""asv benchmarks: speed and peak memory of every registered core (its default
implementation, and the step-by-step reference), and the accuracy of short fixed-seed
trainings (``track_*``, declared in ``track.toml`` beside this file), so that a learning
regression shows across commits as a slowdown does.

The architectures come from the registry of the commit that asv discovers benchmarks in;
a commit that lacks one (or predates the model contract, whose API is used as a fallback)
skips it, so ``asv continuous`` can compare any two commits.
"""

import os
from pathlib import Path

import tomllib
import torch

from rnnbench.train import Cell, fit

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
# One thread count for every benchmark of every commit (RNNBENCH_ASV_THREADS, default all
# cores), recorded by track_torch_threads: timings at different counts do not compare.
torch.set_num_threads(int(os.environ.get("RNNBENCH_ASV_THREADS", "0")) or os.cpu_count() or 1)


class Timed:
    """asv's sampling for every timing here: at least 10 samples in each of 2 rounds,
    interleaved with the other benchmarks' rounds (so that a slow minute of the machine
    does not land on one row only), at most 5 s of samples per round."""

    rounds = 2
    repeat = (10, 20, 5.0)
    warmup_time = 0.2


# (batch, seq_len, input/hidden size): a small and a medium CPU shape
SHAPES = ["16x50x64", "32x100x128"]
TRACK = tomllib.loads((Path(__file__).parent / "track.toml").read_text())


def _core(model, shape, impl=None):
    B, T, H = (int(v) for v in shape.split("x"))
    try:
        if build_core is not None:
            core = build_core(model, impl, input_size=H, hidden_size=H)
        else:
            core = MODELS.get(model).build_core(impl or "fused", H, model_params({"hidden_size": H}))
    except ValueError:  # UsageError: this commit lacks the architecture or the implementation
        raise NotImplementedError from None
    x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(0))
    return core, x


class Forward(Timed):
    """Inference forward pass of the core's default (fastest) implementation."""

    params = (ARCHS, SHAPES)
    param_names = ["model", "BxTxH"]
    timeout = 120

    def setup(self, model, shape):
        self.core, self.x = _core(model, shape)
        self.time_forward(model, shape)  # warm up (first-call costs are not the kernel's)

    def time_forward(self, model, shape):
        with torch.no_grad():
            self.core(self.x)

    def peakmem_forward(self, model, shape):
        with torch.no_grad():
            self.core(self.x)


class ForwardBackward(Timed):
    """Training step (forward and backward to the parameters) of the default implementation."""

    params = (ARCHS, SHAPES)
    param_names = ["model", "BxTxH"]
    timeout = 120

    def setup(self, model, shape):
        self.core, self.x = _core(model, shape)
        self.params = list(self.core.parameters())
        with torch.no_grad():
            self.grad = torch.ones_like(self.core(self.x)[0])
        self.time_forward_backward(model, shape)  # warm up, including autograd's engine

    def time_forward_backward(self, model, shape):
        y, _ = self.core(self.x)
        torch.autograd.grad(y, self.params, self.grad)

    def peakmem_forward_backward(self, model, shape):
        y, _ = self.core(self.x)
        torch.autograd.grad(y, self.params, self.grad)


class ReferenceForward(Timed):
    """The step-by-step reference implementation, to watch the Python loop's cost."""

    params = (ARCHS,)
    param_names = ["model"]
    timeout = 120

    def setup(self, model):
        self.core, self.x = _core(model, SHAPES[0], impl="reference")
        self.time_reference_forward(model)

    def time_reference_forward(self, model):
        with torch.no_grad():
            self.core(self.x)


def _train(name):
    """The held-out metric of one fixed-seed training declared in track.toml."""
    c = TRACK[name]
    cell = Cell(c["task"], c["model"], task_params=c["task_params"], model_params=c["model_params"], train=c["train"])
    return fit(cell, "cpu")["metrics"][c["metric"]]


def track_torch_threads():
    """The intra-op thread count the benchmarks ran with."""
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

        cell = ThroughputCell(TRACK["harness"]["model"], None, Shape(64, 100, 256, 256), 0.5)
        self.check = lambda: bare_timer_check(cell, torch.device("cpu"))

    def track_harness_vs_bare_timer(self):
        return self.check()["ratio"]
