"""Multi-query associative recall (Arora et al. 2023, "Zoology", section 3; the
generator follows Zoology's ``multiquery_ar`` with ``random_non_queries=True``).

Vocabulary V (even), length T (even), P key-value pairs, power a. Keys: P distinct
tokens from {1..V/2-1}; values: P distinct from {V/2..V-1}. Positions 0..2P-1 hold
``k1 v1 k2 v2 ...``. The query region (T-2P positions) holds each key once more:
P distinct gaps g from {0..(T-2P)/2-1}, drawn without replacement with probability
proportional to a·(g+1)^(a-1) (a power law: short gaps are likelier), key k_i at
position 2P + 2·g_i, where the target is v_i. Every other query-region input is a
random token from {0..V-1}; only the P query positions count (``mask``).

Worked example, V=16, T=12, P=2, keys (3, 5), values (9, 14), gaps (0, 3),
random fill drawn as shown::

    x    = [3, 9, 5, 14, 3, 7, 11, 2, 0, 6, 5, 13]
    y    = [0, 0, 0, 0,  9, 0, 0,  0, 0, 0, 14, 0]
    mask = [0, 0, 0, 0,  1, 0, 0,  0, 0, 0, 1,  0]

Inputs go through a learned embedding (``embed_dim``): Zoology's V = 8192 cannot be
one-hot encoded at T = 512. Loss: cross-entropy at the query positions. Metrics
``acc`` and ``ce`` there. Memoryless baseline: a uniform guess among the V/2 values,
accuracy 2/V. Solved: ``acc >= 0.99``. Preset ``arora2023``: V = 8192, a = 0.01,
T = 256, P = 16 (the paper's grid is T in {64..512}, P in {4..64}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, MaskedTokenTask


@dataclass(frozen=True)
class MQARParams:
    T: int = 256  # sequence length
    num_kv_pairs: int = 16
    V: int = 8192  # vocabulary
    power_a: float = 0.01  # gap distribution ∝ a·(g+1)^(a-1)
    embed_dim: int = 64  # width of the input embedding

    def validate(self) -> None:
        P, T, V = self.num_kv_pairs, self.T, self.V
        require(T >= 4 and T % 2 == 0, f"task.T={T} is impossible; MQAR needs an even length >= 4")
        require(V >= 4 and V % 2 == 0, f"task.V={V} is impossible; MQAR needs an even vocabulary >= 4")
        require(P >= 1, f"task.num_kv_pairs={P} is impossible; use 1 or more")
        require(
            4 * P <= T,
            f"task.num_kv_pairs={P} does not fit task.T={T}: the pairs and their queries need T >= 4 * num_kv_pairs = {4 * P}",
        )
        require(
            P <= V // 2 - 1,
            f"task.num_kv_pairs={P} needs {P} distinct keys, but task.V={V} has only {V // 2 - 1} (1..V/2-1); raise task.V",
        )
        require(
            self.power_a > 0 and math.isfinite(self.power_a),
            f"task.power_a={self.power_a} is impossible; use a positive number (1 = uniform gaps)",
        )
        require(self.embed_dim >= 1, f"task.embed_dim={self.embed_dim} is impossible; use 1 or more")


class MQARTask(MaskedTokenTask):
    name = "mqar"
    version = 1
    Params = MQARParams
    presets = {"arora2023": "V=8192, T=256, 16 key-value pairs, power-law query gaps a=0.01 (Arora et al. 2023, Zoology)"}
    default_preset = "arora2023"

    @property
    def spec(self) -> IOSpec:
        return IOSpec("tokens", self.params.V, "classes", self.params.V, "every", embed_dim=self.params.embed_dim)

    def gap_probabilities(self) -> torch.Tensor:
        """P(g) ∝ a·(g+1)^(a-1) over g = 0..(T-2P)/2-1, as Zoology computes it."""
        p = self.params
        space = (p.T - 2 * p.num_kv_pairs) // 2
        g = torch.arange(1, space + 1, dtype=torch.float64)
        w = p.power_a * g ** (p.power_a - 1)
        return w / w.sum()

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        p, B = self.params, batch_size
        P, half = p.num_kv_pairs, p.V // 2
        kw = dict(generator=generator, device=device)
        keys = torch.rand(B, half - 1, **kw).argsort(-1)[:, :P] + 1  # (B, P) distinct in 1..V/2-1
        values = torch.rand(B, half, **kw).argsort(-1)[:, :P] + half  # (B, P) distinct in V/2..V-1
        probs = self.gap_probabilities().to(device=device, dtype=torch.float32).expand(B, -1)
        gaps = torch.multinomial(probs, P, replacement=False, generator=generator)  # (B, P) distinct
        x = torch.randint(0, p.V, (B, p.T), **kw)  # (B, T): the random fill of the query region
        x[:, 0 : 2 * P : 2] = keys
        x[:, 1 : 2 * P : 2] = values
        queries = 2 * P + 2 * gaps  # (B, P)
        x.scatter_(1, queries, keys)
        y = torch.zeros_like(x).scatter_(1, queries, values)
        mask = torch.zeros_like(x, dtype=torch.bool).scatter_(1, queries, True)
        return Batch(x, y, mask=mask)

    def baselines(self, batch: Batch) -> dict[str, float]:
        return {"baseline": 2 / self.params.V, "chance_ce": math.log(self.params.V // 2)}
