"""The native C++ kernels beyond the form tests of test_linear_recurrence.py: widths that span
several lane blocks, the fused minGRU and minLSTM layers (gradcheck of their autograd node,
against the step-by-step reference layer), and planted bugs in each backward, built as a
second library, that these comparisons see."""

import pytest
import torch

from rnnbench.models import build_core
from rnnbench.models.architectures import minrnn
from rnnbench.ops import linear_recurrence, native

F64 = torch.float64
# one wrong thing in each backward: the linear scan's decays not shifted by a step (a_t where
# a_{t+1} belongs), minGRU's carried decay z where 1 − z belongs, a sign in minLSTM's ∂k_i, the
# selective scan's decays not shifted either
PLANTS = {
    "linear": ("gp[f] + anext[f] * d[f]", "gp[f] + conj_(ap[f]) * d[f]"),
    "mingru": ("anext[f] = S(1) - z;", "anext[f] = z;"),
    "minlstm": ("dki[f] = -fg * e", "dki[f] = fg * e"),
    "selective": ("cn * g[d] + dn[o + d] * dl[o + d]", "cn * g[d] + dAt[o + d] * dl[o + d]"),
}


@pytest.fixture(scope="module")
def planted():
    """A second library (namespace rnnbench_native_planted) with every plant."""
    if native.unavailable() is not None:
        pytest.skip(native.unavailable())
    source = native.SOURCE.read_text()
    linear_start = source.index("std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(")
    linear_end = source.index("// -- minGRU's and minLSTM's layers")
    right, wrong = PLANTS["linear"]
    linear = source[linear_start:linear_end]
    assert linear.count(right) == 4  # every step of the linear backward's walk
    source = source[:linear_start] + linear.replace(right, wrong) + source[linear_end:]
    for name in ("mingru", "minlstm", "selective"):
        right, wrong = PLANTS[name]
        assert source.count(right) == 1, name
        source = source.replace(right, wrong)
    return native.ops("rnnbench_native_planted", source)


def grads_of(fn, *args):
    leaves = [t.clone().requires_grad_() for t in args]
    out = fn(*leaves)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    return out, torch.autograd.grad((out * w).sum(), leaves)


@pytest.mark.parametrize("width", [130, 300])  # two and three lane blocks of 128, the last partial
def test_native_linear_recurrence_over_several_lane_blocks(width, built):
    g = torch.Generator().manual_seed(width)
    a = torch.rand(2, 23, width, generator=g, dtype=F64) * 1.9 - 0.95
    b, h0 = torch.randn(2, 23, width, generator=g, dtype=F64), torch.randn(2, width, generator=g, dtype=F64)
    out, grads = grads_of(lambda a, b, h0: linear_recurrence(a, b, h0, form="native")[0], a, b, h0)
    ref, grads_r = grads_of(lambda a, b, h0: linear_recurrence(a, b, h0, form="recurrent")[0], a, b, h0)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for x, y in zip(grads, grads_r):
        torch.testing.assert_close(x, y, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("kind, parts", [("mingru", 2), ("minlstm", 3)])
@pytest.mark.parametrize("width", [3, 130])
def test_gradcheck_of_the_fused_layer(kind, parts, width, built):
    g = torch.Generator().manual_seed(width)
    u = (torch.randn(2, 5, parts * width, generator=g, dtype=F64) * 2).requires_grad_()  # both sides of g's kink
    h0 = torch.rand(2, width, generator=g, dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(minrnn.native_mix(kind), (u, h0))


def reference_and_native(name, library, monkeypatch):
    """Gradients of every weight of a 2-layer core, reference and native, from the same weights."""
    if library is not None:
        monkeypatch.setattr(native, "ops", lambda: library)
    cores = [build_core(name, impl, input_size=5, hidden_size=8, num_layers=2).double() for impl in ("reference", "native")]
    cores[1].load_state_dict(cores[0].state_dict())
    x = torch.randn(3, 29, 5, generator=torch.Generator().manual_seed(2), dtype=F64)
    out = []
    for core in cores:
        y, _ = core(x)
        out.append((y, torch.autograd.grad(y.square().sum(), list(core.parameters()))))
    return out


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_the_fused_layer_matches_the_reference_and_a_planted_bug_does_not(name, built, planted, monkeypatch):
    (y_r, g_r), (y, g) = reference_and_native(name, None, monkeypatch)
    torch.testing.assert_close(y, y_r, rtol=1e-12, atol=1e-12)
    for x, r in zip(g, g_r):
        torch.testing.assert_close(x, r, rtol=1e-10, atol=1e-12)
    (y_r, g_r), (y, g) = reference_and_native(name, planted, monkeypatch)
    torch.testing.assert_close(y, y_r, rtol=1e-12, atol=1e-12)  # the plants are in the backward only
    assert max(float((x - r).abs().max()) for x, r in zip(g, g_r)) > 1e-3


def test_a_planted_bug_in_the_linear_backward_fails_the_comparison(planted, monkeypatch):
    monkeypatch.setattr(native, "ops", lambda: planted)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 37, 4, generator=g, dtype=F64) * 1.9 - 0.95
    b, h0 = torch.randn(3, 37, 4, generator=g, dtype=F64), torch.randn(3, 4, generator=g, dtype=F64)
    out, grads = grads_of(lambda a, b, h0: linear_recurrence(a, b, h0, form="native")[0], a, b, h0)
    ref, grads_r = grads_of(lambda a, b, h0: linear_recurrence(a, b, h0, form="recurrent")[0], a, b, h0)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert float((grads[0] - grads_r[0]).abs().max()) > 1e-3  # ∂a
    assert float((grads[1] - grads_r[1]).abs().max()) > 1e-3  # ∂b


def test_a_planted_bug_in_the_selective_backward_fails_the_comparison(planted, monkeypatch):
    from rnnbench.ops import selective_scan

    g = torch.Generator().manual_seed(0)
    x, delta = torch.randn(2, 37, 3, generator=g, dtype=F64), torch.rand(2, 37, 3, generator=g, dtype=F64) * 0.5
    A = -torch.rand(3, 4, generator=g, dtype=F64) * 3
    Bm, Cm = torch.randn(2, 37, 4, generator=g, dtype=F64), torch.randn(2, 37, 4, generator=g, dtype=F64)

    def grads(form):
        return grads_of(lambda *a: selective_scan(*a, form=form)[0], x, delta, A, Bm, Cm)

    (y, right), (y_r, ref) = grads("native"), grads("recurrent")
    for a, b in zip(right, ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    monkeypatch.setattr(native, "ops", lambda: planted)
    y, wrong = grads("native")
    torch.testing.assert_close(y, y_r, rtol=1e-12, atol=1e-12)  # the plant is in the backward only
    assert float((wrong[0] - ref[0]).abs().max()) > 1e-3  # ∂x


def test_the_native_forms_give_the_same_bits_at_any_thread_count(built):
    """Each lane's arithmetic does not depend on how the lanes are shared out (docs/ops.md)."""
    from rnnbench.ops import selective_scan

    g = torch.Generator().manual_seed(5)
    a, b = torch.rand(4, 50, 200, generator=g), torch.randn(4, 50, 200, generator=g)
    u = torch.randn(4, 50, 3 * 200, generator=g)
    x, delta = torch.randn(4, 50, 70, generator=g), torch.rand(4, 50, 70, generator=g) * 0.5
    A, Bm, Cm = -torch.rand(70, 16, generator=g), torch.randn(4, 50, 16, generator=g), torch.randn(4, 50, 16, generator=g)
    calls = {
        "linear_recurrence": (lambda *t: linear_recurrence(*t, form="native")[0], (a, b)),
        "mingru": (minrnn.native_mix("mingru"), (u[..., :400], None)),
        "minlstm": (minrnn.native_mix("minlstm"), (u, None)),
        "selective_scan": (lambda *t: selective_scan(*t, form="native")[0], (x, delta, A, Bm, Cm)),
    }
    before = torch.get_num_threads()
    try:
        for name, (fn, args) in calls.items():
            runs = []
            for threads in (1, 2):
                torch.set_num_threads(threads)
                tensors = [t for t in args if t is not None]
                runs.append(grads_of(lambda *t: fn(*t, *([None] if None in args else [])), *tensors))
            (y1, g1), (y2, g2) = runs
            assert torch.equal(y1, y2), name
            assert all(torch.equal(p, q) for p, q in zip(g1, g2)), name
    finally:
        torch.set_num_threads(before)
