"""The parallel-in-time primitives against their loop twins: values and gradients, with and
without an initial state, lengths that do and do not fill the chunks, real and complex."""

import pytest
import torch

from rnnbench.models.scan import linear_scan, linear_scan_loop, log_scan, log_scan_loop

F64 = torch.float64


def grads(fn, *tensors):
    tensors = [t.clone().requires_grad_() for t in tensors]
    y = fn(*tensors)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    loss = (torch.view_as_real(y * w) if y.is_complex() else y * w).sum()
    return y, torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("T", [1, 15, 16, 17, 300])
@pytest.mark.parametrize("with_h0", [False, True])
def test_log_scan_matches_its_loop(T, with_h0):
    g = torch.Generator().manual_seed(T)
    log_a = -torch.rand(2, T, 3, generator=g, dtype=F64) * 2  # a in (e^-2, 1]
    log_b = torch.randn(2, T, 3, generator=g, dtype=F64)
    args = [log_a, log_b] + ([torch.randn(2, 3, generator=g, dtype=F64)] if with_h0 else [])
    y, dy = grads(log_scan, *args)
    y_loop, dy_loop = grads(log_scan_loop, *args)
    torch.testing.assert_close(y, y_loop, rtol=1e-10, atol=0)
    for a, b in zip(dy, dy_loop):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("dtype", [F64, torch.complex128])
@pytest.mark.parametrize("T", [1, 15, 16, 17, 300])
@pytest.mark.parametrize("with_h0", [False, True])
def test_linear_scan_matches_its_loop(T, with_h0, dtype):
    g = torch.Generator().manual_seed(T)
    a = torch.rand(2, T, 3, generator=g, dtype=F64).to(dtype) * (0.99 if dtype == F64 else 0.9 + 0.3j)
    b = torch.randn(2, T, 3, generator=g, dtype=F64).to(dtype) * (1 if dtype == F64 else 1 - 0.5j)
    args = [a, b] + ([torch.randn(2, 3, generator=g, dtype=F64).to(dtype)] if with_h0 else [])
    y, dy = grads(lambda *t: linear_scan(*t, chunk=4) if len(t) == 3 else linear_scan(*t, None, 4), *args)
    y_loop, dy_loop = grads(linear_scan_loop, *args)
    torch.testing.assert_close(y, y_loop, rtol=1e-10, atol=1e-12)
    for x, z in zip(dy, dy_loop):
        torch.testing.assert_close(x, z, rtol=1e-9, atol=1e-12)


def test_linear_scan_broadcasts_a_constant_decay_over_time():
    lam = torch.tensor([0.5, -0.9], dtype=F64)
    b = torch.randn(3, 40, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    torch.testing.assert_close(linear_scan(lam, b), linear_scan_loop(lam, b), rtol=1e-10, atol=1e-12)


def test_the_loop_twins_are_the_recurrence():
    """Worked example: a = ½, b = 1, h_0 = 0 gives h = 1, 1.5, 1.75."""
    a, b = torch.full((1, 3, 1), 0.5, dtype=F64), torch.ones(1, 3, 1, dtype=F64)
    assert linear_scan_loop(a, b).flatten().tolist() == [1.0, 1.5, 1.75]
    assert log_scan_loop(a.log(), b.log()).flatten().tolist() == [1.0, 1.5, 1.75]
