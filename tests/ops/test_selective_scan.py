"""selective_scan: the chunk and native forms against "recurrent" (selective_scan_ref's
algorithm) at the lengths that break chunked scans first (the native kernel's chunk is 16
steps, its channel block 64), with and without an initial state and a final-state gradient;
gradcheck; the chunk backward's carry between groups of chunks; a worked example; a planted bug
in the backward (the native kernel's: tests/ops/test_native.py); their saved-for-backward memory,
which must not grow with T·D·N; and the argument errors."""

import math

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.ops import native, selective_scan

F64 = torch.float64
C = 4
LENGTHS = [1, C - 1, C, C + 1, 37]


def inputs(T, with_h0, B=2, D=3, N=4, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed + T)
    x = torch.randn(B, T, D, generator=g, dtype=dtype)
    delta = torch.rand(B, T, D, generator=g, dtype=dtype) * 0.5
    A = -torch.rand(D, N, generator=g, dtype=dtype) * 3
    Bm, Cm = torch.randn(B, T, N, generator=g, dtype=dtype), torch.randn(B, T, N, generator=g, dtype=dtype)
    h0 = torch.randn(B, D, N, generator=g, dtype=dtype) if with_h0 else None
    return [x, delta, A, Bm, Cm, h0]


def run(form, args, last_weight=0.5, **kw):
    args = [t if t is None else t.clone().requires_grad_() for t in args]
    y, last = selective_scan(*args, form=form, **kw)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=F64).to(y.dtype)
    loss = (y * w).sum() + last_weight * last.sum()
    return y, last, torch.autograd.grad(loss, [t for t in args if t is not None])


NAMES = ["x", "delta", "A", "B", "C", "h0"]


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
@pytest.mark.parametrize("last_weight", [0.0, 0.5], ids=["y", "y+state"])
def test_chunk_matches_recurrent(T, with_h0, last_weight):
    args = inputs(T, with_h0)
    y, last, grads = run("chunk", args, last_weight, chunk_size=C)
    y_r, last_r, grads_r = run("recurrent", args, last_weight)
    torch.testing.assert_close(y, y_r, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(last, last_r, rtol=1e-10, atol=1e-12)
    for name, a, b in zip(NAMES, grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("T", [1, 15, 16, 17, 37])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
@pytest.mark.parametrize("last_weight", [0.0, 0.5], ids=["y", "y+state"])
@pytest.mark.parametrize("neg_eigval", [False, True], ids=["plain", "neg"])
@pytest.mark.parametrize("D", [3, 70])  # one channel block, and two (64 + 6)
def test_native_matches_recurrent(T, with_h0, last_weight, neg_eigval, D, built):
    args = inputs(T, with_h0, D=D)
    if neg_eigval:
        args[1] = args[1] * 4  # as strong(): decays 2·exp(ΔA) − 1 well below zero
    y, last, grads = run("native", args, last_weight, neg_eigval=neg_eigval)
    y_r, last_r, grads_r = run("recurrent", args, last_weight, neg_eigval=neg_eigval)
    torch.testing.assert_close(y, y_r, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(last, last_r, rtol=1e-10, atol=1e-12)
    for name, a, b in zip(NAMES, grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("neg_eigval", [False, True], ids=["plain", "neg"])
def test_gradcheck_of_the_native_node(neg_eigval, built):
    args = [t.requires_grad_() for t in (strong(19, True) if neg_eigval else inputs(19, True, D=2, N=2))]
    args[1] = args[1].detach().clamp_min(0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, form="native", neg_eigval=neg_eigval), args)


@pytest.mark.parametrize("group", [1, 2, 3], ids=lambda g: f"{g}-chunk groups")
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
@pytest.mark.parametrize("neg_eigval", [False, True], ids=["plain", "neg"])
def test_chunk_backward_in_groups_matches_recurrent(group, with_h0, neg_eigval, monkeypatch):
    """The backward takes chunks in groups of GROUP_NUMBERS // (C·B·N·D), last first, the state
    entering a group carried from the group after it; at the default size every sequence is one
    group, so the carry between groups is forced here: 37 steps are 10 chunks, groups of 1, 2
    and 3 (the last group short)."""
    from rnnbench.ops import selective

    B, D, N = 2, 3, 4
    monkeypatch.setattr(selective, "GROUP_NUMBERS", group * C * B * N * D)
    args = (strong if neg_eigval else inputs)(37, with_h0)
    y, last, grads = run("chunk", args, 0.5, chunk_size=C, neg_eigval=neg_eigval)
    y_r, last_r, grads_r = run("recurrent", args, 0.5, neg_eigval=neg_eigval)
    torch.testing.assert_close(y, y_r, rtol=1e-10, atol=1e-12)
    for name, a, b in zip(NAMES, grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("form", ["chunk", "native"])
def test_float32_within_tolerance(form, request):
    if form == "native":
        request.getfixturevalue("built")
    args = inputs(256, True, D=8, N=16)
    exact = run("recurrent", args)
    approx = run(form, [t.float() for t in args])
    rel = lambda a, b: float((a.detach().double() - b).norm() / b.norm())  # noqa: E731
    assert rel(approx[0], exact[0]) < 1e-5
    assert max(rel(a, b) for a, b in zip(approx[2], exact[2])) < 1e-4


def test_gradcheck_of_the_chunk_node():
    args = [t.requires_grad_() for t in inputs(7, True, D=2, N=2)]
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, chunk_size=3), args)


def test_worked_example():
    """One channel, one state, A = −ln 2, Δ = 1 (decay ½), B = 1, C = 2, x = (2, 4), h_0 = 8:
    h = ½·8 + 2 = 6, then ½·6 + 4 = 7; y = 2h = 12, 14."""
    one = lambda *v: torch.tensor(v, dtype=F64).view(1, len(v), 1)  # noqa: E731
    x, delta, Bm, Cm = one(2.0, 4.0), one(1.0, 1.0), one(1.0, 1.0), one(2.0, 2.0)
    A, h0 = torch.tensor([[-math.log(2)]], dtype=F64), torch.tensor([[[8.0]]], dtype=F64)
    for form in ("recurrent", "chunk") + (("native",) if native.unavailable() is None else ()):
        y, last = selective_scan(x, delta, A, Bm, Cm, h0, form=form, **({"chunk_size": 1} if form == "chunk" else {}))
        torch.testing.assert_close(y.flatten(), torch.tensor([12.0, 14.0], dtype=F64))
        torch.testing.assert_close(last.flatten(), torch.tensor([7.0], dtype=F64))


def test_a_planted_backward_bug_fails_the_comparison(monkeypatch):
    """Negative control: the backward's δ carried between chunks in the wrong direction."""
    from rnnbench.ops import chunked

    args = inputs(37, True)
    _, _, grads_r = run("recurrent", args)
    real = chunked.carry
    monkeypatch.setattr(
        chunked, "carry", lambda e, p, h, inv, reverse=False: real(e, p, h, inv) if reverse else real(e, p, h, inv)
    )
    _, _, grads = run("chunk", args, chunk_size=C)
    assert not all(torch.allclose(a, b, rtol=1e-6) for a, b in zip(grads, grads_r))


def test_saved_for_backward_does_not_grow_with_the_state_times_the_length():
    """The recurrent form keeps exp(ΔA), ΔBx and every h: O(B·T·D·N). The chunk form keeps
    exactly its inputs, O(B·T·(D + N)), and one state per chunk, O(B·(T/C)·D·N)."""
    from rnnbench.measure_ops import saved_bytes

    B, D = 2, 32
    for T, N in [(256, 16), (256, 64), (1024, 16)]:
        args = [t.float().requires_grad_() for t in inputs(T, False, B=B, D=D, N=N)[:5]]
        full = B * T * D * N * 4  # one (B, T, D, N) float32 tensor
        assert saved_bytes(lambda: selective_scan(*args, form="recurrent")) >= 2 * full
        chunked = saved_bytes(lambda: selective_scan(*args, form="chunk", chunk_size=16))
        expected = 4 * (B * T * (2 * D + 2 * N) + D * N + B * (T // 16) * D * N)  # x, Δ, B, C, A, entering states
        assert chunked == expected, (T, N, chunked, expected)
        assert chunked < full / 3
        if native.unavailable() is None:  # its inputs (A transposed) and the state entering every 16 steps
            kept = saved_bytes(lambda: selective_scan(*args, form="native"))
            assert kept == expected, (T, N, kept, expected)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.__setitem__(1, torch.ones(2, 5, 4)), r"delta has shape \(2, 5, 4\); expected \(2, 5, 3\)"),
        (lambda a: a.__setitem__(2, torch.ones(3)), r"A has shape \(3,\); expected \(3, \?\) \(D, N\)"),
        (lambda a: a.__setitem__(3, torch.ones(2, 5, 7)), r"B has shape \(2, 5, 7\); expected \(2, 5, 4\)"),
        (lambda a: a.__setitem__(5, torch.ones(2, 4, 3)), r"h0 has shape \(2, 4, 3\); expected \(2, 3, 4\)"),
    ],
)
def test_bad_arguments_are_one_line_naming_the_argument(change, message):
    args = [t.float() if t is not None else torch.zeros(2, 3, 4) for t in inputs(5, True)]
    change(args)
    with pytest.raises(UsageError, match=message):
        selective_scan(*args)
    with pytest.raises(UsageError, match="unknown form 'cuda'"):
        selective_scan(*inputs(5, False)[:5], form="cuda")


# ---- negative eigenvalues (Grazzi et al. 2025): decay 2·exp(ΔA) − 1 ∈ (−1, 1] ------------------------


def strong(T, with_h0, seed=0):
    """Inputs whose decays 2·exp(ΔA) − 1 reach well below zero (ΔA down to about −6)."""
    args = inputs(T, with_h0, seed=seed)
    args[1] = args[1] * 4  # Δ in [0, 2), A in (−3, 0]
    return args


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
def test_negative_eigenvalues_chunk_matches_recurrent(T, with_h0):
    args = strong(T, with_h0)
    y, last, grads = run("chunk", args, 0.5, chunk_size=C, neg_eigval=True)
    y_r, last_r, grads_r = run("recurrent", args, 0.5, neg_eigval=True)
    torch.testing.assert_close(y, y_r, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(last, last_r, rtol=1e-10, atol=1e-12)
    for name, a, b in zip(NAMES, grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")
    if T > 1:  # the option changes the result: the comparison is not of two identical plain scans
        assert not torch.allclose(y_r, run("recurrent", args, 0.5)[0])


def test_negative_eigenvalues_gradcheck_of_the_chunk_node():
    args = [t.requires_grad_() for t in strong(7, True)]
    args[1] = args[1].detach().clamp_min(0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, chunk_size=3, neg_eigval=True), args)


def test_negative_eigenvalues_worked_example():
    """One channel, one state, A = −ln 2, Δ = (1, 2): decays 2·½ − 1 = 0 and 2·¼ − 1 = −½;
    B = 1, C = 1, x = (2, 4), h_0 = 8: h = 0·8 + 2 = 2, then −½·2 + 2·4 = 7 (Δx = 8); the
    plain scan would give ½·8 + 2 = 6, then ¼·6 + 8 = 9.5."""
    one = lambda *v: torch.tensor(v, dtype=F64).view(1, len(v), 1)  # noqa: E731
    x, delta, Bm, Cm = one(2.0, 4.0), one(1.0, 2.0), one(1.0, 1.0), one(1.0, 1.0)
    A, h0 = torch.tensor([[-math.log(2)]], dtype=F64), torch.tensor([[[8.0]]], dtype=F64)
    for form, size in (("recurrent", None), ("chunk", 1), ("chunk", 2)):
        y, last = selective_scan(x, delta, A, Bm, Cm, h0, form=form, chunk_size=size, neg_eigval=True)
        torch.testing.assert_close(y.flatten(), torch.tensor([2.0, 7.0], dtype=F64))
        torch.testing.assert_close(last.flatten(), torch.tensor([7.0], dtype=F64))
        y, _ = selective_scan(x, delta, A, Bm, Cm, h0, form=form, chunk_size=size)
        torch.testing.assert_close(y.flatten(), torch.tensor([6.0, 9.5], dtype=F64))


def test_negative_eigenvalues_decay_range_is_minus_one_to_one():
    """With x = 0 and h_0 = 1, one step's state is the decay itself: in (−1, 1] with the option
    (negative for ΔA < −ln 2), in (0, 1] without."""
    D, N = 1, 200
    A = -torch.logspace(-3, math.log10(20), N, dtype=F64).view(D, N)  # ΔA from −0.001 to −20
    zeros = torch.zeros(1, 1, D, dtype=F64)
    ones = torch.ones(1, 1, N, dtype=F64)
    h0 = torch.ones(1, D, N, dtype=F64)
    for form in ("recurrent", "chunk"):
        _, d_neg = selective_scan(zeros, torch.ones(1, 1, D, dtype=F64), A, ones, ones, h0, form=form, neg_eigval=True)
        _, d = selective_scan(zeros, torch.ones(1, 1, D, dtype=F64), A, ones, ones, h0, form=form)
        assert float(d_neg.min()) > -1 and float(d_neg.max()) <= 1 and float(d_neg.min()) < -0.99
        assert float(d.min()) >= 0 and float(d.max()) <= 1
        torch.testing.assert_close(d_neg, 2 * d - 1)


def test_negative_eigenvalues_planted_backward_bug_fails(monkeypatch):
    """Negative control: the backward's X_t with the decay d instead of its derivative d + 1."""
    import inspect
    import textwrap

    import rnnbench.ops.selective as sel

    args = strong(37, True)
    _, _, grads_r = run("recurrent", args, neg_eigval=True)
    source = textwrap.dedent(inspect.getsource(sel._Chunk.backward))
    assert "(dAg[j] + 1)" in source
    namespace = dict(vars(sel))
    exec(compile(source.replace("(dAg[j] + 1)", "dAg[j]"), "plant", "exec"), namespace)
    monkeypatch.setattr(sel._Chunk, "backward", namespace["backward"])
    _, _, grads = run("chunk", args, chunk_size=C, neg_eigval=True)
    assert not torch.allclose(grads[1], grads_r[1], rtol=1e-6)  # ∂Δ
    assert torch.allclose(grads[0], grads_r[0], rtol=1e-9)  # ∂x does not use X_t


def test_negative_eigenvalues_option_must_be_a_bool():
    with pytest.raises(UsageError, match="neg_eigval=1 must be True or False"):
        selective_scan(*inputs(5, False)[:5], neg_eigval=1)
