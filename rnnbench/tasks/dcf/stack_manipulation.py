"""Stack manipulation (Delétang et al. 2023, ``tasks/dcf/stack_manipulation.py``).

Input (ℓ tokens): a stack of s bits (ids 0, 1), s uniform in 1..ℓ−1, given bottom to top, then
ℓ − s actions, each uniform among POP (id 2), PUSH 0 (id 3) and PUSH 1 (id 4); a POP on an empty
stack is ignored. Then ℓ + 1 blanks (id 5). Target at the blanks: the final stack top to bottom,
then the terminator 2, then zeros up to ℓ + 1 outputs. ℓ = 1 is one bit and no action.

Terminator-masked: the mask scores the outputs up to and including the terminator, while the
loss reads every output (their example's loss sums over the whole output, the padding
included). Chance 1/3 (classes 0, 1, 2). Worked example, ℓ = 7 (their ``0 1 1 0 PUSH1 POP POP``)::

    x         = [0, 1, 1, 0, 4, 2, 2, 5, 5, 5, 5, 5, 5, 5, 5]
    y         = [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0]   # stack 0 1 1 -> top first 1 1 0
    mask      = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    loss_mask = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

import torch

from rnnbench.tasks.formal import FormalTask, draw_int

POP, PUSH0, PUSH1, TERMINATOR = 2, 3, 4, 2


class StackManipulationTask(FormalTask):
    name = "stack_manipulation"
    family = "dcf"
    vocab, n_classes = 5, 3
    symbols = {0: "0", 1: "1", POP: "POP", PUSH0: "PUSH0", PUSH1: "PUSH1"}

    def output_length(self, length: int) -> int:
        return length + 1

    def generate(self, batch_size: int, generator: torch.Generator, length: int):
        B = batch_size
        if length == 1:
            s = torch.ones(B, dtype=torch.long)
        else:
            s = draw_int(1, length, (B,), generator)  # (B,) stack sizes 1..ℓ-1
        bits = draw_int(0, 2, (B, length), generator)
        actions = draw_int(POP, PUSH1 + 1, (B, length), generator)
        position = torch.arange(length).unsqueeze(0)  # (1, ℓ)
        tokens = torch.where(position < s.unsqueeze(1), bits, actions)  # (B, ℓ)
        # The initial stack is pushed bit by bit, so the whole input runs as one program.
        stack = torch.zeros(B, length, dtype=torch.long)
        height = torch.zeros(B, dtype=torch.long)
        rows = torch.arange(B)
        for t in range(length):
            token = tokens[:, t]
            push = token != POP
            value = torch.where(token >= PUSH0, token - PUSH0, token)  # PUSH0/PUSH1 -> 0/1, bits as they are
            stack[rows[push], height[push]] = value[push]
            height = torch.where(push, height + 1, (height - 1).clamp(min=0))
        j = torch.arange(length + 1).unsqueeze(0)  # (1, ℓ+1): output position
        from_top = (height.unsqueeze(1) - 1 - j).clamp(min=0)  # (B, ℓ+1)
        targets = torch.where(j < height.unsqueeze(1), stack.gather(1, from_top.clamp(max=length - 1)), 0)
        targets = torch.where(j == height.unsqueeze(1), TERMINATOR, targets)
        return tokens, targets, j <= height.unsqueeze(1)
