"""The shared layout of the length-generalisation tasks (Delétang et al. 2023; word problems;
induction heads): the length is an argument of sampling, one blank per output position.

Convention (docs/formal.md): ``task.length`` is the input length ℓ as Delétang et al. define
it. A batch holds the ℓ input ids and then one blank (id ``vocab``, one more than the task's
own ids: their one-hot's extra channel) per output position; the outputs are read at the
blanks. ``mask`` marks the scored outputs (all of them, or up to and including a terminator),
``loss_mask`` the outputs the loss reads when that differs (every output position: Delétang
et al. train on the padding after a terminator too). Tagging tasks (the word problems) read
every input position and have no blanks.

Every task reports ``chance`` (a uniform guess over the output classes) and ``majority``, the
best input-blind predictor (the most frequent class at each output position given ℓ, fitted on
one half of the batch and scored on the other, both ways); ``baseline`` is the majority where it
beats chance by more than four standard errors, else chance (bucket sort's position-only guess
scores far above chance; parity's majority is chance plus noise).
"""

from __future__ import annotations

import dataclasses
import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from rnnbench.config import require
from rnnbench.tasks.base import Batch, IOSpec, SolvedRule, Task

DELETANG = "deletang2023"
DELETANG_TEXT = "Delétang et al. (2023), 'Neural Networks and the Chomsky Hierarchy' (their code's generator)"


@dataclass(frozen=True)
class LengthParams:
    length: int = 40  # the input length ℓ; training and evaluation lengths override it per batch

    def validate(self) -> None:
        require(self.length >= 1, f"task.length={self.length} is impossible; lengths are 1 or more")


class Draws:
    """Uniform numbers drawn from a ``torch.Generator`` in blocks and consumed one at a time by
    Python code (the grammar-built tasks): the generator alone decides every draw."""

    def __init__(self, generator: torch.Generator, block: int = 4096) -> None:
        self.generator, self.block, self.values, self.i = generator, block, [], 0

    def uniform(self) -> float:
        if self.i == len(self.values):
            self.values = torch.rand(
                self.block, dtype=torch.float64, generator=self.generator, device=self.generator.device
            ).tolist()
            self.i = 0
        self.i += 1
        return self.values[self.i - 1]

    def integer(self, low: int, high: int) -> int:
        """Uniform in ``low..high-1`` (numpy's ``randint(low, high)``)."""
        return low + min(int(self.uniform() * (high - low)), high - low - 1)


def draw_int(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """``torch.randint(low, high, shape)`` on the generator's own device, moved to the CPU."""
    return torch.randint(low, high, shape, generator=generator, device=generator.device).cpu()


def position_majority(y: torch.Tensor, mask: torch.Tensor, n_classes: int) -> tuple[float, int]:
    """Accuracy of the best input-blind predictor, and how many targets it was scored on: the most
    frequent class at each position, fitted on one half of the sequences and scored on the other,
    both ways (so the fit never sees the targets it is scored on). NaN with fewer than 2 sequences."""
    B = y.shape[0]
    half = B // 2
    if half == 0:
        return math.nan, 0
    correct, total = 0.0, 0.0
    for fit, score in ((slice(0, half), slice(half, B)), (slice(half, B), slice(0, half))):
        counts = (F.one_hot(y[fit], n_classes) * mask[fit].unsqueeze(-1)).sum(0)  # (T, C)
        guess = counts.argmax(-1)  # (T,)
        hit = (y[score] == guess) & mask[score]  # (B', T)
        correct += float(hit.sum())
        total += float(mask[score].sum())
    return (correct / total if total else math.nan), int(total)


class FormalTask(Task):
    """A task whose length is an argument of sampling, laid out as the module docstring says.

    Subclasses set ``vocab`` (input ids ``0..vocab-1``), ``n_classes``, ``family`` and implement
    ``generate``; they override ``output_length`` (default 1: a classification read at the one
    blank) and ``input_length`` (modular arithmetic drops to an odd length).
    """

    version = 1
    Params: ClassVar[type] = LengthParams
    presets: ClassVar[dict[str, str]] = {DELETANG: DELETANG_TEXT}
    default_preset = DELETANG
    primary_metric = "acc"
    rule = SolvedRule("acc", ">=", 0.9)  # Delétang et al. call a task solved at 90% over the test lengths
    length_param = "length"
    family: ClassVar[str]
    vocab: ClassVar[int]
    n_classes: ClassVar[int]
    tagging: ClassVar[bool] = False  # outputs at every input position, no blanks
    symbols: ClassVar[dict[int, str]] = {}  # id -> symbol, for `rnnbench sample`

    def __init__(self, preset: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(preset, params)
        length = self.params.length
        require(
            length >= self.min_length,
            f"task.length={length} is below task {self.name}'s minimum {self.min_length}; use task.length >= {self.min_length}",
        )

    @property
    def reads_last_input(self) -> bool:
        """The answer is read at the last input position, with no blank (Grazzi et al.'s parity)."""
        return False

    @property
    def blank(self) -> int | None:
        """The blank's id (one more than the task's own), None where no blank is appended."""
        return None if self.tagging or self.reads_last_input else self.vocab

    @property
    def chance(self) -> float:
        """A uniform guess over the output classes."""
        return 1.0 / self.n_classes

    def output_length(self, length: int) -> int:
        """Output positions (blanks) after an input of length ``length``."""
        return 1

    def input_length(self, length: int) -> int:
        """The input length a batch of length ``length`` really has (modular arithmetic: odd)."""
        return length

    @property
    def spec(self) -> IOSpec:
        return IOSpec(
            "tokens",
            self.vocab + (0 if self.blank is None else 1),
            "classes",
            self.n_classes,
            "every",
            embed_dim=getattr(self.params, "embed_dim", 0),
        )

    @abstractmethod
    def generate(
        self, batch_size: int, generator: torch.Generator, length: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(inputs (B, ℓ), targets (B, output_length), scored (B, output_length) or None)``, long,
        long and bool, on the CPU, drawn from ``generator`` alone; ``scored`` None means every output."""

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        inputs, targets, scored = self.generate(batch_size, generator, self.params.length)
        return _to(self.layout(inputs, targets, scored), device)

    def layout(self, inputs: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor | None) -> Batch:
        """The ℓ inputs, then one blank per output: targets and masks at the blanks."""
        B, n_in = inputs.shape
        n_out = targets.shape[1]
        if self.tagging:  # a target at every input position
            return Batch(inputs, targets, mask=torch.ones_like(inputs, dtype=torch.bool))
        if self.reads_last_input:  # one answer, at the last input position
            y = torch.zeros_like(inputs)
            y[:, -1] = targets[:, 0]
            mask = torch.zeros_like(inputs, dtype=torch.bool)
            mask[:, -1] = True
            return Batch(inputs.clone(), y, mask=mask)
        x = torch.cat([inputs, torch.full((B, n_out), self.vocab, dtype=torch.long)], 1)  # (B, ℓ + O)
        y = torch.cat([torch.zeros(B, n_in, dtype=torch.long), targets], 1)  # (B, ℓ + O)
        outputs = torch.zeros(B, n_in + n_out, dtype=torch.bool)
        outputs[:, n_in:] = True
        if scored is None:
            return Batch(x, y, mask=outputs)
        mask = torch.zeros_like(outputs)
        mask[:, n_in:] = scored
        return Batch(x, y, mask=mask, loss_mask=outputs)

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        where = batch.loss_mask if batch.loss_mask is not None else batch.mask
        return F.cross_entropy(output[where], batch.y[where])

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        picked, target = output[batch.mask], batch.y[batch.mask]  # (N, C), (N,)
        acc = float((picked.argmax(-1) == target).float().mean())
        return {"acc": acc, "scaled_acc": (acc - self.chance) / (1 - self.chance), "ce": float(self.loss(output, batch))}

    def baselines(self, batch: Batch) -> dict[str, float]:
        """``chance``, ``majority`` (the position-wise majority class, cross-fitted) and ``baseline``:
        the majority where it beats chance by more than four standard errors (so that sampling
        noise on a balanced task does not lift the baseline above chance), else chance."""
        majority, n = position_majority(batch.y, batch.mask, self.n_classes)
        margin = 4 * math.sqrt(self.chance * (1 - self.chance) / n) if n else math.inf
        baseline = majority if math.isfinite(majority) and majority > self.chance + margin else self.chance
        return {"baseline": baseline, "chance": self.chance, "majority": majority}

    def render(self, batch: Batch) -> list[dict[str, Any]]:
        """Each sequence in words (``rnnbench sample``): its input symbols, how many blanks follow,
        the targets at the outputs and how many of them are scored."""
        out = []
        outputs = batch.loss_mask if batch.loss_mask is not None else batch.mask
        for x, y, m, o in zip(batch.x.tolist(), batch.y.tolist(), batch.mask.tolist(), outputs.tolist()):
            name = lambda v: self.symbols.get(v, str(v))  # noqa: E731
            inputs = [name(v) for v in x if v != self.blank]
            out.append(
                {
                    "input": " ".join(inputs),
                    "blanks": len(x) - len(inputs),
                    "targets": " ".join(str(t) for t, keep in zip(y, o) if keep),
                    "scored": sum(m),
                }
            )
        return out

    def evaluation_note(self, size: int) -> str:
        return f"{size} sequences of length {self.params.length} drawn with the fixed evaluation seed"

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"family": self.family, "blank": self.blank, "chance": self.chance}

    def identity(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)


def _to(batch: Batch, device: torch.device | str) -> Batch:
    move = lambda t: None if t is None else t.to(device)  # noqa: E731
    return Batch(move(batch.x), move(batch.y), move(batch.lengths), move(batch.mask), move(batch.loss_mask))


def bits_to_int(bits: list[int]) -> int:
    """Little-endian bits (least significant first) as an integer."""
    return sum(b << i for i, b in enumerate(bits))


def int_to_bits(value: int, width: int = 0, little_endian: bool = True) -> list[int]:
    """``value`` in binary, zero-padded to ``width`` digits; little-endian unless asked (the
    ``numbers_to_*_binary`` helpers of their binary_addition.py)."""
    digits = [int(c) for c in format(value, "b").zfill(width)]
    return digits[::-1] if little_endian else digits


def nonzero_bits(batch_size: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """``(B, width)`` bits, each row uniform over the non-zero ones: a uniform integer in
    ``1..2^width - 1`` (all-zero rows are drawn again)."""
    bits = draw_int(0, 2, (batch_size, width), generator)
    while True:
        zero = (bits.sum(1) == 0).nonzero().flatten()
        if len(zero) == 0:
            return bits
        bits[zero] = draw_int(0, 2, (len(zero), width), generator)
