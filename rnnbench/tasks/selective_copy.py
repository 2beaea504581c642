"""Selective copying (Gu & Dao 2023, "Mamba", section 3.1; the generator is the S4
repository's ``torch_copying_data(L, M, A, variable=True)``, also used by H3).

Alphabet of A tokens: 0 is noise, A-1 the marker, 1..A-2 the data tokens. K data
tokens, uniform in {1..A-2}, go at K distinct positions drawn uniformly among the
first T+K, sorted ascending, in order; every other of those T+K positions is 0; then
K markers. Length T+2K. The targets are the K tokens in order, read at the last K
positions; no other position counts (``mask``). Unlike ``copy``, where the tokens
sit at fixed positions, the model must select them by content, which a
time-invariant recurrence cannot do.

Worked example, T=4, K=2, A=5 (tokens 1..3, marker 4), with positions {1, 4}
drawn among the first 6 and tokens (3, 1)::

    x    = [0, 3, 0, 0, 1, 0, 4, 4]
    y    = [0, 0, 0, 0, 0, 0, 3, 1]
    mask = [0, 0, 0, 0, 0, 0, 1, 1]

Loss: cross-entropy over the K recall positions. Metrics ``ce`` and ``acc`` on those.
Memoryless baseline: a uniform guess among the A-2 data tokens, accuracy 1/(A-2)
(CE ln(A-2)). Solved: ``acc >= 0.99``. Preset ``gu2023``: T=4096, K=16, A=16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, MaskedTokenTask


@dataclass(frozen=True)
class SelectiveCopyParams:
    T: int = 4096  # noise positions
    K: int = 16  # tokens to copy
    A: int = 16  # alphabet: noise, A-2 data tokens, marker

    def validate(self) -> None:
        require(self.T >= 0, f"task.T={self.T} is impossible; selective copy needs T >= 0")
        require(self.K >= 1, f"task.K={self.K} is impossible; selective copy needs K >= 1")
        require(
            self.A >= 3, f"task.A={self.A} is impossible; the alphabet needs noise, a marker and at least one data token (A >= 3)"
        )


class SelectiveCopyTask(MaskedTokenTask):
    name = "selective_copy"
    version = 1
    Params = SelectiveCopyParams
    presets = {"gu2023": "K=16 tokens at random positions among T=4096 noise, alphabet 16 (Gu & Dao 2023, Mamba)"}
    default_preset = "gu2023"

    @property
    def length(self) -> int:
        return self.params.T + 2 * self.params.K

    @property
    def spec(self) -> IOSpec:
        return IOSpec("tokens", self.params.A, "classes", self.params.A, "every")

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        T, K, A = self.params.T, self.params.K, self.params.A
        kw = dict(generator=generator, device=device)
        tokens = torch.randint(1, A - 1, (batch_size, K), **kw)  # (B, K)
        positions = torch.rand(batch_size, T + K, **kw).topk(K, dim=-1).indices.sort(-1).values  # (B, K)
        x = torch.zeros(batch_size, self.length, dtype=torch.long, device=device)  # (B, L)
        x.scatter_(1, positions, tokens)
        x[:, T + K :] = A - 1
        y = torch.zeros_like(x)
        y[:, T + K :] = tokens
        mask = torch.zeros_like(x, dtype=torch.bool)
        mask[:, T + K :] = True
        return Batch(x, y, mask=mask)

    def baselines(self, batch: Batch) -> dict[str, float]:
        n = self.params.A - 2
        return {"baseline": 1 / n, "chance_ce": math.log(n)}
