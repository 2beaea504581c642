"""Sine forecasting. No canonical benchmark exists, so rnnbench defines one.

``multisine`` (default): each sequence is a sum of ``n_sines`` sines with
periods uniform in [``min_period``, ``max_period``] steps, phases U[0, 2π) and
amplitudes U[0.5, 1], observed with Gaussian noise (std ``noise``). The model
reads T noisy steps and, at the last one, forecasts the noise-free value H steps
ahead. Worked example, one sine of period 4, amplitude 1, phase 0, no noise,
T=3, H=2: ``x = [0, 1, 0]`` (as ``(B, T, 1)``), ``y = sin(2π·4/4) = 0``.

``pytorch_examples`` (pytorch/examples ``time_sequence_prediction``):
``s_t = sin((t + s)/20)``, integer shift s uniform in [-80, 80), t = 0..T;
the model reads ``s_0..s_{T-1}`` and predicts the next value at every step.

Metric: NMSE, the MSE divided by the target's variance (analytic: the mean
forecast scores 1). Baselines on the evaluation set: the persistence forecast
(repeat the last observed value) and the mean forecast (NMSE 1); the table's
baseline is the better of the two. Solved: NMSE < 10% of that baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, SolvedRule, Task


@dataclass(frozen=True)
class SineParams:
    T: int = 50  # steps read (window length)
    H: int = 5  # forecast horizon (multisine)
    n_sines: int = 3
    min_period: float = 8.0
    max_period: float = 40.0
    noise: float = 0.1

    def validate(self) -> None:
        require(self.T >= 1, f"task.T={self.T} is impossible; the sine task needs T >= 1")
        require(self.H >= 1, f"task.H={self.H} is impossible; the forecast horizon needs H >= 1")
        require(self.n_sines >= 1, f"task.n_sines={self.n_sines} is impossible; use 1 or more")
        require(
            2.0 <= self.min_period <= self.max_period,
            f"task.min_period={self.min_period}, task.max_period={self.max_period} are impossible; "
            "need 2 <= min_period <= max_period",
        )
        require(self.noise >= 0 and math.isfinite(self.noise), f"task.noise={self.noise} must be >= 0")


class SineTask(Task):
    name = "sine"
    version = 1
    Params = SineParams
    presets = {
        "multisine": "sum of sines plus noise, forecast H steps ahead at the last step (rnnbench's own)",
        "pytorch_examples": "sin((t+s)/20), predict the next value at every step (pytorch/examples)",
    }
    default_preset = "multisine"
    primary_metric = "nmse"
    rule = SolvedRule("nmse", "<", 0.1, relative=True)  # baseline: the better of persistence and mean

    def preset_params(self, preset: str) -> SineParams:
        return SineParams(T=999) if preset == "pytorch_examples" else SineParams()

    @property
    def spec(self) -> IOSpec:
        target = "every" if self.preset == "pytorch_examples" else "last"
        return IOSpec("real", 1, "real", 1, target)

    @property
    def variance(self) -> float:
        """Variance of the target over the task's distribution."""
        if self.preset == "pytorch_examples":
            return 0.5
        mean_sq_amplitude = (1.0**3 - 0.5**3) / (3 * 0.5)  # E[a^2], a ~ U[0.5, 1]
        return self.params.n_sines * mean_sq_amplitude / 2

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        p, B = self.params, batch_size
        kw = dict(generator=generator, device=device)
        if self.preset == "pytorch_examples":
            shift = torch.randint(-80, 80, (B, 1), **kw)
            s = torch.sin((torch.arange(p.T + 1, device=device) + shift) / 20.0)  # (B, T+1)
            return Batch(s[:, :-1].unsqueeze(-1), s[:, 1:].unsqueeze(-1))
        period = p.min_period + (p.max_period - p.min_period) * torch.rand(B, p.n_sines, 1, **kw)
        phase = 2 * math.pi * torch.rand(B, p.n_sines, 1, **kw)
        amplitude = 0.5 + 0.5 * torch.rand(B, p.n_sines, 1, **kw)
        t = torch.arange(p.T + p.H, device=device, dtype=torch.float32)  # (T+H,)
        clean = (amplitude * torch.sin(2 * math.pi * t / period + phase)).sum(1)  # (B, T+H)
        x = clean[:, : p.T] + p.noise * torch.randn(B, p.T, **kw)  # (B, T)
        return Batch(x.unsqueeze(-1), clean[:, -1:])  # x: (B, T, 1), y: (B, 1)

    def _pred(self, output: torch.Tensor) -> torch.Tensor:
        return output if self.spec.target == "every" else output[:, -1]

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return ((self._pred(output) - batch.y) ** 2).mean()

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {"nmse": float(self.loss(output, batch)) / self.variance}

    def baselines(self, batch: Batch) -> dict[str, float]:
        persistence = self.metrics(batch.x, batch)["nmse"]  # the input is its own persistence forecast
        mean = float((batch.y**2).mean()) / self.variance
        return {"baseline": min(persistence, mean), "persistence": persistence, "mean": mean}
