"""dplr: the chunk form against the recurrence, strong decays, worked examples, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees

from rnnbench.errors import UsageError
from rnnbench.ops import delta_rule, dplr, generalized_delta, matrix

C = 8
LENGTHS = [1, C - 1, C, C + 1, 5 * C + 3]


def inputs(
    T: int,
    init: bool,
    dtype: torch.dtype = F64,
    seed: int = 0,
    B: int = 2,
    H: int = 2,
    K: int = 4,
    V: int = 3,
    decay: float = 1.0,
) -> dict:
    """RWKV-7's form: α = −κ̂, β = κ̂ ⊙ a with κ̂ unit and a in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    kappa = torch.nn.functional.normalize(r(B, T, H, K), dim=-1)
    return {
        "q": r(B, T, H, K),
        "k": r(B, T, H, K),
        "v": r(B, T, H, V),
        "alpha": -kappa,
        "beta": kappa * torch.rand(B, T, H, K, generator=g, dtype=dtype),
        "g": -decay * torch.rand(B, T, H, K, generator=g, dtype=dtype),
        "initial_state": r(B, H, K, V) if init else None,
    }


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent_float64(T, init):
    forms_agree(dplr, inputs(T, init), chunk_size=C)


def test_chunk_matches_recurrent_float32():
    forms_agree(dplr, inputs(5 * C + 3, True, torch.float32), chunk_size=C)


def test_generic_low_rank_terms_and_the_default_chunk():
    x = inputs(70, True, seed=6)
    g = torch.Generator().manual_seed(7)
    x["alpha"], x["beta"] = (0.4 * torch.randn(x["k"].shape, generator=g, dtype=F64) for _ in range(2))
    forms_agree(dplr, x)


@pytest.mark.parametrize("dtype, decay", [(torch.float32, 30.0), (F64, 200.0)])
def test_decays_too_strong_to_factor_halve_the_chunk(dtype, decay):
    x = inputs(3 * C + 5, True, dtype, seed=4, decay=decay)
    assert matrix.channel_decays(x["g"], C, "dplr")[0] < C
    forms_agree(dplr, x, chunk_size=C)


def test_a_one_character_bug_fails(monkeypatch):
    x = inputs(2 * C + 3, True)
    forms_agree(dplr, x, chunk_size=C)
    plant(monkeypatch, generalized_delta, "_chunk", "(centred - gc)", "(centred + gc)")
    with pytest.raises(AssertionError):
        forms_agree(dplr, x, chunk_size=C)


def test_worked_example():
    # scale 1, K = V = 2, S_0 = [[1, 2], [3, 4]]:
    # t=1: α=(1,0), β=(0,1), e^g=(0.5, 1), k=(1,1), v=(1,0): αᵀS_0 = (1, 2) (the state before the decay);
    #      S_1 = diag(0.5, 1) S_0 + β (1, 2) + k vᵀ = [[0.5, 1], [3, 4]] + [[0, 0], [1, 2]] + [[1, 0], [1, 0]]
    #      = [[1.5, 1], [5, 6]]; q=(1,1): o = (6.5, 7)   (reading the decayed state would give (6, 6))
    # t=2: α=(0,1), β=(−1,0), e^g=(1, 0.5), k=(0,1), v=(1,1): αᵀS_1 = (5, 6);
    #      S_2 = [[1.5, 1], [2.5, 3]] + [[−5, −6], [0, 0]] + [[0, 0], [1, 1]] = [[−3.5, −5], [3.5, 4]];
    #      q=(1,0): o = (−3.5, −5)
    t = lambda rows: torch.tensor(rows, dtype=F64).view(1, 2, 1, 2)  # noqa: E731
    q, k, v = t([[1.0, 1.0], [1.0, 0.0]]), t([[1.0, 1.0], [0.0, 1.0]]), t([[1.0, 0.0], [1.0, 1.0]])
    alpha, beta = t([[1.0, 0.0], [0.0, 1.0]]), t([[0.0, 1.0], [-1.0, 0.0]])
    g = t([[math.log(0.5), 0.0], [0.0, math.log(0.5)]])
    S0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64).view(1, 1, 2, 2)
    o, S = dplr(q, k, v, alpha, beta, g, scale=1.0, initial_state=S0, form="recurrent")
    torch.testing.assert_close(o.view(2, 2), torch.tensor([[6.5, 7.0], [-3.5, -5.0]], dtype=F64))
    torch.testing.assert_close(S.view(2, 2), torch.tensor([[-3.5, -5.0], [3.5, 4.0]], dtype=F64))


def test_the_delta_rule_is_a_special_case():
    # α = k, β = −β k, v → β v, g = 0 turns the DPLR transition into I − β k kᵀ
    g = torch.Generator().manual_seed(8)
    q, k = torch.randn(2, 9, 2, 4, generator=g, dtype=F64), torch.randn(2, 9, 2, 4, generator=g, dtype=F64)
    k = torch.nn.functional.normalize(k, dim=-1)
    v, b = torch.randn(2, 9, 2, 3, generator=g, dtype=F64), torch.rand(2, 9, 2, generator=g, dtype=F64)
    o, S = dplr(q, k, v * b[..., None], k, -b[..., None] * k, torch.zeros_like(k), form="recurrent")
    o_ref, S_ref = delta_rule(q, k, v, b, form="recurrent")
    torch.testing.assert_close(o, o_ref)
    torch.testing.assert_close(S, S_ref)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"alpha": torch.rand(2, 5, 2)}, ["alpha", "(2, 5, 2)", "(2, 5, 2, 4)"]),
        ({"beta": torch.rand(2, 5, 2, 3)}, ["beta", "(2, 5, 2, 3)", "(2, 5, 2, 4)"]),
        ({"g": torch.rand(2, 5, 1, 4)}, ["g", "(2, 5, 1, 4)"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        dplr(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("dplr")
