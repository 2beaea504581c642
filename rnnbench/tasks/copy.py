"""Copying memory (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Tokens: 0 is the blank, 1..8 the symbols, 9 the delimiter. With K=10 symbols:

``arjovsky2016`` (default): input = K symbols, T-1 blanks, delimiter, K blanks
(length T+2K); target = T+K blanks, then the K symbols. Worked example with
T=3, K=2 (as ``rnnbench sample --task copy --set task.T=3 --set task.K=2``)::

    x = [5, 2, 0, 0, 9, 0, 0]
    y = [0, 0, 0, 0, 0, 5, 2]

``bai2018`` (TCN repository): the same, except the last K+1 inputs are all
delimiters: ``x = [5, 2, 0, 0, 9, 9, 9]``.

``exprnn2019`` (Lezcano-Casado & Martinez-Rubio 2019): K symbols, T blanks,
delimiter, K-1 blanks (length T+2K); target = K+T blanks, then the symbols:
``x = [5, 2, 0, 0, 0, 9, 0]``, ``y = [0, 0, 0, 0, 0, 5, 2]``.

Loss: cross-entropy averaged over every step. Metrics: ``ce`` and
``recall_acc`` (accuracy on the K recall steps). Baseline: a model that
outputs blanks until the recall steps and a uniform guess there scores
CE = K·ln(8)/(length), 10·ln 8/(T+20) = 0.1733 at T=100.
Solved: ``recall_acc >= 0.99``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, SolvedRule, Task

BLANK, DELIMITER, N_SYMBOLS = 0, 9, 8


@dataclass(frozen=True)
class CopyParams:
    T: int = 100  # delay between the last symbol and the delimiter's recall
    K: int = 10  # symbols to copy

    def validate(self) -> None:
        require(self.T >= 1, f"task.T={self.T} is impossible; the copy task needs T >= 1")
        require(self.K >= 1, f"task.K={self.K} is impossible; the copy task needs K >= 1")


class CopyTask(Task):
    name = "copy"
    version = 1
    Params = CopyParams
    presets = {
        "arjovsky2016": "K symbols, T-1 blanks, delimiter, K blanks (Arjovsky et al. 2016)",
        "bai2018": "as arjovsky2016 but the last K+1 inputs are delimiters (Bai et al. 2018, TCN)",
        "exprnn2019": "K symbols, T blanks, delimiter, K-1 blanks (Lezcano-Casado 2019, expRNN)",
    }
    default_preset = "arjovsky2016"
    primary_metric = "ce"
    rule = SolvedRule("recall_acc", ">=", 0.99)

    @property
    def length(self) -> int:
        return self.params.T + 2 * self.params.K

    @property
    def spec(self) -> IOSpec:
        return IOSpec("tokens", DELIMITER + 1, "classes", N_SYMBOLS + 1, "every")

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        T, K = self.params.T, self.params.K
        L = self.length
        symbols = torch.randint(1, N_SYMBOLS + 1, (batch_size, K), generator=generator, device=device)
        x = torch.full((batch_size, L), BLANK, dtype=torch.long, device=device)  # (B, L)
        y = torch.full((batch_size, L), BLANK, dtype=torch.long, device=device)  # (B, L)
        x[:, :K] = symbols
        y[:, L - K :] = symbols
        if self.preset == "arjovsky2016":
            x[:, K + T - 1] = DELIMITER
        elif self.preset == "bai2018":
            x[:, K + T - 1 :] = DELIMITER
        else:  # exprnn2019
            x[:, K + T] = DELIMITER
        return Batch(x, y)

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(output.flatten(0, 1), batch.y.flatten())

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        K = self.params.K
        recall = output[:, -K:].argmax(-1) == batch.y[:, -K:]  # (B, K)
        return {"ce": float(self.loss(output, batch)), "recall_acc": float(recall.float().mean())}

    def baselines(self, batch: Batch) -> dict[str, float]:
        return {"baseline": self.params.K * math.log(N_SYMBOLS) / self.length}
