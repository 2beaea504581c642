"""asv benchmarks: speed and peak memory of every classic core, and the accuracy of
short fixed-seed trainings (``track_*``), so that a learning regression shows
across commits as a slowdown does.

Only APIs present since rnnbench's first commit are used, so ``asv continuous``
can compare any two commits.
"""

import torch

from rnnbench.models import MODELS, model_params
from rnnbench.train import Cell, fit

ARCHS = ["rnn", "lstm", "gru", "birnn", "bilstm", "bigru"]
# (batch, seq_len, input/hidden size): a small and a medium CPU shape
SHAPES = ["16x50x64", "32x100x128"]


def _core(model, shape, impl="fused"):
    B, T, H = (int(v) for v in shape.split("x"))
    core = MODELS.get(model).build_core(impl, H, model_params({"hidden_size": H}))
    x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(0))
    return core, x


class Forward:
    """Inference forward pass of the fused core."""

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


class ForwardBackward:
    """Training step (forward and backward to the parameters) of the fused core."""

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


class ReferenceForward:
    """The step-by-step reference implementation, to watch the Python loop's cost."""

    params = (["lstm", "gru"],)
    param_names = ["model"]
    timeout = 120

    def setup(self, model):
        self.core, self.x = _core(model, SHAPES[0], impl="reference")
        self.time_reference_forward(model)

    def time_reference_forward(self, model):
        with torch.no_grad():
            self.core(self.x)


def _train(task, model, task_params, steps):
    cell = Cell(task, model, task_params=task_params, model_params={"hidden_size": 64},
                train={"steps": steps, "lr": 0.01, "batch_size": 64, "eval_every": steps, "eval_size": 500, "seed": 0})
    return fit(cell, "cpu")["metrics"]


def track_adding_lstm_mse():
    """Held-out MSE of an LSTM after 600 steps on adding T=30 (baseline 0.1667)."""
    return _train("adding", "lstm", {"T": 30}, 600)["mse"]


track_adding_lstm_mse.unit = "MSE"
track_adding_lstm_mse.timeout = 300


def track_copy_gru_recall_accuracy():
    """Recall accuracy of a GRU after 400 steps on copy T=10, K=3 (chance 0.125)."""
    return _train("copy", "gru", {"T": 10, "K": 3}, 400)["recall_acc"]


track_copy_gru_recall_accuracy.unit = "accuracy"
track_copy_gru_recall_accuracy.timeout = 300


class HarnessOverhead:
    """rnnbench's reported median over a bare torch.utils.benchmark.Timer of the same
    nn.LSTM forward (B=64, T=100, I=H=256), in the same process: 1.0 means the harness
    adds nothing; the issue's bound is within 5%."""

    unit = "ratio"
    timeout = 300

    def setup(self):
        try:
            from rnnbench.measure import Shape, bare_timer_check
        except ImportError:  # commits from before rnnbench.measure existed
            raise NotImplementedError from None
        self.check = lambda: bare_timer_check(Shape(64, 100, 256, 256), torch.device("cpu"), min_run_time=0.5)

    def track_harness_vs_bare_timer(self):
        return self.check()["ratio"]
