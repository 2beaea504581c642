"""The adding problem (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Two input channels per step: a value and a marker. The target, read at the
last step, is computed from the two values whose marker is 1. MSE loss.

``arjovsky2016`` (default): length T, values U[0, 1]; one marker uniform in
[0, T/2), the other in [T/2, T); target X1 + X2. Worked example, T=4::

    x = [[0.31, 1], [0.82, 0], [0.12, 0], [0.47, 1]]      y = 0.78

Baseline (always predict 1) = Var(X1 + X2) = 1/6. Solved: MSE < 1% of it.

``bai2018`` (TCN repository): as above, but the two markers anywhere in the
sequence (distinct positions).

``hochreiter1997`` (LSTM paper, experiment 4): values U[-1, 1]; each sequence
has its own length, uniform in [T, T + T/10] (batches are right-padded and
carry ``lengths``); the first marked pair is one of the first 10, the second
one of the first T/2 - 1 still unmarked pairs; the first and last pairs carry
marker -1 unless marked; if the first pair is marked, X1 is set to 0. Target
0.5 + (X1 + X2)/4; a sequence is right when |error| < 0.04 (metric
``frac_within_0.04``). Baseline (predict 0.5) = (0.9/3 + 1/3)/16 = 19/480.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, SolvedRule, Task, last_step

TOLERANCE = 0.04


@dataclass(frozen=True)
class AddingParams:
    T: int = 100  # sequence length (hochreiter1997: minimum length)

    def validate(self) -> None:
        require(self.T >= 2, f"task.T={self.T} is impossible; the adding problem needs T >= 2")


class AddingTask(Task):
    name = "adding"
    version = 1
    Params = AddingParams
    presets = {
        "arjovsky2016": "values U[0,1], one marker in each half, target X1+X2 (Arjovsky et al. 2016)",
        "bai2018": "values U[0,1], two markers anywhere (Bai et al. 2018, TCN)",
        "hochreiter1997": "values U[-1,1], length in [T, T+T/10], target 0.5+(X1+X2)/4 (Hochreiter 1997)",
    }
    default_preset = "arjovsky2016"
    primary_metric = "mse"
    rule = SolvedRule("mse", "<", 0.01, relative=True)

    def __init__(self, preset: str | None = None, params: dict | None = None) -> None:
        super().__init__(preset, params)
        require(
            self.preset != "hochreiter1997" or self.params.T >= 20,
            f"task.T={self.params.T} is too short for hochreiter1997; it needs T >= 20 "
            "(the second marker lies in the first T/2 - 1 pairs beside the first ten)",
        )

    @property
    def variable_length(self) -> bool:
        return self.preset == "hochreiter1997"

    @property
    def spec(self) -> IOSpec:
        return IOSpec("real", 2, "real", 1, "last")

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        if self.preset == "hochreiter1997":
            return self._sample_hochreiter(batch_size, generator, device)
        T, B = self.params.T, batch_size
        kw = dict(generator=generator, device=device)
        rows = torch.arange(B, device=device)
        values = torch.rand(B, T, **kw)  # (B, T)
        if self.preset == "arjovsky2016":
            half = T // 2
            i1 = torch.randint(0, half, (B,), **kw)
            i2 = torch.randint(half, T, (B,), **kw)
        else:  # bai2018: two distinct positions anywhere
            i1 = torch.randint(0, T, (B,), **kw)
            i2 = torch.randint(0, T - 1, (B,), **kw)
            i2 = i2 + (i2 >= i1).long()
        markers = torch.zeros(B, T, device=device)
        markers[rows, i1] = 1.0
        markers[rows, i2] = 1.0
        y = (values[rows, i1] + values[rows, i2]).unsqueeze(-1)  # (B, 1)
        return Batch(torch.stack([values, markers], dim=-1), y)  # x: (B, T, 2)

    def _sample_hochreiter(self, B: int, generator: torch.Generator, device: torch.device | str) -> Batch:
        T = self.params.T
        kw = dict(generator=generator, device=device)
        rows = torch.arange(B, device=device)
        lengths = torch.randint(T, T + T // 10 + 1, (B,), **kw)  # (B,)
        L = T + T // 10
        values = torch.rand(B, L, **kw) * 2 - 1  # (B, L)
        i1 = torch.randint(0, 10, (B,), **kw)
        i2 = torch.randint(0, T // 2 - 1, (B,), **kw)
        i2 = i2 + (i2 >= i1).long()  # one of the first T/2 - 1 unmarked pairs
        values = torch.where(torch.arange(L, device=device) < lengths.unsqueeze(1), values, 0.0)
        values[rows[i1 == 0], 0] = 0.0  # the paper sets X1 to 0 when the first pair is marked
        markers = torch.zeros(B, L, device=device)
        markers[:, 0] = -1.0
        markers[rows, lengths - 1] = -1.0
        markers[rows, i1] = 1.0
        markers[rows, i2] = 1.0
        y = 0.5 + (values[rows, i1] + values[rows, i2]).unsqueeze(-1) / 4  # (B, 1)
        return Batch(torch.stack([values, markers], dim=-1), y, lengths)

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.mse_loss(last_step(output, batch), batch.y)

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        pred = last_step(output, batch)  # (B, 1)
        out = {"mse": float(F.mse_loss(pred, batch.y))}
        if self.preset == "hochreiter1997":
            out["frac_within_0.04"] = float(((pred - batch.y).abs() < TOLERANCE).float().mean())
        return out

    def baselines(self, batch: Batch) -> dict[str, float]:
        return {"baseline": 19 / 480 if self.preset == "hochreiter1997" else 1 / 6}
