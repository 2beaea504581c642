"""Recurrences as functions: one calling convention, a step-by-step reference and fast forms.

Every op takes batch-first tensors ``(B, T, ...)``, an optional initial state, and
``form=``: ``"recurrent"`` (one step at a time: the reference every other form is tested
against) or ``"chunk"`` (the chunkwise-parallel algorithm, the default), plus others where
they earn their place; it returns ``(output, final_state)``::

    import torch
    from rnnbench.ops import linear_recurrence

    a = torch.rand(16, 1024, 64)                    # decays (B, T, H)
    b = torch.randn(16, 1024, 64)                   # inputs
    h, h_T = linear_recurrence(a, b)                # h_t = a_t * h_{t-1} + b_t, chunked
    ref, _ = linear_recurrence(a, b, form="recurrent")

Bad arguments raise :class:`rnnbench.errors.UsageError` (a ``ValueError``) naming the
argument, its shape and the shape expected. :data:`OPS` lists them for
``rnnbench throughput --op NAME``.
"""

from rnnbench.ops.base import OPS, Op
from rnnbench.ops.linear import linear_recurrence
from rnnbench.ops.selective import selective_scan

__all__ = ["OPS", "Op", "linear_recurrence", "selective_scan"]
