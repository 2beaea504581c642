"""rnnbench.ops.matrix: the pieces the matrix-state ops share, each against a plain reference."""

import pytest
import torch

from rnnbench.ops import matrix

F64 = torch.float64


@pytest.mark.parametrize("C", [1, 2, 5, 8, 16, 17, 32, 33, 64])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_unit_lower_solve_matches_lapack(C, sign):
    g = torch.Generator().manual_seed(C)
    A = 0.5 * torch.randn(3, 2, C, C, generator=g, dtype=F64)  # its diagonal and upper part must be ignored
    r1, r2 = torch.randn(3, 2, C, 4, generator=g, dtype=F64), torch.randn(3, 2, C, 3, generator=g, dtype=F64)
    L = torch.eye(C, dtype=F64) + sign * A.tril(-1)
    X1, X2 = matrix.unit_lower_solve(A, r1, r2, sign)
    torch.testing.assert_close(X1, torch.linalg.solve_triangular(L, r1, upper=False), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(X2, torch.linalg.solve_triangular(L, r2, upper=False), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("C", [3, 16, 17])
def test_unit_lower_solve_gradients(C):
    g = torch.Generator().manual_seed(0)
    A = (0.5 * torch.randn(2, C, C, generator=g, dtype=F64)).requires_grad_()
    r1 = torch.randn(2, C, 2, generator=g, dtype=F64, requires_grad=True)
    r2 = torch.randn(2, C, 3, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, x, y: matrix.unit_lower_solve(a, x, y, -1.0), (A, r1, r2), fast_mode=True)
    X1, _ = matrix.unit_lower_solve(A, r1, r2)
    (grad_A,) = torch.autograd.grad(X1.sum(), A)
    assert (grad_A.triu() == 0).all()  # only the strict lower part is read, so only it has a gradient


@pytest.mark.parametrize("d_shape", [(3, 2, 2, 1, 1), (3, 2, 2, 4, 1)])
def test_decay_carry(d_shape):
    g = torch.Generator().manual_seed(1)
    d = torch.rand(d_shape, generator=g, dtype=F64, requires_grad=True)
    E = torch.randn(3, 2, 2, 4, 5, generator=g, dtype=F64, requires_grad=True)
    S0 = torch.randn(2, 2, 4, 5, generator=g, dtype=F64, requires_grad=True)
    S_in, S = matrix.decay_carry(d, E, S0)
    state, want = S0, []
    for i in range(3):  # the recurrence it stands for
        want.append(state)
        state = d[i] * state + E[i]
    torch.testing.assert_close(S_in, torch.stack(want))
    torch.testing.assert_close(S, state)

    def flat_carry(*a):
        return torch.cat([t.flatten() for t in matrix.decay_carry(*a)])

    assert torch.autograd.gradcheck(flat_carry, (d, E, S0), fast_mode=True)


@pytest.mark.parametrize("decay", [None, (3, 2, 2, 1, 1), (3, 2, 2, 4, 1)])
@pytest.mark.parametrize("with_E", [False, True])
@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_wy_carry(decay, with_E, sign):
    g = torch.Generator().manual_seed(2)
    r = lambda *s: torch.randn(*s, generator=g, dtype=F64, requires_grad=True)  # noqa: E731
    W, Tv, Kh = r(3, 2, 2, 6, 4), r(3, 2, 2, 6, 5), r(3, 2, 2, 6, 4)
    d = None if decay is None else torch.rand(decay, generator=g, dtype=F64, requires_grad=True)
    E = r(3, 2, 2, 4, 5) if with_E else None
    S0 = r(2, 2, 4, 5)
    U, S_in, S = matrix.wy_carry(W, Tv, Kh, d, E, S0, sign)
    state, Us, ins = S0, [], []
    for i in range(3):  # the recurrence it stands for
        ins.append(state)
        Us.append(Tv[i] + sign * W[i] @ state)
        state = (state if d is None else d[i] * state) + (0 if E is None else E[i]) + Kh[i].transpose(-1, -2) @ Us[-1]
    torch.testing.assert_close(U, torch.stack(Us))
    torch.testing.assert_close(S_in, torch.stack(ins))
    torch.testing.assert_close(S, state)
    given = [t for t in (W, Tv, Kh, d, E, S0) if t is not None]

    def f(*args):
        it = iter(args)
        full = [None if t is None else next(it) for t in (W, Tv, Kh, d, E, S0)]
        return torch.cat([t.flatten() for t in matrix.wy_carry(*full, sign)])

    assert torch.autograd.gradcheck(f, tuple(given), fast_mode=True)


def test_segsum_is_masked_before_the_exp():
    G = torch.tensor([0.0, -1000.0, -2000.0], dtype=F64)  # exp(+1000) above the diagonal would overflow
    L = matrix.segsum(G).exp()
    torch.testing.assert_close(L, torch.tensor([[1.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1]], dtype=F64))
    G = torch.tensor([-0.5, -1.25], dtype=F64)
    torch.testing.assert_close(matrix.segsum(G).exp()[1, 0], torch.tensor(0.75, dtype=F64).neg().exp())


def test_chunks_round_trip_and_padding():
    x = torch.randn(2, 11, 3, 4)
    chunks = matrix.to_chunks(x, 4, fill=-7.0)  # (n, B, H, C, D)
    assert chunks.shape == (3, 2, 3, 4, 4) and chunks.is_contiguous()
    assert (chunks[2, :, :, 3:] == -7.0).all()  # the one position after T
    torch.testing.assert_close(chunks[1, 0, 2, 1], x[0, 5, 2])
    back = matrix.from_chunks(chunks, 11)
    assert back.is_contiguous()
    torch.testing.assert_close(back, x)
