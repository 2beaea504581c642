"""linear_recurrence: every form against "recurrent" (outputs, final state, gradients)."""

import pytest
import torch

from rnnbench.ops import linear_recurrence

F64 = torch.float64


@pytest.mark.parametrize("T", [1, 3, 4, 5, 17])
@pytest.mark.parametrize("invariant", [False, True])
@pytest.mark.parametrize("dtype", [F64, torch.complex128])
def test_chunk_matches_recurrent(T, invariant, dtype):
    g = torch.Generator().manual_seed(T)
    a = (torch.rand((4,) if invariant else (3, T, 4), generator=g, dtype=F64) * 1.8 - 0.9).to(dtype)
    b = torch.randn(3, T, 4, generator=g, dtype=F64).to(dtype)
    h0 = torch.randn(3, 4, generator=g, dtype=F64).to(dtype)
    outs = []
    for form in ("chunk", "recurrent"):
        args = [t.clone().requires_grad_() for t in (a, b, h0)]
        h, last = linear_recurrence(*args, form=form, chunk_size=4)
        loss = torch.view_as_real(h * 0.7 + 0.1).sum() if dtype.is_complex else (h * 0.7).sum() + last.sum()
        outs.append((h, torch.autograd.grad(loss, args)))
    (h1, g1), (h2, g2) = outs
    torch.testing.assert_close(h1, h2, rtol=1e-10, atol=1e-12)
    for x, y in zip(g1, g2):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-12)
