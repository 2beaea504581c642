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

The matrix-state recurrences of the linear-attention family (fla's notation and argument
order, layout ``(B, T, H, D)``, state ``(B, H, K, V)``): :func:`delta_rule`,
:func:`gated_delta_rule`, :func:`gla`, :func:`dplr` (RWKV-7 with ``scale=1``), :func:`ssd`
(Mamba-2) and :func:`mlstm` (xLSTM); ``docs/ops_matrix.md`` describes them::

    from rnnbench.ops import delta_rule

    q, k = (torch.nn.functional.normalize(torch.randn(2, 100, 4, 32), dim=-1) for _ in "qk")
    o, S = delta_rule(q, k, torch.randn(2, 100, 4, 32), torch.rand(2, 100, 4))  # o (2, 100, 4, 32), S (2, 4, 32, 32)

Bad arguments raise :class:`rnnbench.errors.UsageError` (a ``ValueError``) naming the
argument, its shape and the shape expected. :data:`OPS` lists them for
``rnnbench throughput --op NAME``.
"""

from rnnbench.ops.base import OPS, Op

# the matrix-state ops, registered (and listed) in this order
from rnnbench.ops.delta import delta_rule
from rnnbench.ops.duality import ssd
from rnnbench.ops.gated_delta import gated_delta_rule
from rnnbench.ops.gated_linear import gla
from rnnbench.ops.generalized_delta import dplr
from rnnbench.ops.linear import linear_recurrence
from rnnbench.ops.matrix_lstm import mlstm
from rnnbench.ops.selective import selective_scan

__all__ = ["OPS", "Op", "delta_rule", "dplr", "gated_delta_rule", "gla", "linear_recurrence", "mlstm", "selective_scan", "ssd"]
