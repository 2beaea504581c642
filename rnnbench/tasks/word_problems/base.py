"""The word problem of a finite group as a tagging task (jopetty/word-problem ``src/generate_data.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from rnnbench.config import require
from rnnbench.tasks.formal import FormalTask, draw_int
from rnnbench.tasks.word_problems.groups import Group

MERRILL = "merrill2024"


@dataclass(frozen=True)
class WordProblemParams:
    length: int = 40  # the input length ℓ; training and evaluation lengths override it per batch
    embed_dim: int = 0  # 0: one-hot elements; else a learned embedding of this width

    def validate(self) -> None:
        require(self.length >= 1, f"task.length={self.length} is impossible; lengths are 1 or more")
        require(self.embed_dim >= 0, f"task.embed_dim={self.embed_dim} is impossible; use 0 (one-hot) or more")


class WordProblemTask(FormalTask):
    """Each input is a group element, uniform and independent; the target at every step is the
    running product p_t = p_{t−1}·x_t (p_1 = x_1). Tagging: no blanks, every position scored.
    The running product of uniform elements is uniform, so chance = the majority = 1/|G|."""

    Params = WordProblemParams
    presets = {
        MERRILL: "uniform elements, the running product at every step (Merrill, Petty & Sabharwal 2024; jopetty/word-problem)"
    }
    default_preset = MERRILL
    family = "word problem"
    tagging = True
    group: ClassVar[Group]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "group" in cls.__dict__:
            cls.vocab = cls.n_classes = cls.group.order
            cls.symbols = dict(enumerate(cls.group.elements))

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        x = draw_int(0, self.group.order, (batch_size, length), generator)  # (B, ℓ)
        return x, self.group.running_product(x), None
