"""delta_rule: the chunk form against the recurrence, a worked example, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees

from rnnbench.errors import UsageError
from rnnbench.ops import delta, delta_rule

C = 8
LENGTHS = [1, C - 1, C, C + 1, 5 * C + 3]


def inputs(T: int, init: bool, dtype: torch.dtype = F64, seed: int = 0, B: int = 2, H: int = 2, K: int = 4, V: int = 3) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return {
        "q": r(B, T, H, K),
        "k": torch.nn.functional.normalize(r(B, T, H, K), dim=-1),
        "v": r(B, T, H, V),
        "beta": torch.rand(B, T, H, generator=g, dtype=dtype),
        "initial_state": r(B, H, K, V) if init else None,
    }


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent_float64(T, init):
    forms_agree(delta_rule, inputs(T, init), chunk_size=C)


def test_chunk_matches_recurrent_float32():
    forms_agree(delta_rule, inputs(5 * C + 3, True, torch.float32), chunk_size=C)


def test_default_chunk_and_negative_eigenvalues():
    # the default chunk length (32) with a ragged end; β up to 2 (Grazzi et al.'s negative eigenvalues)
    x = inputs(70, True, seed=3)
    x["beta"] = 2 * x["beta"]
    forms_agree(delta_rule, x)


def test_a_one_character_bug_fails(monkeypatch):
    x = inputs(2 * C + 3, True)
    forms_agree(delta_rule, x, chunk_size=C)
    plant(monkeypatch, delta, "wy_chunk", "QK = QK.tril()", "QK = QK.triu()")
    with pytest.raises(AssertionError):
        forms_agree(delta_rule, x, chunk_size=C)


def test_worked_example():
    # scale 1, K = V = 2, from S_0 = 0:
    # t=1: k=(1,0), v=(2,3), β=0.5: u = 0.5·(2,3) = (1, 1.5); S_1 = k uᵀ = [[1, 1.5], [0, 0]];
    #      q=(1,1): o = S_1ᵀq = (1, 1.5)
    # t=2: k=(0.6,0.8), v=(1,−1), β=1: S_1ᵀk = 0.6·(1, 1.5) = (0.6, 0.9); u = (0.4, −1.9);
    #      S_2 = S_1 + k uᵀ = [[1.24, 0.36], [0.32, −1.52]]; q=(0,2): o = 2·(0.32, −1.52) = (0.64, −3.04)
    q = torch.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=F64).view(1, 2, 1, 2)
    k = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=F64).view(1, 2, 1, 2)
    v = torch.tensor([[2.0, 3.0], [1.0, -1.0]], dtype=F64).view(1, 2, 1, 2)
    beta = torch.tensor([0.5, 1.0], dtype=F64).view(1, 2, 1)
    o, S = delta_rule(q, k, v, beta, scale=1.0, form="recurrent")
    torch.testing.assert_close(o.view(2, 2), torch.tensor([[1.0, 1.5], [0.64, -3.04]], dtype=F64))
    torch.testing.assert_close(S.view(2, 2), torch.tensor([[1.24, 0.36], [0.32, -1.52]], dtype=F64))
    o_default, _ = delta_rule(q, k, v, beta, form="recurrent")  # scale None: K^(−1/2)
    torch.testing.assert_close(o_default, o / math.sqrt(2))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"beta": torch.rand(2, 5, 2, 1)}, ["beta", "(2, 5, 2, 1)", "(2, 5, 2)"]),
        ({"k": torch.randn(2, 5, 2, 3)}, ["k", "(2, 5, 2, 3)", "(2, 5, 2, 4)"]),
        ({"v": torch.randn(2, 4, 2, 3)}, ["v", "(2, 4, 2, 3)"]),
        ({"initial_state": torch.zeros(2, 2, 3, 4)}, ["initial_state", "(2, 2, 3, 4)", "(2, 2, 4, 3)"]),
        ({"q": torch.randn(2, 5, 8)}, ["q", "(2, 5, 8)", "(B, T, H, K)"]),
        ({"form": "fast"}, ["form", "'fast'", "chunk", "recurrent"]),
        ({"chunk_size": 0}, ["chunk_size=0"]),
        ({"scale": float("nan")}, ["scale"]),
        ({"beta": torch.rand(2, 5, 2, dtype=F64)}, ["dtype"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        delta_rule(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("delta_rule")
