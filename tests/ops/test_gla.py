"""gla: the chunk form against the recurrence, strong decays, a worked example, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees

from rnnbench.errors import UsageError
from rnnbench.ops import gated_linear, gla, matrix

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
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return {
        "q": r(B, T, H, K),
        "k": r(B, T, H, K),
        "v": r(B, T, H, V),
        "g": -decay * torch.rand(B, T, H, K, generator=g, dtype=dtype),
        "initial_state": r(B, H, K, V) if init else None,
    }


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent_float64(T, init):
    forms_agree(gla, inputs(T, init), chunk_size=C)


def test_chunk_matches_recurrent_float32():
    forms_agree(gla, inputs(5 * C + 3, True, torch.float32), chunk_size=C)


@pytest.mark.parametrize("dtype, decay", [(torch.float32, 30.0), (F64, 200.0)])
def test_decays_too_strong_to_factor_halve_the_chunk(dtype, decay):
    # log-decays down to −30 (−200) a step: a chunk of 8 spans more than the dtype can factor
    # (float32: 80, float64: 638), so the chunk is halved, and the result is still exact
    x = inputs(3 * C + 5, True, dtype, seed=4, decay=decay)
    C_used = matrix.channel_decays(x["g"], C, "gla")[0]
    assert C_used < C
    forms_agree(gla, x, chunk_size=C)


def test_growth_and_the_default_chunk():
    x = inputs(70, True, seed=5)
    x["g"] = x["g"] + 0.3  # some channels grow: exponents of both signs
    forms_agree(gla, x)


def test_a_one_character_bug_fails(monkeypatch):
    x = inputs(2 * C + 3, True)
    forms_agree(gla, x, chunk_size=C)
    plant(monkeypatch, gated_linear, "_chunk", "qf * ref.exp()", "qf / ref.exp()")
    with pytest.raises(AssertionError):
        forms_agree(gla, x, chunk_size=C)


def test_worked_example():
    # scale 1, K = V = 2, S_0 = I, each key channel (a row of S) its own decay:
    # t=1: e^g = (0.5, 0.25), k=(1,2), v=(1,−1): S_1 = diag(0.5, 0.25) I + k vᵀ = [[1.5, −1], [2, −1.75]];
    #      q=(1,0): o = S_1ᵀq = (1.5, −1)
    # t=2: e^g = (1, 0.5), k=(0,1), v=(2,2): S_2 = [[1.5, −1], [1, −0.875]] + [[0, 0], [2, 2]]
    #      = [[1.5, −1], [3, 1.125]]; q=(1,1): o = (4.5, 0.125)
    q = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=F64).view(1, 2, 1, 2)
    k = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=F64).view(1, 2, 1, 2)
    v = torch.tensor([[1.0, -1.0], [2.0, 2.0]], dtype=F64).view(1, 2, 1, 2)
    g = torch.tensor([[math.log(0.5), math.log(0.25)], [0.0, math.log(0.5)]], dtype=F64).view(1, 2, 1, 2)
    o, S = gla(q, k, v, g, scale=1.0, initial_state=torch.eye(2, dtype=F64).view(1, 1, 2, 2), form="recurrent")
    torch.testing.assert_close(o.view(2, 2), torch.tensor([[1.5, -1.0], [4.5, 0.125]], dtype=F64))
    torch.testing.assert_close(S.view(2, 2), torch.tensor([[1.5, -1.0], [3.0, 1.125]], dtype=F64))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"g": torch.rand(2, 5, 2)}, ["g", "(2, 5, 2)", "(2, 5, 2, 4)"]),
        ({"initial_state": torch.zeros(1, 2, 4, 3)}, ["initial_state", "(1, 2, 4, 3)", "(2, 2, 4, 3)"]),
        ({"scale": "1"}, ["scale='1'"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        gla(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("gla")
