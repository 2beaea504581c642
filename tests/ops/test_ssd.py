"""ssd: the chunk form against the recurrence, groups, a worked example, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees, run_form

from rnnbench.errors import UsageError
from rnnbench.ops import duality, ssd

C = 8
LENGTHS = [1, C - 1, C, C + 1, 5 * C + 3]


def inputs(
    T: int, init: bool, dtype: torch.dtype = F64, seed: int = 0, B: int = 2, H: int = 4, P: int = 3, N: int = 5, G: int = 2
) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return {
        "x": r(B, T, H, P),
        "dt": torch.nn.functional.softplus(r(B, T, H)),
        "A": -(1 + 4 * torch.rand(H, generator=g, dtype=dtype)),
        "B": r(B, T, G, N),
        "C": r(B, T, G, N),
        "initial_state": r(B, H, P, N) if init else None,
    }


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent_float64(T, init):
    forms_agree(ssd, inputs(T, init), chunk_size=C)


def test_chunk_matches_recurrent_float32():
    forms_agree(ssd, inputs(5 * C + 3, True, torch.float32), chunk_size=C)


def test_one_group_and_the_default_chunk():
    forms_agree(ssd, inputs(70, True, seed=1, G=1))


def test_a_one_character_bug_fails(monkeypatch):
    x = inputs(2 * C + 3, True)
    forms_agree(ssd, x, chunk_size=C)
    plant(monkeypatch, duality, "_chunk", "(G[..., -1:] - G)", "(G[..., -1:] + G)")
    with pytest.raises(AssertionError):
        forms_agree(ssd, x, chunk_size=C)


def test_heads_read_their_group():
    # H = 4 heads in G = 2 groups: heads 0, 1 read group 0 and heads 2, 3 group 1 (mamba's order)
    x = inputs(6, True, seed=2)
    y, h = ssd(**x, form="recurrent")
    for head in range(4):
        one = {
            "x": x["x"][:, :, head : head + 1],
            "dt": x["dt"][:, :, head : head + 1],
            "A": x["A"][head : head + 1],
            "B": x["B"][:, :, head // 2 : head // 2 + 1],
            "C": x["C"][:, :, head // 2 : head // 2 + 1],
            "initial_state": x["initial_state"][:, head : head + 1],
        }
        y1, h1 = ssd(**one, form="recurrent")
        torch.testing.assert_close(y[:, :, head : head + 1], y1)
        torch.testing.assert_close(h[:, head : head + 1], h1)


def test_worked_example():
    # one head, P = N = 2, A = −ln 2 so that exp(dt A) = 2^−dt, h_0 = I:
    # t=1: dt=1 (decay 1/2), x=(1,2), B=(1,0): h_1 = I/2 + x Bᵀ = [[1.5, 0], [2, 0.5]]; C=(1,1): y = (1.5, 2.5)
    # t=2: dt=2 (decay 1/4), x=(0,1), B=(1,1): h_2 = h_1/4 + 2 x Bᵀ = [[0.375, 0], [2.5, 2.125]];
    #      C=(0,2): y = (0, 4.25)
    t = lambda rows: torch.tensor(rows, dtype=F64).view(1, 2, 1, 2)  # noqa: E731
    y, h = ssd(
        t([[1.0, 2.0], [0.0, 1.0]]),
        torch.tensor([1.0, 2.0], dtype=F64).view(1, 2, 1),
        torch.tensor([-math.log(2.0)], dtype=F64),
        t([[1.0, 0.0], [1.0, 1.0]]),
        t([[1.0, 1.0], [0.0, 2.0]]),
        initial_state=torch.eye(2, dtype=F64).view(1, 1, 2, 2),
        form="recurrent",
    )
    torch.testing.assert_close(y.view(2, 2), torch.tensor([[1.5, 2.5], [0.0, 4.25]], dtype=F64))
    torch.testing.assert_close(h.view(2, 2), torch.tensor([[0.375, 0.0], [2.5, 2.125]], dtype=F64))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"dt": torch.rand(2, 5, 3)}, ["dt", "(2, 5, 3)", "(2, 5, 4)"]),
        ({"A": torch.rand(4, 5)}, ["A", "(4, 5)", "expected (4)"]),
        ({"B": torch.rand(2, 5, 3, 5), "C": torch.rand(2, 5, 3, 5)}, ["3 groups", "4 heads"]),
        ({"C": torch.rand(2, 5, 2, 6)}, ["C", "(2, 5, 2, 6)", "(2, 5, 2, 5)"]),
        ({"initial_state": torch.zeros(2, 4, 5, 3)}, ["initial_state", "(2, 4, 5, 3)", "(2, 4, 3, 5)"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        ssd(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("ssd")


# ---- negative eigenvalues (Grazzi et al. 2025): decay 2·exp(dt A) − 1 ∈ (−1, 1] ---------------------


def strong(T, init, dtype=F64, seed=3):
    """Inputs whose decays 2·exp(dt A) − 1 are negative at most steps (dt A down to about −10)."""
    x = inputs(T, init, dtype, seed=seed)
    x["dt"] = x["dt"] * 2
    return x


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_negative_eigenvalues_chunk_matches_recurrent(T, init):
    x = strong(T, init)
    forms_agree(ssd, x, chunk_size=C, neg_eigval=True)
    a = 2 * torch.exp(x["dt"] * x["A"]) - 1
    assert (a < 0).float().mean() > 0.3  # the sign handling is exercised
    if T > 1:
        assert not torch.allclose(ssd(**x, form="recurrent", neg_eigval=True)[0], ssd(**x, form="recurrent")[0])


def test_negative_eigenvalues_float32_and_the_default_chunk():
    forms_agree(ssd, strong(5 * C + 3, True, torch.float32), chunk_size=C, neg_eigval=True)
    # a decay near 0 makes ∂log|a|/∂(dt A) = 2e^{dt A}/a large, which costs the chunk form's dt
    # gradient a few digits there (seen: 1.2e−9 relative on one element of 560): rtol 1e−8
    x = strong(70, True, seed=4)
    for a, b in zip(run_form(ssd, x, "chunk", neg_eigval=True), run_form(ssd, x, "recurrent", neg_eigval=True)):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10 * max(b.abs().max().item(), 1.0))


def test_negative_eigenvalues_worked_example():
    """One head, P = N = 1, A = −ln 2, dt = (1, 2): decays 2·½ − 1 = 0 and 2·¼ − 1 = −½; B = C = 1,
    x = (2, 4), h_0 = 8: h = 0·8 + 1·2 = 2, then −½·2 + 2·4 = 7."""
    one = lambda *v: torch.tensor(v, dtype=F64).view(1, len(v), 1, 1)  # noqa: E731
    args = {
        "x": one(2.0, 4.0),
        "dt": torch.tensor([[[1.0], [2.0]]], dtype=F64),
        "A": torch.tensor([-math.log(2)], dtype=F64),
        "B": one(1.0, 1.0),
        "C": one(1.0, 1.0),
        "initial_state": torch.tensor([[[[8.0]]]], dtype=F64),
    }
    for form, size in (("recurrent", None), ("chunk", 1), ("chunk", 2)):
        y, h = ssd(**args, form=form, chunk_size=size, neg_eigval=True)
        torch.testing.assert_close(y.flatten(), torch.tensor([2.0, 7.0], dtype=F64), atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(h.flatten(), torch.tensor([7.0], dtype=F64), atol=1e-12, rtol=1e-12)


def test_negative_eigenvalues_decay_range_is_minus_one_to_one():
    """With x = 0 and h_0 = 1, one step's state is the decay: in (−1, 1] with the option, (0, 1] without."""
    H = 64
    A = -torch.logspace(-3, math.log10(20), H, dtype=F64)
    args = {
        "x": torch.zeros(1, 1, H, 1, dtype=F64),
        "dt": torch.ones(1, 1, H, dtype=F64),
        "A": A,
        "B": torch.ones(1, 1, 1, 1, dtype=F64),
        "C": torch.ones(1, 1, 1, 1, dtype=F64),
        "initial_state": torch.ones(1, H, 1, 1, dtype=F64),
    }
    for form in ("recurrent", "chunk"):
        _, d_neg = ssd(**args, form=form, neg_eigval=True)
        _, d = ssd(**args, form=form)
        assert float(d_neg.min()) > -1 and float(d_neg.max()) <= 1 and float(d_neg.min()) < -0.99
        assert float(d.min()) >= 0 and float(d.max()) <= 1
        torch.testing.assert_close(d_neg, 2 * d - 1)


def test_negative_eigenvalues_a_planted_sign_bug_fails(monkeypatch):
    x = strong(2 * C + 3, True)
    forms_agree(ssd, x, chunk_size=C, neg_eigval=True)
    plant(monkeypatch, duality, "_chunk", "(sign[..., -1:] * sign)", "(sign[..., -1:] + sign)")
    with pytest.raises(AssertionError):
        forms_agree(ssd, x, chunk_size=C, neg_eigval=True)
