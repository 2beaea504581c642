"""linear_recurrence: every form against "recurrent" at the lengths that break chunked scans
first (T = 1, C − 1, C, C + 1, a long odd T), with and without an initial state, real and
complex, decays that broadcast; gradcheck of the chunk and native forms' autograd nodes; a
worked example of the recurrence itself; planted bugs in the chunk form's backward that the
comparison sees (the native kernel's: tests/ops/test_native.py); and the argument errors.

The native form's tests build its C++ kernel (the ``built`` fixture of conftest.py)."""

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.ops import chunked, linear_recurrence, native

F64, C128 = torch.float64, torch.complex128
C = 4  # the chunk size of these tests
LENGTHS = [1, C - 1, C, C + 1, 3 * C, 37]  # 3C: several chunks and no tail
# the decays' shapes, against b (B=3, T, H=4): time-varying, time-invariant (the LRU's λ),
# time-invariant per sequence, and shared by the batch
DECAYS = {
    "varying": lambda T: (3, T, 4),
    "invariant": lambda T: (4,),
    "per-sequence": lambda T: (3, 1, 4),
    "batch-shared": lambda T: (1, T, 4),
}


def inputs(T, decay, dtype, with_h0, seed=0):
    g = torch.Generator().manual_seed(seed + T)
    a = torch.rand(DECAYS[decay](T), generator=g, dtype=F64) * 1.9 - 0.95  # either sign
    b = torch.randn(3, T, 4, generator=g, dtype=F64)
    h0 = torch.randn(3, 4, generator=g, dtype=F64) if with_h0 else None
    if dtype.is_complex:
        a = a * torch.exp(1j * torch.rand(a.shape, generator=g, dtype=F64) * 6)
        b = b + 1j * torch.randn(b.shape, generator=g, dtype=F64)
        h0 = None if h0 is None else h0 + 1j * torch.randn(h0.shape, generator=g, dtype=F64)
    return [t if t is None else t.to(dtype) for t in (a, b, h0)]


def run(form, a, b, h0, **kw):
    """Outputs, final state and the gradients of every input under a loss reading both."""
    args = [t if t is None else t.clone().requires_grad_() for t in (a, b, h0)]
    h, last = linear_recurrence(*args, form=form, **kw)
    w = torch.randn(h.shape, generator=torch.Generator().manual_seed(1), dtype=F64).to(h.dtype)
    loss = (h * w).real.sum() + (last * (0.5 - 0.25j if h.is_complex() else 0.5)).real.sum()
    grads = torch.autograd.grad(loss, [t for t in args if t is not None])
    return h, last, grads


def assert_same(x, y, rtol, what):
    torch.testing.assert_close(x, y, rtol=rtol, atol=rtol * 1e-2, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("dtype", [F64, C128], ids=["f64", "c128"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
@pytest.mark.parametrize("form", ["chunk", "native"])
def test_fast_forms_match_recurrent(form, T, decay, dtype, with_h0, request):
    if form == "native":
        request.getfixturevalue("built")
    a, b, h0 = inputs(T, decay, dtype, with_h0)
    h, last, grads = run(form, a, b, h0, **({"chunk_size": C} if form == "chunk" else {}))
    h_r, last_r, grads_r = run("recurrent", a, b, h0)
    assert h.shape == b.shape and last.shape == (3, 4)
    assert_same(h, h_r, 1e-10, "outputs")
    assert_same(last, last_r, 1e-10, "final state")
    for name, x, y in zip(["a", "b", "h0"], grads, grads_r):
        assert x.shape == y.shape, f"gradient of {name}: shape {tuple(x.shape)} != {tuple(y.shape)}"
        assert_same(x, y, 1e-9, f"gradient of {name}")


@pytest.mark.parametrize("T", [C - 1, 37, 256])
@pytest.mark.parametrize("form", ["chunk", "native"])
def test_float32_within_tolerance(form, T, request):
    """float32: relative error of outputs below 1e-5 and of gradients below 1e-4 (the equivalence
    test's tolerance), against the float64 recurrence; both forms only add and multiply."""
    if form == "native":
        request.getfixturevalue("built")
    a, b, h0 = inputs(T, "varying", F64, True)
    a = a.abs() * 0.5 + 0.5  # decays of a trained model: (0.5, 1)
    exact = run("recurrent", a, b, h0)
    approx = run(form, *(t.float() for t in (a, b, h0)))
    rel = lambda x, y: float((x.detach().double() - y).norm() / y.norm())  # noqa: E731
    assert rel(approx[0], exact[0]) < 1e-5
    assert max(rel(x, y) for x, y in zip(approx[2], exact[2])) < 1e-4


@pytest.mark.parametrize("dtype", [F64, C128], ids=["f64", "c128"])
@pytest.mark.parametrize("decay", ["varying", "invariant"])
def test_gradcheck_of_the_chunk_node(dtype, decay):
    a, b, h0 = (t.requires_grad_() for t in inputs(9, decay, dtype, True))
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_recurrence(a, b, h0, chunk_size=C)[0], (a, b, h0))


@pytest.mark.parametrize("dtype", [F64, C128], ids=["f64", "c128"])
@pytest.mark.parametrize("decay", ["varying", "invariant", "batch-shared"])
def test_gradcheck_of_the_native_node(dtype, decay, built):
    a, b, h0 = (t.requires_grad_() for t in inputs(9, decay, dtype, True))
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_recurrence(a, b, h0, form="native")[0], (a, b, h0))


def test_worked_example():
    """h_t = a_t h_{t−1} + b_t with a = (½, −2, 1), b = (1, 1, 3), h_0 = 4: h = 3, −5, −2."""
    a = torch.tensor([0.5, -2.0, 1.0], dtype=F64).view(1, 3, 1)
    b = torch.tensor([1.0, 1.0, 3.0], dtype=F64).view(1, 3, 1)
    h0 = torch.tensor([[4.0]], dtype=F64)
    forms = ("recurrent", "chunk") + (("native",) if native.unavailable() is None else ())
    for form in forms:
        h, last = linear_recurrence(a, b, h0, form=form, **({"chunk_size": 2} if form == "chunk" else {}))
        assert h.flatten().tolist() == [3.0, -5.0, -2.0] and last.item() == -2.0


def test_log_scan_form_matches_for_positive_inputs():
    a, b, h0 = (t.abs() + 0.05 for t in inputs(37, "varying", F64, True))
    h, last, grads = run("log_scan", a, b, h0)
    h_r, last_r, grads_r = run("recurrent", a, b, h0)
    assert_same(h, h_r, 1e-10, "outputs")
    for x, y in zip(grads, grads_r):
        assert_same(x, y, 1e-8, "gradients")


@pytest.mark.parametrize("plant", ["carry", "shift"])
def test_a_planted_backward_bug_fails_the_comparison(monkeypatch, plant):
    """Negative control: the backward's carry taken from the wrong side, or its decays not
    shifted by one step, and the gradients no longer match (the outputs still do)."""
    a, b, h0 = inputs(37, "varying", F64, True)
    h_r, _, grads_r = run("recurrent", a, b, h0)
    if plant == "carry":
        real = chunked.carry
        monkeypatch.setattr(
            chunked,
            "carry",
            lambda e, p, h, inv, reverse=False: real(e, p, h, inv, not reverse) if reverse else real(e, p, h, inv),
        )
    else:
        monkeypatch.setattr(chunked, "next_first", lambda a: a[0])
    h, _, grads = run("chunk", a, b, h0, chunk_size=C)
    assert_same(h, h_r, 1e-10, "outputs")
    with pytest.raises(AssertionError, match="gradient"):
        for name, x, y in zip("ab", grads, grads_r):
            assert_same(x, y, 1e-9, f"gradient of {name}")


def test_native_arguments_it_cannot_take_are_one_line(built):
    message = "form 'native' takes float32, float64, complex64 or complex128; a is bfloat16: use form 'chunk'"
    with pytest.raises(UsageError, match=message) as info:
        linear_recurrence(torch.ones(3, dtype=torch.bfloat16), torch.ones(2, 6, 3, dtype=torch.bfloat16), form="native")
    assert "\n" not in str(info.value)


def test_native_without_a_compiler_says_what_is_missing(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-rnnbench")
    monkeypatch.setattr(native, "_loaded", {})
    with pytest.raises(UsageError, match=r"finds no C\+\+ compiler \('no-such-compiler-rnnbench': set CXX or install g\+\+\)"):
        linear_recurrence(torch.ones(3), torch.ones(2, 6, 3), form="native")


def test_the_saved_tensors_do_not_grow_with_more_than_the_data():
    """The chunk node keeps its decays and states (one chunked copy each), nothing per step."""
    from rnnbench.measure_ops import saved_bytes

    a, b, _ = (t.float().requires_grad_() if t is not None else t for t in inputs(512, "varying", F64, False))
    saved = saved_bytes(lambda: linear_recurrence(a, b, chunk_size=16))
    data = b.numel() * b.element_size()
    assert data * 2 <= saved <= data * 2 * 1.1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"a": torch.ones(2, 5, 3), "b": torch.ones(2, 6, 3)},
            r"a has shape \(2, 5, 3\), which does not broadcast against \(2, 6, 3\)",
        ),
        ({"a": torch.ones(3), "b": torch.ones(2, 6, 3), "h0": torch.ones(2, 4)}, r"h0 has shape \(2, 4\); expected \(2, 3\)"),
        ({"a": torch.ones(3), "b": torch.ones(6)}, r"b has shape \(6,\); expected \(B, T, \.\.\.\)"),
        (
            {"a": torch.ones(3), "b": torch.ones(2, 6, 3), "form": "doubling"},
            "unknown form 'doubling'; choose one of: chunk, log_scan, native, recurrent",
        ),
        ({"a": torch.ones(3), "b": torch.ones(2, 6, 3), "chunk_size": 0}, "chunk_size=0 is impossible"),
        ({"a": torch.ones(3, dtype=torch.complex64), "b": torch.ones(2, 6, 3)}, r"mixed real \(b\) and complex \(a\) inputs"),
        ({"a": torch.ones(3, dtype=torch.float64), "b": torch.ones(2, 6, 3)}, "different dtypes"),
        (
            {"a": torch.ones(3, dtype=torch.long), "b": torch.ones(2, 6, 3, dtype=torch.long)},
            "expected a floating or complex dtype",
        ),
    ],
)
def test_bad_arguments_are_one_line_naming_the_argument(kwargs, message):
    with pytest.raises(UsageError, match=message) as info:
        linear_recurrence(**kwargs)
    assert "\n" not in str(info.value)
