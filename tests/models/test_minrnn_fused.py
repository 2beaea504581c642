"""minGRU's and minLSTM's ``chunk`` implementation: the gates and the chunk scan as one autograd
node (rnnbench.models.architectures.minrnn.chunk_mix). Its outputs and every gradient are the
bits of the gates composed with the op under autograd (``mix("chunk")``, what the published
modern_retention cells were trained with), it passes gradcheck, and planted one-token bugs in
its backward fail the comparison. The architecture × implementation equivalence against the
step-by-step reference is tests/models/test_models.py's."""

import pytest
import torch
from planting import Proxy

from rnnbench.models.architectures import mingru, minlstm, minrnn

KINDS = {"mingru": (mingru, 2), "minlstm": (minlstm, 3)}


def gates_and_grads(run, u, h0, w):
    """h and the gradients of u (and h0) under the loss Σ h ⊙ w."""
    args = [u.clone().requires_grad_()] + ([] if h0 is None else [h0.clone().requires_grad_()])
    h = run(*args) if h0 is not None else run(args[0], None)
    return (h, *torch.autograd.grad((h * w).sum(), args))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T", [1, 2, 18, 19, 100, 1027])  # C = chunk_size(T): no chunk, exact chunks, tails
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
def test_fused_chunk_layer_is_the_autograd_composition_bit_for_bit(kind, T, dtype, with_h0):
    module, gates = KINDS[kind]
    g = torch.Generator().manual_seed(T)
    u = torch.randn(3, T, gates * 8, generator=g, dtype=dtype) * 3  # both branches of g, saturated gates
    h0 = torch.rand(3, 8, generator=g, dtype=dtype) + 0.1 if with_h0 else None
    w = torch.randn(3, T, 8, generator=g, dtype=dtype)
    composed = module.mix("chunk")
    expected = gates_and_grads(lambda x, s: composed(x.chunk(gates, -1), s), u, h0, w)
    got = gates_and_grads(minrnn.chunk_mix(kind), u, h0, w)
    for name, e, o in zip(["h", "grad u", "grad h0"], expected, got):
        assert torch.equal(e, o), f"{name}: max |Δ| {(e - o).abs().max().item():.3g}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_g_fast_is_g_bit_for_bit_and_its_backward_is_autograds(dtype):
    """max(v + 0.5, σ(v)) against where(v ≥ 0, v + 0.5, σ(v)) on a dense grid around 0 (where the
    two branches meet and round alike) and over the range gates reach, with ±0 and ±inf."""
    tiny = torch.linspace(-1e-6, 1e-6, 200_001, dtype=dtype)
    wide = torch.linspace(-40, 40, 400_001, dtype=dtype)
    v = torch.cat([tiny, wide, torch.tensor([0.0, -0.0, float("inf"), -float("inf")], dtype=dtype)])
    s = torch.sigmoid(v)
    assert torch.equal(minrnn.g_fast(v, s), minrnn.g(v))
    finite = v[torch.isfinite(v)].clone().requires_grad_()
    grad = torch.randn(finite.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    (expected,) = torch.autograd.grad(minrnn.g(finite), finite, grad)
    got = minrnn.g_backward(grad, finite.detach(), torch.sigmoid(finite.detach()), torch.empty_like(grad))
    assert torch.equal(got, expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero", "h0"])
def test_fused_chunk_layer_passes_gradcheck(kind, with_h0):
    gates = KINDS[kind][1]
    g = torch.Generator().manual_seed(1)
    u = (torch.randn(2, 11, gates * 3, generator=g, dtype=torch.float64) * 2).requires_grad_()
    h0 = (torch.rand(2, 3, generator=g, dtype=torch.float64) + 0.1).requires_grad_() if with_h0 else None
    run = minrnn.chunk_mix(kind)
    # u away from 0, where g has a kink and finite differences see both branches
    with torch.no_grad():
        u += torch.where(u.abs() < 1e-2, 0.1, 0.0)
    assert torch.autograd.gradcheck(lambda *x: run(*x) if with_h0 else run(x[0], None), (u, h0) if with_h0 else (u,))


@pytest.mark.parametrize(
    ("kind", "plant"),
    [
        ("mingru", "the rsub path into z dropped"),
        ("mingru", "g's branches swapped"),
        ("minlstm", "∂total's second term dropped"),
    ],
)
def test_a_planted_backward_bug_fails_the_comparison(monkeypatch, kind, plant):
    module, gates = KINDS[kind]
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 23, gates * 4, generator=g, dtype=torch.float64) * 2
    w = torch.randn(2, 23, 4, generator=g, dtype=torch.float64)
    composed = module.mix("chunk")
    expected = gates_and_grads(lambda x, s: composed(x.chunk(gates, -1), s), u, None, w)
    if plant == "the rsub path into z dropped":
        real = minrnn.linear.chunk_backward
        monkeypatch.setattr(
            minrnn.linear, "chunk_backward", lambda *a: (lambda d, ga, gh: (d, torch.zeros_like(ga), gh))(*real(*a))
        )
    elif plant == "g's branches swapped":
        monkeypatch.setattr(
            minrnn, "torch", Proxy(torch, lerp=lambda start, end, weight, out: torch.lerp(end, start, weight, out=out))
        )
    else:
        real_add = torch.Tensor.add_
        calls = []

        def add_(self, other):  # the first add_ of the backward is ∂total's: drop its second term
            calls.append(1)
            return self if len(calls) == 1 else real_add(self, other)

        monkeypatch.setattr(torch.Tensor, "add_", add_)
    got = gates_and_grads(minrnn.chunk_mix(kind), u, None, w)
    assert torch.equal(got[0], expected[0])  # the forward is untouched
    assert not torch.allclose(got[1], expected[1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "h0, words",
    [
        (torch.zeros(2, 4), "h0 has shape (2, 4); expected (2, 3)"),
        (torch.zeros(2, 3, dtype=torch.float64), "different dtypes (u torch.float32, h0 torch.float64)"),
    ],
    ids=["shape", "dtype"],
)
def test_fused_chunk_layer_names_a_mismatched_h0(kind, h0, words):
    from rnnbench.errors import UsageError

    gates = KINDS[kind][1]
    with pytest.raises(UsageError, match="^" + kind + ": ") as err:
        minrnn.chunk_mix(kind)(torch.zeros(2, 5, gates * 3), h0)
    assert words in str(err.value)
