"""gated_delta_rule: the chunk form against the recurrence, a worked example, bad arguments."""

import math

import pytest
import torch
from matrix_checks import F64, forms_agree, plant, registered_example_agrees

from rnnbench.errors import UsageError
from rnnbench.ops import gated_delta_rule, matrix

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
        "k": torch.nn.functional.normalize(r(B, T, H, K), dim=-1),
        "v": r(B, T, H, V),
        "g": -decay * torch.rand(B, T, H, generator=g, dtype=dtype),
        "beta": torch.rand(B, T, H, generator=g, dtype=dtype),
        "initial_state": r(B, H, K, V) if init else None,
    }


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent_float64(T, init):
    forms_agree(gated_delta_rule, inputs(T, init), chunk_size=C)


def test_chunk_matches_recurrent_float32():
    forms_agree(gated_delta_rule, inputs(5 * C + 3, True, torch.float32), chunk_size=C)


def test_strong_decays_and_the_default_chunk():
    # decays down to e^−20 a step: the masked segsum keeps every exp's argument ≤ 0
    forms_agree(gated_delta_rule, inputs(70, True, seed=2, decay=20.0))
    forms_agree(gated_delta_rule, inputs(70, True, torch.float32, seed=2, decay=20.0))


def test_a_one_character_bug_fails(monkeypatch):
    x = inputs(2 * C + 3, True)
    forms_agree(gated_delta_rule, x, chunk_size=C)
    plant(monkeypatch, matrix, "segsum", "tril_mask(C, 0, G.device)", "tril_mask(C, 1, G.device)")
    with pytest.raises(AssertionError):
        forms_agree(gated_delta_rule, x, chunk_size=C)


def test_a_one_character_bug_in_the_carry_backward_fails(monkeypatch):
    # the carry's backward is written by hand: seeding it with the wrong state's gradient shows
    # in the gradients only
    x = inputs(3 * C + 1, True)
    forms_agree(gated_delta_rule, x, chunk_size=C)
    plant(monkeypatch, matrix._WYCarry, "backward", "D[n - 1] = gS[n]", "D[n - 1] = gS[0]")
    with pytest.raises(AssertionError, match="item [3-9]"):  # outputs (items 0, 1) still agree
        forms_agree(gated_delta_rule, x, chunk_size=C)


def test_worked_example():
    # scale 1, K = V = 2, decays 1/2 each step, from S_0 = 0:
    # t=1: S'=0; k=(1,0), v=(2,3), β=0.5: u = (1, 1.5); S_1 = [[1, 1.5], [0, 0]]; q=(1,1): o = (1, 1.5)
    # t=2: S' = S_1/2 = [[0.5, 0.75], [0, 0]]; k=(0.6,0.8), v=(1,−1), β=1: S'ᵀk = (0.3, 0.45);
    #      u = (0.7, −1.45); S_2 = S' + k uᵀ = [[0.92, −0.12], [0.56, −1.16]]; q=(0,2): o = (1.12, −2.32)
    q = torch.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=F64).view(1, 2, 1, 2)
    k = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=F64).view(1, 2, 1, 2)
    v = torch.tensor([[2.0, 3.0], [1.0, -1.0]], dtype=F64).view(1, 2, 1, 2)
    beta = torch.tensor([0.5, 1.0], dtype=F64).view(1, 2, 1)
    g = torch.full((1, 2, 1), math.log(0.5), dtype=F64)
    o, S = gated_delta_rule(q, k, v, g, beta, scale=1.0, form="recurrent")
    torch.testing.assert_close(o.view(2, 2), torch.tensor([[1.0, 1.5], [1.12, -2.32]], dtype=F64))
    torch.testing.assert_close(S.view(2, 2), torch.tensor([[0.92, -0.12], [0.56, -1.16]], dtype=F64))


def test_the_state_decays_before_the_update():
    # S_0 = I, α = 1/2, k=(1,0), v=(2,3), β=1: S' = I/2, S'ᵀk = (0.5, 0), u = (1.5, 3),
    # S_1 = [[2, 3], [0, 0.5]] (decaying after the update would give [[1, 1.5], [0, 0.5]])
    o, S = gated_delta_rule(
        torch.tensor([1.0, 1.0], dtype=F64).view(1, 1, 1, 2),
        torch.tensor([1.0, 0.0], dtype=F64).view(1, 1, 1, 2),
        torch.tensor([2.0, 3.0], dtype=F64).view(1, 1, 1, 2),
        torch.full((1, 1, 1), math.log(0.5), dtype=F64),
        torch.ones(1, 1, 1, dtype=F64),
        scale=1.0,
        initial_state=torch.eye(2, dtype=F64).view(1, 1, 2, 2),
        form="recurrent",
    )
    torch.testing.assert_close(S.view(2, 2), torch.tensor([[2.0, 3.0], [0.0, 0.5]], dtype=F64))
    torch.testing.assert_close(o.view(2), torch.tensor([2.0, 3.5], dtype=F64))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"g": torch.rand(2, 5, 2, 4)}, ["g", "(2, 5, 2, 4)", "(2, 5, 2)"]),
        ({"beta": torch.rand(2, 5)}, ["beta", "(2, 5)", "(2, 5, 2)"]),
        ({"initial_state": torch.zeros(2, 2, 4)}, ["initial_state", "(2, 2, 4)", "(2, 2, 4, 3)"]),
        ({"g": torch.zeros(2, 5, 2, dtype=torch.complex64)}, ["g", "complex"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(change, words):
    x = inputs(5, False, torch.float32)
    x.update(change)
    with pytest.raises(UsageError) as err:
        gated_delta_rule(**x)
    for w in words:
        assert w in str(err.value)


def test_registered():
    registered_example_agrees("gated_delta_rule")
