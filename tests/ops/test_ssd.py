"""ssd: the chunk form against the recurrence, groups, a worked example, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees

from rnnbench.errors import UsageError
from rnnbench.ops import duality, ssd

C = 8
LENGTHS = [1, C - 1, C, C + 1, 5 * C + 3]


def inputs(T: int, init: bool, dtype: torch.dtype = F64, seed: int = 0, B: int = 2, H: int = 4, P: int = 3,
           N: int = 5, G: int = 2) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return {"x": r(B, T, H, P), "dt": torch.nn.functional.softplus(r(B, T, H)),
            "A": -(1 + 4 * torch.rand(H, generator=g, dtype=dtype)), "B": r(B, T, G, N), "C": r(B, T, G, N),
            "initial_state": r(B, H, P, N) if init else None}


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
        one = {"x": x["x"][:, :, head:head + 1], "dt": x["dt"][:, :, head:head + 1], "A": x["A"][head:head + 1],
               "B": x["B"][:, :, head // 2:head // 2 + 1], "C": x["C"][:, :, head // 2:head // 2 + 1],
               "initial_state": x["initial_state"][:, head:head + 1]}
        y1, h1 = ssd(**one, form="recurrent")
        torch.testing.assert_close(y[:, :, head:head + 1], y1)
        torch.testing.assert_close(h[:, head:head + 1], h1)


def test_worked_example():
    # one head, P = N = 2, A = −ln 2 so that exp(dt A) = 2^−dt, h_0 = I:
    # t=1: dt=1 (decay 1/2), x=(1,2), B=(1,0): h_1 = I/2 + x Bᵀ = [[1.5, 0], [2, 0.5]]; C=(1,1): y = (1.5, 2.5)
    # t=2: dt=2 (decay 1/4), x=(0,1), B=(1,1): h_2 = h_1/4 + 2 x Bᵀ = [[0.375, 0], [2.5, 2.125]];
    #      C=(0,2): y = (0, 4.25)
    t = lambda rows: torch.tensor(rows, dtype=F64).view(1, 2, 1, 2)  # noqa: E731
    y, h = ssd(t([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([1.0, 2.0], dtype=F64).view(1, 2, 1),
               torch.tensor([-math.log(2.0)], dtype=F64), t([[1.0, 0.0], [1.0, 1.0]]), t([[1.0, 1.0], [0.0, 2.0]]),
               initial_state=torch.eye(2, dtype=F64).view(1, 1, 2, 2), form="recurrent")
    torch.testing.assert_close(y.view(2, 2), torch.tensor([[1.5, 2.5], [0.0, 4.25]], dtype=F64))
    torch.testing.assert_close(h.view(2, 2), torch.tensor([[0.375, 0.0], [2.5, 2.125]], dtype=F64))


@pytest.mark.parametrize("change, words", [
    ({"dt": torch.rand(2, 5, 3)}, ["dt", "(2, 5, 3)", "(2, 5, 4)"]),
    ({"A": torch.rand(4, 5)}, ["A", "(4, 5)", "expected (4)"]),
    ({"B": torch.rand(2, 5, 3, 5), "C": torch.rand(2, 5, 3, 5)}, ["3 groups", "4 heads"]),
    ({"C": torch.rand(2, 5, 2, 6)}, ["C", "(2, 5, 2, 6)", "(2, 5, 2, 5)"]),
    ({"initial_state": torch.zeros(2, 4, 5, 3)}, ["initial_state", "(2, 4, 5, 3)", "(2, 4, 3, 5)"]),
])
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        ssd(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("ssd")
