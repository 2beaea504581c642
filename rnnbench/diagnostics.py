"""Training diagnostics: measurements taken on a model at initialisation and after training.

(Not to be confused with ``rnnbench check``'s probes of the model contract, rnnbench/check.py.)
A cell names the diagnostics it takes in its ``probes`` field, and a training record holds
their values under ``probes``: the names published records have always used.

``gradient_flow``: the norm of the gradient of the loss (read at the last step)
with respect to the core's input at step t, against the distance from the last
step, averaged over a fixed batch. Its log-linear slope gives a per-step decay
factor: 1 means gradients reach far back undiminished, 0.5 means they halve
with every step back — vanishing gradients, measured directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from rnnbench.config import require
from rnnbench.registry import Registry
from rnnbench.tasks.base import Task

DIAGNOSTIC_SEED = 20_180_301
DIAGNOSTIC_BATCH = 256
TINY = 1e-30  # norms at or below this are underflow, left out of the fit


def decay_rate(norms: list[float]) -> dict[str, float | None]:
    """Least-squares slope of log10(norm) against distance; decay factor per step = 10**slope."""
    points = [(d, math.log10(n)) for d, n in enumerate(norms) if n > TINY]
    if len(points) < 2:
        return {"slope_log10": None, "decay_per_step": None}
    mean_d = sum(d for d, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((d - mean_d) ** 2 for d, _ in points)
    slope = sum((d - mean_d) * (y - mean_y) for d, y in points) / var
    return {"slope_log10": slope, "decay_per_step": 10**slope}


def gradient_flow(model: Any, task: Task, device: torch.device) -> dict[str, Any]:
    """Input-gradient norms by distance from the last step, and their decay rate."""
    g = torch.Generator(device=device).manual_seed(DIAGNOSTIC_SEED)
    batch = task.sample(DIAGNOSTIC_BATCH, g, device)
    features = model.encode(batch.x).detach().requires_grad_()  # (B, T, F)
    loss = task.loss(model.forward_features(features), batch)
    (grad,) = torch.autograd.grad(loss, features)
    norms = grad.norm(dim=-1).mean(0).flip(0)  # (T,), index = distance from the last step
    values = [float(v) for v in norms.cpu()]
    return {"norms_by_distance": values, **decay_rate(values)}


def check_gradient_flow(task: Task, arch: Any) -> None:
    require(
        task.spec.target == "last" and getattr(task.params, "T", 0) >= 2 and task.preset != "hochreiter1997",
        f"gradient_flow needs a fixed-length task read at the last step (adding arjovsky2016/bai2018 or "
        f"sine multisine), not {task.name}/{task.preset}",
    )
    require(not arch.bidirectional, f"gradient_flow is defined for unidirectional models, not {arch.name!r}")


@dataclass(frozen=True)
class Diagnostic:
    measure: Callable[[Any, Task, torch.device], dict[str, Any]]
    check: Callable[[Task, Any], None]  # (task, architecture)


DIAGNOSTICS: Registry[Diagnostic] = Registry("diagnostic")
DIAGNOSTICS.add("gradient_flow", Diagnostic(gradient_flow, check_gradient_flow))
