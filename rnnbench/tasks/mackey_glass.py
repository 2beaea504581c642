"""Mackey-Glass chaotic time-series forecasting (Mackey & Glass 1977; the
benchmark setting of Jaeger & Haas 2004, "Harnessing nonlinearity", Science).

The series solves dx/dt = β·x(t-τ)/(1 + x(t-τ)^n) - γ·x(t) with β=0.2, γ=0.1,
n=10, τ=17 (mildly chaotic) from the constant history x = 1.2, integrated by
fourth-order Runge-Kutta with step ``dt`` (delayed values at half steps are the
mean of their neighbours), sampled every time unit, the first ``transient`` units
discarded. The next ``n_train`` samples are the training stretch and the
``n_test`` after them the test stretch: windows never straddle the two. The series
is standardised with the training stretch's mean and std.

A sequence is a window of T readings; the target, read at its last step, is the
reading H steps later. Worked example: with readings s, the window starting at i
is ``x = s[i : i+T]`` (as ``(B, T, 1)``) and ``y = s[i+T-1+H]``.

Metric: NMSE, the MSE over the test stretch's variance. Baselines on the held-out
windows: the persistence forecast (the last reading) and the mean forecast; the
table's baseline is the better of the two. Solved: NMSE < 10% of it. Preset
``jaeger2004``: H = 84 (Jaeger & Haas's horizon), T = 100; ``--set task.H=1`` gives
one-step prediction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, SolvedRule, Task

BETA, GAMMA, N_EXP, TAU, HISTORY = 0.2, 0.1, 10, 17, 1.2


@functools.lru_cache(maxsize=4)
def mackey_glass_series(length: int, dt: float = 0.1, transient: int = 1000) -> torch.Tensor:
    """``length`` readings of the series, one per time unit after ``transient`` units
    (float64, not standardised)."""
    per_unit = round(1 / dt)
    lag = round(TAU / dt)  # delay in integration steps
    steps = (transient + length) * per_unit
    x = [HISTORY] * (lag + 1) + [0.0] * steps  # x[lag] is t = 0

    def f(now: float, delayed: float) -> float:
        return BETA * delayed / (1 + delayed**N_EXP) - GAMMA * now

    for i in range(lag, lag + steps):
        d0, d1 = x[i - lag], x[i - lag + 1]
        dh = 0.5 * (d0 + d1)
        xi = x[i]
        k1 = f(xi, d0)
        k2 = f(xi + 0.5 * dt * k1, dh)
        k3 = f(xi + 0.5 * dt * k2, dh)
        k4 = f(xi + dt * k3, d1)
        x[i + 1] = xi + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    readings = x[lag + transient * per_unit :: per_unit][:length]
    return torch.tensor(readings, dtype=torch.float64)


@dataclass(frozen=True)
class MackeyGlassParams:
    T: int = 100  # readings per window
    H: int = 84  # forecast horizon
    n_train: int = 4000  # samples in the training stretch
    n_test: int = 1000  # samples in the test stretch
    dt: float = 0.1  # integration step

    def validate(self) -> None:
        require(self.T >= 1, f"task.T={self.T} is impossible; use 1 or more")
        require(self.H >= 1, f"task.H={self.H} is impossible; the forecast horizon needs H >= 1")
        require(
            0 < self.dt <= 1 and (1 / self.dt).is_integer(),
            f"task.dt={self.dt} is impossible; use 1/k for a whole number k (0.1, 0.05, ...)",
        )
        for stretch in ("n_train", "n_test"):
            n = getattr(self, stretch)
            require(
                n >= self.T + self.H,
                f"task.{stretch}={n} is too short for a window of T={self.T} and a "
                f"horizon of H={self.H}; it needs at least T + H = {self.T + self.H}",
            )


class MackeyGlassTask(Task):
    name = "mackey_glass"
    version = 1
    Params = MackeyGlassParams
    presets = {"jaeger2004": "tau=17 series, windows of T=100, forecast H=84 steps ahead (Jaeger & Haas 2004)"}
    default_preset = "jaeger2004"
    primary_metric = "nmse"
    rule = SolvedRule("nmse", "<", 0.1, relative=True)  # baseline: the better of persistence and mean

    @property
    def spec(self) -> IOSpec:
        return IOSpec("real", 1, "real", 1, "last")

    @functools.cached_property
    def stretches(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Standardised training and test stretches (float32) and the test stretch's variance."""
        p = self.params
        series = mackey_glass_series(p.n_train + p.n_test, p.dt)
        train, test = series[: p.n_train], series[p.n_train :]
        mean, std = train.mean(), train.std()
        train, test = ((s - mean) / std for s in (train, test))
        return train.float(), test.float(), float(test.var())

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        train, test, _ = self.stretches
        s = (test if split == "test" else train).to(device)
        T, H = self.params.T, self.params.H
        starts = torch.randint(0, len(s) - T - H + 1, (batch_size, 1), generator=generator, device=device)
        x = s[starts + torch.arange(T, device=device)]  # (B, T)
        y = s[starts + T - 1 + H]  # (B, 1)
        return Batch(x.unsqueeze(-1), y)

    def evaluation_note(self, size: int) -> str:
        return f"{size} windows of the test stretch, drawn with the fixed evaluation seed"

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return ((output[:, -1] - batch.y) ** 2).mean()

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {"nmse": float(self.loss(output, batch)) / self.stretches[2]}

    def baselines(self, batch: Batch) -> dict[str, float]:
        persistence = self.metrics(batch.x, batch)["nmse"]  # the last reading is its own forecast
        mean = float((batch.y**2).mean()) / self.stretches[2]  # the training mean, 0 once standardised
        return {"baseline": min(persistence, mean), "persistence": persistence, "mean": mean}
