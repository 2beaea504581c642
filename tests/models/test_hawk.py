"""Hawk: the RG-LRU and its conv pinned to numbers from the authors' torch code (the reset at a
sequence's first step, and a carried state), the bounded √ gradient, the ring initialisation
checked against its distribution, and the errors."""

import math

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models import resolve_model
from rnnbench.models.architectures import hawk

# A worked example: 2 sequences, 5 steps, an RG-LRU of width 4 in 2 blocks; x = 1.5·sin(0.9·k)
# (k = 0, 1, ... over (B, T, W)), Λ = (−1, 0.5, 2, 0.1), the input gate's blocks cos(0.8·k) with
# bias ((0.1, −0.2), (0.3, 0)), the a gate's sin(1.3·k) with bias ((0, 0.5), (−0.5, 0.2)); a conv
# of width 4 with w = 0.1·k − 0.7 over [shift, channel] and b = (0.05, −0.05, 0.1, 0). The numbers
# below were produced once, in float32, by the authors' code: google-deepmind/recurrentgemma,
# commit 2efa84dac0e68e63547a27a18fa943c98f1c312e, recurrentgemma/torch/layers.py (RGLRU.forward
# with segment_pos = 0..4, then with the cache H0 and segment_pos = 3..7; Conv1D.forward from no
# cache, then one step from the cache it returned).
START_Y = [
    [
        [0, 0.300894469, 0.36421454, 0.248445272],
        [-0.221012041, -0.883205771, -0.940567791, 0.0307047032],
        [0.86917603, 0.563434064, 0.177956805, -0.191792279],
        [0.0763596892, -0.448606163, 0.029650636, 0.853374243],
        [1.17527378, 0.351252884, -0.499509931, -0.412723482],
    ],
    [
        [-0.296645552, 0.0197429452, 0.380408108, 0.83536154],
        [0.248606563, -0.494257092, -1.24768794, -0.496610194],
        [0.101784043, 0.305864632, 0.336691916, 0.195960552],
        [-0.190650091, -0.876449943, -0.876708984, 0.0970178396],
        [0.931412399, 0.574231446, 0.15509668, -0.212237492],
    ],
]
H0 = [[0.5, -0.25, 1.0, 0.0], [-1.0, 0.75, 0.2, 0.3]]
CARRIED_Y = [
    [
        [0.0988162756, 0.29147616, 0.380889207, 0.248403922],
        [-0.17664662, -0.883244634, -0.940567434, 0.0307024643],
        [0.877264142, 0.563433886, 0.177956834, -0.191792384],
        [0.0796671212, -0.448606163, 0.029650636, 0.853374243],
        [1.17605448, 0.351252884, -0.499509931, -0.412723482],
    ],
    [
        [-0.563629627, 0.0703611672, 0.380480826, 0.839509428],
        [0.152312458, -0.494175673, -1.24768794, -0.496188849],
        [0.0830856711, 0.305867344, 0.336691916, 0.195968598],
        [-0.199087411, -0.876449943, -0.876708984, 0.0970182493],
        [0.929862082, 0.574231446, 0.15509668, -0.212237462],
    ],
]
CONV_Y = [
    [
        [0.0500000007, 0.654994249, 1.12254, 0.512856066],
        [-0.281890273, -0.694779158, -0.273171544, 0.276604414],
        [0.5788728, 0.294643879, 0.0389031842, -0.538954556],
        [-0.367517799, -0.856553495, -0.293714106, 0.433591962],
        [0.734598935, 0.667282164, 0.13684389, -0.708695471],
    ],
    [
        [-0.513240457, -0.00461991876, 0.954357028, 1.15338361],
        [0.223290846, -0.473330438, -0.570108175, -0.311043143],
        [0.495537251, 0.529719949, 0.538031876, -0.00508397818],
        [0.300712764, -0.592766345, -0.696628451, -0.256530643],
        [0.168742791, 0.700807512, 0.736415625, -0.125260979],
    ],
]
CONV_CACHE = [
    [
        [1.19050157, 1.45483494, 0.618177772, -0.686303377],
        [-1.47140419, -1.14297557, 0.0504337177, 1.20567667],
        [1.4484868, 0.595111907, -0.708631516, -1.47609758],
    ],
    [
        [0.100810401, 1.23499823, 1.43456388, 0.548479438],
        [-0.752682924, -1.4842304, -1.09254265, 0.125961691],
        [1.24913728, 1.42699349, 0.524925947, -0.774391413],
    ],
]  # [B, shift, channel]
CONV_STEP_Y = [[[-0.197081104, 0.129710928, 0.595818281, 0.196938306]], [[-0.233089134, -0.163373992, 0.503807187, 0.624235213]]]
B, T, W = 2, 5, 4
SCANS = [hawk.scan_reference, hawk.scan_chunk]


def example_x():
    return (torch.sin(torch.arange(B * T * W, dtype=torch.float32) * 0.9) * 1.5).reshape(B, T, W)


def example_lru(scan):
    lru = hawk.RGLRU(hawk.Params(hidden_size=W, num_heads=2), scan)
    with torch.no_grad():
        lru.a_param.copy_(torch.tensor([-1.0, 0.5, 2.0, 0.1]))
        lru.input_gate.w.copy_(torch.cos(torch.arange(8.0) * 0.8).reshape(2, 2, 2))
        lru.input_gate.b.copy_(torch.tensor([[0.1, -0.2], [0.3, 0.0]]))
        lru.a_gate.w.copy_(torch.sin(torch.arange(8.0) * 1.3).reshape(2, 2, 2))
        lru.a_gate.b.copy_(torch.tensor([[0.0, 0.5], [-0.5, 0.2]]))
    return lru


@pytest.mark.parametrize("scan", SCANS, ids=["reference", "chunk"])
def test_the_rg_lru_matches_the_authors_code_from_the_start_and_carried(scan):
    lru, x = example_lru(scan), example_x()
    y, last = lru(x, None, first=True)
    torch.testing.assert_close(y, torch.tensor(START_Y), rtol=0, atol=2e-6)
    torch.testing.assert_close(last, y[:, -1])
    y, last = lru(x, torch.tensor(H0), first=False)
    torch.testing.assert_close(y, torch.tensor(CARRIED_Y), rtol=0, atol=2e-6)
    # the reset matters here: without it the first step would decay h_0 = 0 and scale by √(1 − a²)
    assert (y[:, 0] - torch.tensor(START_Y)[:, 0]).abs().max() > 0.1


def test_the_conv_matches_the_authors_code_from_the_start_and_one_step_on():
    w = (torch.arange(16.0) * 0.1 - 0.7).reshape(4, W)
    b = torch.tensor([0.05, -0.05, 0.1, 0.0])
    x = example_x()
    y, window = hawk.causal_conv(torch.zeros(B, W, 3), x, w, b)
    torch.testing.assert_close(y, torch.tensor(CONV_Y), rtol=0, atol=2e-6)
    torch.testing.assert_close(window.transpose(1, 2), torch.tensor(CONV_CACHE), rtol=0, atol=2e-6)
    y, window = hawk.causal_conv(window, x[:, :1], w, b)
    torch.testing.assert_close(y, torch.tensor(CONV_STEP_Y), rtol=0, atol=2e-6)


def test_the_square_root_gradient_is_bounded_at_1000():
    u = torch.tensor([1e-12, 2.5e-7, 0.25, 1.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(hawk.SqrtBoundDerivative.apply(u).sum(), u)
    # 1/(2√u) = 5·10⁵ and 1000 at the first two, bounded to 1000; 1 and 0.5 unchanged
    torch.testing.assert_close(grad, torch.tensor([1000.0, 1000.0, 1.0, 0.5], dtype=torch.float64), rtol=1e-12, atol=0)
    assert torch.equal(hawk.SqrtBoundDerivative.apply(u.detach()), u.detach().sqrt())


def ring_ok(rho: torch.Tensor, r_min: float = 0.9, r_max: float = 0.999) -> bool:
    """ρ within [r_min, r_max] and ρ² uniform there: the Kolmogorov–Smirnov distance of ρ² from
    U[r_min², r_max²] under 1.63/√n (the 1% critical value)."""
    if rho.min() < r_min - 1e-6 or rho.max() > r_max + 1e-6:
        return False
    sq = (rho.double() ** 2).sort().values
    cdf = (sq - r_min**2) / (r_max**2 - r_min**2)
    n = len(sq)
    ks = torch.maximum(torch.arange(1, n + 1) / n - cdf, cdf - torch.arange(n) / n).max()
    return float(ks) < 1.63 / math.sqrt(n)


def test_the_ring_initialisation_has_the_papers_distribution_and_a_wrong_one_fails():
    arch = resolve_model("hawk")
    p = arch.params({"hidden_size": 1024, "num_heads": 8, "num_layers": 2})
    core = arch.build(None, 1024, p, torch.Generator().manual_seed(0))
    for layer in core.layers:
        rho = torch.exp(-torch.nn.functional.softplus(layer.rg_lru.a_param.detach()))  # a = ρ^(8r)
        assert ring_ok(rho)
    g = torch.Generator().manual_seed(1)
    assert not ring_ok(torch.empty(1024).uniform_(0.9, 0.999, generator=g) ** 2)  # the ½ of log ρ forgotten
    assert not ring_ok(torch.empty(4096).uniform_(0.9, 0.999, generator=g))  # ρ uniform, not ρ²


def test_the_weights_have_the_authors_scales():
    arch = resolve_model("hawk")
    p = arch.params({"hidden_size": 512, "num_heads": 4, "num_layers": 2})
    core = arch.build(None, 512, p, torch.Generator().manual_seed(0))
    layer = core.layers[0]
    expected = [
        (layer.linear_x.weight, 1 / 512),
        (layer.linear_y.weight, 1 / 512),
        (layer.ffw_up.weight, 1 / 512),
        (layer.linear_out.weight, (2 / 2) / 512),
        (layer.ffw_down.weight, (2 / 2) / (3 * 512)),
        (layer.conv_w, 0.01 / 4),
        (layer.rg_lru.input_gate.w, 1 / 128),
        (layer.rg_lru.a_gate.w, 1 / 128),
        (core.encoder.weight, 1 / 512),
    ]
    for t, variance in expected:
        assert abs(float(t.detach().std()) / math.sqrt(variance) - 1) < 0.05
    assert not abs(float(layer.ffw_down.weight.detach().std()) / math.sqrt(1 / 512) - 1) < 0.05  # 1/√D: rejected
    assert all(torch.count_nonzero(t) == 0 for n, t in core.named_parameters() if n.endswith(("bias", "_b", ".b", "scale")))


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"hidden_size": 10, "num_heads": 4}, "model.num_heads=4 does not divide the RG-LRU width 10; use one of: 1, 2, 5, 10"),
        ({"r_min": 0.99, "r_max": 0.9}, "model.r_min=0.99, model.r_max=0.9 are impossible"),
        ({"conv_width": 0}, "model.conv_width=0 is impossible"),
    ],
)
def test_parameter_errors(values, fragment):
    with pytest.raises(UsageError, match=fragment):
        resolve_model("hawk").params(values)
