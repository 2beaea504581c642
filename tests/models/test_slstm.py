"""sLSTM: the cell pinned to numbers from the authors' vanilla code (with its first-step
rule), the initialisation of their config, and the parameter errors."""

import math

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models import resolve_model
from rnnbench.models.architectures import slstm

# A worked example: 2 sequences, 4 steps, 2 heads of 2 units; the gates' input part
# wx = 2·sin(0.7·k) (k = 0, 1, ... over (B, T, gate, unit)), R = 0.5·cos(0.3·k) over
# [head, in, gate, out]. The numbers below were produced once, in float64, by the authors'
# code: NX-AI/xlstm, commit 032a6fb8ee19a8c0db80ae6111ff4744a09414a9,
# xlstm/blocks/slstm/src/vanilla/__init__.py::slstm_forward with slstm.py::slstm_forward_pointwise
# (R converted to their internal layout [head, gate·out, in], b = 0), from the zero state and
# from the state (h, c, n, m) = (0.3, −0.2, 1.5, 0.4) everywhere.
ZERO_H = [
    [
        [-0.721213476059, 0.021995916856, 0.280822194002, 0.141332195639],
        [-0.697556062371, -0.027763920426, 0.465223205207, 0.280644509027],
        [-0.083215833905, -0.036505004785, 0.412209487374, 0.304841873933],
        [0.131625149386, 0.085700309670, 0.132270203993, 0.171832983742],
    ],
    [
        [0.157543309696, 0.252158965919, 0.129968093620, 0.119722982995],
        [0.132453489334, 0.407940547998, 0.288290617375, 0.243569931262],
        [0.062450400741, 0.376734960334, 0.339444707791, 0.411602653291],
        [0.070104626485, 0.119018824498, 0.208617245107, 0.378786829705],
    ],
]
ZERO_LAST = [
    [
        [0.131625149386, 0.085700309670, 0.132270203993, 0.171832983742],
        [0.070104626485, 0.119018824498, 0.208617245107, 0.378786829705],
    ],
    [
        [0.957565375226, 0.901955078889, 0.742113563450, 0.496366397601],
        [0.939245993330, 0.636208864469, 0.498221671076, 0.650465099508],
    ],
    [
        [1.019060317407, 1.378299557566, 1.462050538664, 1.625179702814],
        [1.688265123462, 1.489054101586, 1.452785910328, 1.415059146042],
    ],
    [
        [1.607383872657, 0.486116683322, 0.919344846349, 1.076939573896],
        [0.171046702221, 0.728025718269, 1.197577493280, 1.416281808003],
    ],
]  # h, c, n, m
CARRIED_H = [
    [
        [-0.366036193875, -0.047736417696, 0.272625418625, 0.131413843688],
        [-0.375426073063, -0.117838753501, 0.476657707410, 0.287486928464],
        [-0.057643914677, -0.089066466879, 0.426906371492, 0.316747386158],
        [0.130097991689, 0.075659035736, 0.136497488768, 0.180013391697],
    ],
    [
        [0.084339879598, 0.218049588232, 0.123072222356, 0.082753074093],
        [0.055073149767, 0.388814658318, 0.295088586845, 0.243871053919],
        [0.017470103812, 0.359618312911, 0.349368023049, 0.407999851875],
        [0.062712625488, 0.114809098674, 0.216414664353, 0.375647192169],
    ],
]
CARRIED_LAST = [
    [
        [0.130097991689, 0.075659035736, 0.136497488768, 0.180013391697],
        [0.062712625488, 0.114809098674, 0.216414664353, 0.375647192169],
    ],
    [
        [0.956812288535, 0.853671315503, 0.764898626776, 0.545470707989],
        [0.888157141612, 0.619528992496, 0.535679960404, 0.652393230344],
    ],
    [
        [1.039084293518, 1.476473305370, 1.461954260599, 1.704860508120],
        [1.799172699600, 1.517493418272, 1.509478870679, 1.432582321252],
    ],
    [
        [1.639549078185, 0.522091253901, 1.025237476966, 1.075026823542],
        [0.154867407877, 0.728783053144, 1.186858572533, 1.410195652847],
    ],
]  # h, c, n, m

B, T, HEADS, D_HEAD = 2, 4, 2, 2
D = HEADS * D_HEAD
F64 = torch.float64


def example():
    wx = (torch.sin(torch.arange(B * T * 4 * D, dtype=F64) * 0.7) * 2).reshape(B, T, 4, D)
    R = (torch.cos(torch.arange(HEADS * D_HEAD * 4 * D_HEAD, dtype=F64) * 0.3) * 0.5).reshape(HEADS, D_HEAD, 4, D_HEAD)
    return wx, R


def carried():
    return tuple(torch.full((B, D), v, dtype=F64) for v in (0.3, -0.2, 1.5, 0.4))


@pytest.mark.parametrize("start, h_expected, last_expected", [("zero", ZERO_H, ZERO_LAST), ("carried", CARRIED_H, CARRIED_LAST)])
def test_the_cell_matches_the_authors_vanilla_code(start, h_expected, last_expected):
    wx, R = example()
    cells = (torch.zeros(B, D, dtype=F64),) * 4 if start == "zero" else carried()
    h, last = slstm.slstm_scan(wx, R, cells)
    torch.testing.assert_close(h, torch.tensor(h_expected, dtype=F64), rtol=0, atol=1e-11)
    torch.testing.assert_close(torch.stack(last), torch.tensor(last_expected, dtype=F64), rtol=0, atol=1e-11)


def test_two_steps_by_hand_and_the_first_step_rule():
    """One unit, from the zero state: (ĩ, f̃, z̃, õ) = (−3, 2, 0.5, 1), then (−1, 0, −0.5, 0).
    The authors' rule makes m_1 = ĩ = −3 (a plain max would give log σ(2) = −0.127); then
    m_2 = max(−1, −3 + log σ(0)) = −1, i_2 = 1, f_2 = exp(−3 + log σ(0) + 1) = e^(−2 − log 2)."""
    raw = torch.tensor([[[-3.0], [2.0], [0.5], [1.0]], [[-1.0], [0.0], [-0.5], [0.0]]], dtype=F64)  # (T, 4, 1)
    state = (torch.zeros(1, 1, dtype=F64),) * 4
    h1, c1, n1, m1 = slstm.slstm_step(raw[0].unsqueeze(0), state)
    assert float(m1) == -3.0 and float(n1) == 1.0 and float(c1) == pytest.approx(math.tanh(0.5), abs=1e-15)
    assert float(h1) == pytest.approx(1 / (1 + math.exp(-1)) * math.tanh(0.5), abs=1e-15)
    h2, c2, n2, m2 = slstm.slstm_step(raw[1].unsqueeze(0), (h1, c1, n1, m1))
    f2 = math.exp(-2 - math.log(2))
    assert float(m2) == -1.0 and float(n2) == pytest.approx(f2 + 1, abs=1e-15)
    assert float(c2) == pytest.approx(f2 * math.tanh(0.5) + math.tanh(-0.5), abs=1e-15)
    assert float(h2) == pytest.approx(0.5 * (f2 * math.tanh(0.5) + math.tanh(-0.5)) / (f2 + 1), abs=1e-15)


def test_initialisation_is_the_authors():
    arch = resolve_model("slstm")
    p = arch.params({"hidden_size": 256, "num_heads": 4, "num_layers": 3})
    core = arch.build(None, 256, p, torch.Generator().manual_seed(0))
    d = 64
    for l, block in enumerate(core.layers):
        assert torch.count_nonzero(block.recurrent_kernel) == 0  # R = 0
        bias = block.bias.detach().view(4, 4, d)  # [gate, head, unit]
        assert torch.count_nonzero(bias[[0, 2, 3]]) == 0
        power = 0.3 + 1.3 * l / 2  # "powerlaw_blockdependent": the exponent grows with the block
        expected = [-(-5 + 12 * (k / (d - 1)) ** power) for k in range(d)]
        for head in range(4):
            torch.testing.assert_close(bias[1, head], torch.tensor(expected), rtol=0, atol=1e-5)
        assert float(bias[1, 0, 0]) == pytest.approx(5.0) and float(bias[1, 0, -1]) == pytest.approx(-7.0)
        small = math.sqrt(2 / (5 * 256))
        for t, std in ((block.gate_weight, small), (block.up.weight, small), (block.down.weight, 2 / 3 / 16)):
            assert abs(float(t.detach().std()) / std - 1) < 0.05
    assert abs(float(core.encoder.weight.detach().std()) / math.sqrt(2 / (5 * 256)) - 1) < 0.05
    wrong = torch.nn.Linear(256, 256).weight  # PyTorch's default: std 1/√(3·256) = 0.036, not 0.028
    assert not abs(float(wrong.detach().std()) / math.sqrt(2 / (5 * 256)) - 1) < 0.05
    assert p.ffn_width == 384  # 1.3 · 256 = 332.8, rounded up to a multiple of 64


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"hidden_size": 10, "num_heads": 4}, "model.num_heads=4 does not divide model.hidden_size=10; use one of: 1, 2, 5, 10"),
        ({"hidden_size": 8, "num_heads": 8}, "leaves 1 unit per head"),
        ({"conv_kernel": -1}, "model.conv_kernel=-1 is impossible"),
    ],
)
def test_parameter_errors(values, fragment):
    with pytest.raises(UsageError, match=fragment):
        resolve_model("slstm").params(values)


def test_without_conv_and_feed_forward_the_block_is_the_cell_between_its_norms():
    arch = resolve_model("slstm")
    p = arch.params({"hidden_size": 8, "num_heads": 2, "conv_kernel": 0, "ffn_factor": 0})
    core = arch.build(None, 3, p).double()
    names = {n for n, _ in core.named_parameters()}
    assert not any(n.startswith("layers.0.conv") or n.startswith("layers.0.up") for n in names)
    y, state = core(torch.randn(2, 5, 3, dtype=F64))
    assert len(state[0]) == 4 and arch.state_numbers(p, 5) == 4 * 8
