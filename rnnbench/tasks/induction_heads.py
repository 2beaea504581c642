"""Induction heads (HazyResearch/safari ``src/dataloaders/synthetics.py::generate_induction_head``,
as used by H3 and Hyena): recall the token that followed a trigger.

Vocabulary of V ids: 0..V−3 ordinary tokens, V−2 the trigger (their copy prefix "=>"), V−1 their
no-op "." (never drawn; kept for their width). A body of ℓ ordinary tokens, each uniform; with
probability 1/2 one trigger, otherwise ``num_triggers``, at positions drawn uniformly from
0..ℓ−2−L and sorted (a position within L of the previous kept one is dropped); every trigger is
followed by the same L tokens, those after the first trigger. Then the trigger again, and the L
tokens to recall. As safari's language-model split, x is that sequence without its last token
and y the next token; only the last L targets count (their test split masks the rest). The
loss reads the scored positions only (safari trains on every next token, most of them
unpredictable). Chance 1/(V−2).

Worked example, V = 20 (trigger 18), ℓ = 8, L = 1, the trigger drawn at position 2::

    x    = [4, 11, 18, 7, 3, 9, 0, 5, 18]
    y    = [0, 0,  0,  0, 0, 0, 0, 0, 7]
    mask = [0, 0,  0,  0, 0, 0, 0, 0, 1]

Preset ``safari``: V = 20, ℓ = 30, L = 1, one trigger (their pipeline's ``induction_head.yaml``).
The length is an argument of sampling like the Chomsky tasks'; its minimum is L + 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnbench.config import require
from rnnbench.tasks.base import Batch
from rnnbench.tasks.formal import FormalTask, _to, draw_int


@dataclass(frozen=True)
class InductionHeadsParams:
    length: int = 30  # ℓ, safari's input_seq_len: the body before the final trigger
    vocab_size: int = 20  # V, their vocab_size: V - 2 ordinary tokens, the trigger and a no-op
    induction_len: int = 1  # L, tokens copied after each trigger
    num_triggers: int = 1  # triggers when the coin says more than one

    def validate(self) -> None:
        require(
            self.vocab_size >= 3,
            f"task.vocab_size={self.vocab_size} is impossible; the vocabulary needs an "
            "ordinary token, the trigger and the no-op (3 or more)",
        )
        require(self.induction_len >= 1, f"task.induction_len={self.induction_len} is impossible; use 1 or more")
        require(self.num_triggers >= 1, f"task.num_triggers={self.num_triggers} is impossible; use 1 or more")
        require(
            self.length >= self.induction_len + 2,
            f"task.length={self.length} is below induction_heads' minimum {self.induction_len + 2} "
            f"(induction_len + 2): a trigger and its {self.induction_len} token(s) must fit before the end",
        )


class InductionHeadsTask(FormalTask):
    name = "induction_heads"
    family = "recall"
    Params = InductionHeadsParams
    presets = {"safari": "V=20, length 30, one trigger and one token to recall (HazyResearch/safari, H3 and Hyena)"}
    default_preset = "safari"
    min_length = 3

    @property
    def vocab(self) -> int:  # type: ignore[override]
        return self.params.vocab_size

    @property
    def n_classes(self) -> int:  # type: ignore[override]
        return self.params.vocab_size

    @property
    def trigger(self) -> int:
        return self.params.vocab_size - 2

    @property
    def symbols(self) -> dict[int, str]:  # type: ignore[override]
        return {self.trigger: "=>", self.params.vocab_size - 1: "."}

    @property
    def chance(self) -> float:
        return 1.0 / (self.params.vocab_size - 2)

    @property
    def blank(self) -> None:
        return None

    def at_length(self, length: int):
        if length < self.params.induction_len + 2:
            from rnnbench.errors import UsageError

            raise UsageError(
                f"length {length} is below task induction_heads' minimum {self.params.induction_len + 2} "
                f"(induction_len + 2); use lengths >= {self.params.induction_len + 2}"
            )
        return super().at_length(length)

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        p, L = self.params, self.params.induction_len
        body = draw_int(0, p.vocab_size - 2, (batch_size, length), generator)  # (B, ℓ)
        one = torch.rand(batch_size, generator=generator, device=generator.device).cpu() < 0.5
        starts = draw_int(0, length - 1 - L, (batch_size, p.num_triggers), generator)
        copied = []
        for row in range(batch_size):
            positions = starts[row, :1] if one[row] else starts[row].sort().values
            kept = [int(positions[0])]
            for q in positions[1:].tolist():
                if q - kept[-1] > L:
                    kept.append(q)
            tokens = body[row, kept[0] + 1 : kept[0] + 1 + L].clone()
            for q in kept:
                body[row, q] = self.trigger
                body[row, q + 1 : q + 1 + L] = tokens
            copied.append(tokens)
        return body, torch.stack(copied), None

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        body, copied, _ = self.generate(batch_size, generator, self.params.length)
        B, L = batch_size, self.params.induction_len
        sequence = torch.cat([body, torch.full((B, 1), self.trigger, dtype=torch.long), copied], 1)  # (B, ℓ+1+L)
        x, y = sequence[:, :-1], sequence[:, 1:]
        mask = torch.zeros_like(x, dtype=torch.bool)
        mask[:, -L:] = True
        return _to(Batch(x, torch.where(mask, y, 0), mask=mask), device)
