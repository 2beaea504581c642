"""Bucket sort (Delétang et al. 2023, ``tasks/cs/bucket_sort.py``): sort tokens of a 5-symbol alphabet.

Input: ℓ tokens uniform in 0..4, then ℓ blanks (id 5); targets at the blanks: the tokens sorted
ascending, all scored. Chance 0.2 per token, but position alone says much: the i-th sorted token is most likely the one
whose share of the alphabet covers i/ℓ (about ⌊5i/ℓ⌋), and that input-blind guess scores far above
chance, more the longer the input (measured by the ``majority`` baseline on 512 sequences: 0.54 at
ℓ = 7, 0.77 at 40, 0.86 at 100, 0.94 at 500). Averaged over 41..500 it passes the 90% "solved"
line without reading the input: compare a score with the baseline, not with chance. Worked example, ℓ = 8 (their ``10204112``)::

    x    = [1, 0, 2, 0, 4, 1, 1, 2, 5, 5, 5, 5, 5, 5, 5, 5]
    y    = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 4]
    mask = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int

SYMBOLS = 5


class BucketSortTask(FormalTask):
    name = "bucket_sort"
    family = "cs"
    vocab, n_classes = SYMBOLS, SYMBOLS
    symbols = {s: str(s) for s in range(SYMBOLS)}

    def output_length(self, length: int) -> int:
        return length

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        tokens = draw_int(0, SYMBOLS, (batch_size, length), generator)  # (B, ℓ)
        return tokens, tokens.sort(1).values, None
