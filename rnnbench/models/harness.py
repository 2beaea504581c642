"""The harness's wrapper around a recurrent core: the task's encoder and readout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.tasks.base import IOSpec


class SequenceModel(nn.Module):
    """Task input encoder -> recurrent core -> per-step linear readout.

    Tokens are one-hot encoded, or looked up in a learned embedding when the task's
    spec asks for one (a large vocabulary); real inputs go in as they are. The output
    is per step, ``(B, T, output_size)``; the task decides which steps it reads.
    """

    def __init__(self, core: nn.Module, core_output_size: int, spec: IOSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.input_size, spec.embed_dim) if spec.encoder["kind"] == "embedding" else None
        self.core = core
        self.head = nn.Linear(core_output_size, spec.output_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Task input -> core input features ``(B, T, F)``."""
        if self.embedding is not None:
            return self.embedding(x)  # (B, T, E)
        if self.spec.input_kind == "tokens":
            return F.one_hot(x, self.spec.input_size).float()  # (B, T, V)
        return x

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        y, _ = self.core(features)  # (B, T, H·D)
        return self.head(y)  # (B, T, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.encode(x))

    def reset_head(self, generator: torch.Generator) -> None:
        """The readout's init, U(-1/√fan_in, 1/√fan_in), and the embedding's, N(0, 1)
        as PyTorch's, drawn from ``generator``."""
        bound = 1.0 / math.sqrt(self.head.in_features)
        with torch.no_grad():
            if self.embedding is not None:
                self.embedding.weight.copy_(torch.randn(self.embedding.weight.shape, generator=generator))
            for p in self.head.parameters():
                p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=generator))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
