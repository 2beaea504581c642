"""mlstm: the chunk form against the recurrence, a worked example of the stabiliser, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees

from rnnbench.errors import UsageError
from rnnbench.ops import matrix_lstm, mlstm

C = 8
LENGTHS = [1, C - 1, C, C + 1, 5 * C + 3]


def inputs(T: int, init: bool, dtype: torch.dtype = F64, seed: int = 0, B: int = 2, H: int = 2, K: int = 4, V: int = 3) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    state = (r(B, H, K, V), r(B, H, K), r(B, H)) if init else None
    return {
        "q": r(B, T, H, K),
        "k": r(B, T, H, K),
        "v": r(B, T, H, V),
        "i": 3 * r(B, T, H),
        "f": r(B, T, H) + 2,
        "initial_state": state,
    }


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent_float64(T, init):
    forms_agree(mlstm, inputs(T, init), chunk_size=C)


def test_chunk_matches_recurrent_float32():
    forms_agree(mlstm, inputs(5 * C + 3, True, torch.float32), chunk_size=C)


def test_large_gates_and_the_default_chunk():
    # input gates up to e^±40 and forget gates near 0 and 1: the stabiliser keeps every exp ≤ 1
    x = inputs(70, True, seed=3)
    x["i"], x["f"] = 15 * x["i"], 4 * x["f"]
    forms_agree(mlstm, x)
    forms_agree(
        mlstm,
        {k: v if not isinstance(v, torch.Tensor) else v.float() for k, v in x.items()}
        | {"initial_state": tuple(t.float() for t in x["initial_state"])},
    )


def test_a_one_character_bug_fails(monkeypatch):
    x = inputs(2 * C + 3, True)
    forms_agree(mlstm, x, chunk_size=C)
    plant(monkeypatch, matrix_lstm, "_chunk", "(Fc[..., -1] + m_in_t - m_out)", "(Fc[..., -1] - m_in_t - m_out)")
    with pytest.raises(AssertionError):
        forms_agree(mlstm, x, chunk_size=C)


def logsigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_worked_example():
    # K = V = 1 (s = 1), ε = 1e−6, from C = n = m = 0; each step by hand from the equations:
    eps = 1e-6
    # t=1: ĩ=0, f̃=0: m = max(logσ(0) + 0, 0) = 0; f = e^{logσ(0)} = 1/2, i = 1; k=2, v=3:
    #      C = 6, n = 2; q=1: h = 6 / (max(2, e^0) + ε)
    h1 = 6 / (2 + eps)
    # t=2: ĩ=2, f̃=0: m = max(logσ(0), 2) = 2; f = e^{logσ(0) − 2} = e^−2/2, i = e^0 = 1; k=1, v=−1:
    #      C = 3e^−2 − 1, n = e^−2 + 1; q=1/2: h = (C/2) / (max(n/2, e^−2) + ε)
    C2, n2 = 3 * math.exp(-2) - 1, math.exp(-2) + 1
    h2 = (C2 / 2) / (n2 / 2 + eps)
    # t=3: ĩ=−10, f̃=10: m = max(logσ(10) + 2, −10) = 2 + logσ(10); f = 1, i = e^{−10 − m}; k=1, v=1:
    #      C = C₂ + i, n = n₂ + i; q=0.01: |q n| ≈ 0.0114 < e^{−m} ≈ 0.135, so h = q C / (e^{−m} + ε)
    m3 = 2 + logsigmoid(10.0)
    i3 = math.exp(-10 - m3)
    C3, n3 = C2 + i3, n2 + i3
    assert 0.01 * n3 < math.exp(-m3)
    h3 = 0.01 * C3 / (math.exp(-m3) + eps)
    t = lambda xs: torch.tensor(xs, dtype=F64).view(1, 3, 1, 1)  # noqa: E731
    h, (C, n, m) = mlstm(
        t([1.0, 0.5, 0.01]),
        t([2.0, 1.0, 1.0]),
        t([3.0, -1.0, 1.0]),
        t([0.0, 2.0, -10.0]).view(1, 3, 1),
        t([0.0, 0.0, 10.0]).view(1, 3, 1),
        form="recurrent",
    )
    torch.testing.assert_close(h.view(3), torch.tensor([h1, h2, h3], dtype=F64))
    torch.testing.assert_close((C.item(), n.item(), m.item()), (C3, n3, m3))


def test_a_given_state_is_the_stabilised_one():
    # from (C, n, m) = (1, 1, 1): true state e·(1, 1); ĩ = −inf adds nothing, f̃ = +inf keeps it:
    # m = max(0 + 1, −inf) = 1, h = q C / (max(|q n|, e^−1) + ε) with q = 2: 2 / (2 + ε)
    one = torch.ones(1, 1, 1, 1, dtype=F64)
    h, (C, n, m) = mlstm(
        2 * one,
        one,
        one,
        torch.full((1, 1, 1), -math.inf, dtype=F64),
        torch.full((1, 1, 1), math.inf, dtype=F64),
        initial_state=(one.view(1, 1, 1, 1), one.view(1, 1, 1), one.view(1, 1)),
        form="recurrent",
    )
    torch.testing.assert_close(h.item(), 2 / (2 + 1e-6))
    assert (C.item(), n.item(), m.item()) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"i": torch.rand(2, 5, 2, 1)}, ["i", "(2, 5, 2, 1)", "(2, 5, 2)"]),
        ({"f": torch.rand(2, 5)}, ["f", "(2, 5)", "(2, 5, 2)"]),
        ({"initial_state": torch.zeros(2, 2, 4, 3)}, ["initial_state", "(C, n, m)", "Tensor"]),
        (
            {"initial_state": (torch.zeros(2, 2, 4, 3), torch.zeros(2, 2, 4), torch.zeros(2, 2, 1))},
            ["initial_state m", "(2, 2, 1)", "(2, 2)"],
        ),
        ({"eps": -1.0}, ["eps=-1.0"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        mlstm(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("mlstm")
