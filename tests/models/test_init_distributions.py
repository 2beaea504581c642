"""Every architecture's initialisation checked against its paper's (or its authors' code's)
distribution. Each Kolmogorov–Smirnov check also shows it rejects a wrong scale or range on the
same samples (pinning.assert_distribution), so a test here cannot pass by being too weak.
Sizes are large enough for that and the seed is fixed, so the outcome does not vary."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pinning import assert_distribution
from scipy import stats

from rnnbench.models import build_core, resolve_model


def build(name: str, input_size: int, seed: int = 0, **params):
    return build_core(name, input_size=input_size, generator=torch.Generator().manual_seed(seed), **params)


def U(a: float, b: float):
    return stats.uniform(a, b - a)


def N(std: float, mean: float = 0.0):
    return stats.norm(mean, std)


def symmetric(bound: float, what: str, samples, factors=(1.1, 0.9)) -> None:
    """U(−bound, bound), and not U(±f·bound) for each factor, nor U(0, bound)."""
    assert_distribution(samples, U(-bound, bound), [*(U(-f * bound, f * bound) for f in factors), U(0, bound)], what)


def linear(layer: torch.nn.Linear, what: str) -> None:
    """nn.Linear's default, U(±1/√fan_in) for the weight and the bias."""
    bound = 1 / math.sqrt(layer.in_features)
    symmetric(bound, f"{what}.weight", layer.weight)
    if layer.bias is not None and layer.bias.numel() >= 2000:
        symmetric(bound, f"{what}.bias", layer.bias, factors=(1.25, 0.8))


# ---- classic: U(±1/√H) for every parameter (PyTorch's default, Architecture uniform_init) ---------


@pytest.mark.parametrize("name", ["rnn", "birnn", "lstm", "bilstm", "gru", "bigru"])
def test_classic_parameters_are_uniform_within_one_over_root_h(name):
    H = 512
    core = build(name, 64, hidden_size=H, num_layers=2)
    bound = 1 / math.sqrt(H)
    groups = {
        kind: torch.cat([p.detach().flatten() for n, p in core.named_parameters() if n.startswith(kind)])
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    for kind, values in groups.items():
        symmetric(bound, f"{name} {kind}", values[:400_000], factors=(1.1, 0.9) if "weight" in kind else (1.25, 0.8))


# ---- IRNN: W_hh = I, b = 0, W_ih ~ N(0, 0.001²) (Le, Jaitly & Hinton 2015) -------------------------


def test_irnn_identity_zero_bias_and_tiny_gaussian_input_weights():
    H, I = 256, 128
    core = build("irnn", I, hidden_size=H, num_layers=2)
    for layer in (0, 1):
        assert torch.equal(getattr(core, f"weight_hh_l{layer}"), torch.eye(H))
        assert not getattr(core, f"bias_ih_l{layer}").any() and not getattr(core, f"bias_hh_l{layer}").any()
    w = torch.cat([core.weight_ih_l0.detach().flatten(), core.weight_ih_l1.detach().flatten()])
    assert_distribution(w, N(0.001), [N(0.0011), N(0.0009), N(0.001, 0.0001), N(1 / math.sqrt(H))], "irnn weight_ih")
    scaled = build("irnn", I, hidden_size=8, identity_scale=0.5, input_std=0.01)
    assert torch.equal(scaled.weight_hh_l0, 0.5 * torch.eye(8))


# ---- IndRNN: the authors' bounds (Sunnydreamrain/IndRNN_pytorch) ----------------------------------


def test_indrnn_recurrent_weights_follow_the_authors_bounds():
    H, T, MAG = 1024, 10, 2.0
    core = build("indrnn", 64, hidden_size=H, num_layers=3, bound_length=T)
    bound, low = MAG ** (1 / T), (1 / MAG) ** (1 / T)
    first = torch.cat([core.layers[0].weight_hh.detach(), core.layers[1].weight_hh.detach()])
    last = core.layers[2].weight_hh.detach()
    assert_distribution(first, U(0, bound), [U(0, 1), U(0, 1.15), U(low, bound)], "indrnn u, layers before the last")
    assert_distribution(last, U(low, bound), [U(0, bound), U(low, 1.0), U(0.9, bound)], "indrnn u, last layer")
    for i, layer in enumerate(core.layers):
        fan_in = layer.weight_ih.shape[1]
        kaiming = math.sqrt(2 / (1 + 8**2)) * math.sqrt(3 / fan_in)  # kaiming_uniform_(a=8, mode="fan_in")
        symmetric(kaiming, f"indrnn layer {i} weight_ih", layer.weight_ih)
        assert not layer.bias.any()
    p = resolve_model("indrnn").params({"bound_length": 784, "mag": 10})
    assert p.u_bound == pytest.approx(10 ** (1 / 784)) and p.u_lowbound == pytest.approx(0.1 ** (1 / 784))


# ---- expRNN: Henaff / Cayley 2×2 blocks (Lezcano/expRNN initialization.py) -------------------------


@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_exprnn_skew_blocks_and_their_distribution(init):
    H, I = 1024, 64
    core = build("exprnn", I, hidden_size=H, num_layers=2, init=init)
    s = []
    for layer in core.layers:
        a = layer.log_recurrent.detach()
        values = a.diagonal(1)[::2]
        block = torch.diag_embed(torch.zeros(H - 1).index_put_((torch.arange(0, H - 1, 2),), values), 1)
        assert torch.equal(a, block - block.T), "only the 2×2 blocks [[0, s], [−s, 0]] on the diagonal"
        s.append(values)
    s = torch.cat(s)
    if init == "henaff":
        assert_distribution(
            s,
            U(-math.pi, math.pi),
            [U(-math.pi / 2, math.pi / 2), U(0, math.pi), U(-2 * math.pi, 2 * math.pi)],
            "expRNN henaff s",
        )
    else:  # s = −sqrt((1 − cos θ)/(1 + cos θ)) = −tan(θ/2), θ ~ U(0, π/2)
        assert (s <= 0).all()
        theta = 2 * torch.atan(-s.double())
        assert_distribution(theta, U(0, math.pi / 2), [U(0, math.pi), U(0, math.pi / 4), U(0.2, math.pi / 2)], "expRNN cayley θ")
    w = torch.cat([layer.weight_ih.detach().flatten() / math.sqrt(2 / layer.weight_ih.shape[1]) for layer in core.layers])
    assert_distribution(w, N(1.0), [N(1 / math.sqrt(2)), N(1.1)], "expRNN weight_ih / sqrt(2/fan_in) (kaiming normal, relu)")
    b = torch.cat([layer.bias.detach() for layer in core.layers])
    assert_distribution(b, U(-0.01, 0.01), [U(-0.02, 0.02), U(0, 0.01), U(-0.008, 0.008)], "expRNN modReLU bias")


# ---- LRU: the ring initialisation (Orvieto et al. 2023, minimal-LRU) ----------------------------


@pytest.mark.parametrize("r_min, r_max, max_phase", [(0.4, 0.9, math.pi), (0.9, 0.999, 2 * math.pi)])
def test_lru_eigenvalues_fill_the_ring_with_the_papers_density(r_min, r_max, max_phase):
    Nst = 16384
    core = build("lru", 3, hidden_size=8, d_state=Nst, num_layers=1, r_min=r_min, r_max=r_max, max_phase=max_phase)
    layer = core.layers[0]
    nu, theta = layer.nu_log.detach().double().exp(), layer.theta_log.detach().double().exp()
    modulus = torch.exp(-nu)  # |λ| = exp(−exp(ν))
    assert r_min - 1e-6 <= float(modulus.min()) and float(modulus.max()) <= r_max + 1e-6
    sq = modulus**2  # |λ|² uniform in [r_min², r_max²]: uniform on the ring's area
    lo, hi = r_min**2, r_max**2

    def modulus_uniform(v):  # the wrong density: |λ| (not |λ|²) uniform in [r_min, r_max]
        return np.clip((np.sqrt(np.clip(v, 0, None)) - r_min) / (r_max - r_min), 0, 1)

    wider = 0.1 * (hi - lo)
    assert_distribution(sq, U(lo, hi), [modulus_uniform, U(lo, hi + wider), U(lo - wider, hi)], "LRU |λ|²")
    assert_distribution(theta, U(0, max_phase), [U(0, 0.9 * max_phase), U(0, 1.1 * max_phase)], "LRU phase θ")
    gamma = layer.gamma_log.detach().double().exp()
    torch.testing.assert_close(gamma, torch.sqrt(1 - modulus**2), rtol=1e-4, atol=0)  # γ = √(1 − |λ|²)


def test_lru_projections_are_scaled_as_the_paper_says():
    H, Nst, I = 1024, 256, 64
    core = build("lru", I, hidden_size=H, d_state=Nst, num_layers=2)
    for part in ("B_re", "B_im"):  # complex Gaussian / sqrt(2H)
        v = torch.cat([getattr(l, part).detach().flatten() for l in core.layers])
        assert_distribution(v, N(1 / math.sqrt(2 * H)), [N(1 / math.sqrt(H)), N(1.1 / math.sqrt(2 * H))], f"LRU {part}")
    for part in ("C_re", "C_im"):  # / sqrt(N)
        v = torch.cat([getattr(l, part).detach().flatten() for l in core.layers])
        assert_distribution(v, N(1 / math.sqrt(Nst)), [N(1 / math.sqrt(2 * Nst)), N(1.1 / math.sqrt(Nst))], f"LRU {part}")
    D = torch.cat([l.D.detach() for l in core.layers])
    assert_distribution(D, N(1.0), [N(0.8), N(1.25), N(1.0, 0.2)], "LRU D")
    linear(core.encoder, "LRU encoder")
    for i, l in enumerate(core.layers):
        linear(l.out1, f"LRU layer {i} out1")
        linear(l.out2, f"LRU layer {i} out2")
        assert torch.equal(l.norm.weight, torch.ones(H)) and not l.norm.bias.any()


# ---- Mamba: A_log = log(1..N), D = 1, Δ's bias, dt_proj (state-spaces/mamba mamba_simple.py) --------


@pytest.mark.parametrize("dt_min, dt_max", [(0.001, 0.1), (0.01, 0.5)])
def test_mamba_ssm_parameters_are_initialised_as_the_reference_code(dt_min, dt_max):
    D, Nst = 512, 16
    core = build("mamba", 8, hidden_size=D, d_state=Nst, num_layers=2, dt_min=dt_min, dt_max=dt_max)
    ED, R = 2 * D, math.ceil(D / 16)
    log_dt, dt_w = [], []
    for layer in core.layers:
        assert torch.equal(layer.A_log, torch.log(torch.arange(1, Nst + 1, dtype=torch.float32)).repeat(ED, 1))
        assert torch.equal(layer.D, torch.ones(ED))
        dt = torch.nn.functional.softplus(layer.dt_proj.bias.detach().double())
        log_dt.append(dt.log())
        dt_w.append(layer.dt_proj.weight.detach().flatten())
        assert layer.dt_proj.weight.shape == (ED, R)
    lo, hi = math.log(dt_min), math.log(dt_max)
    assert_distribution(
        torch.cat(log_dt),
        U(lo, hi),
        [U(lo, math.log(2 * dt_max)), U(math.log(dt_min / 2), hi), U(math.log(dt_min), math.log(dt_max) - 0.5)],
        "Mamba log softplus(dt bias): log-uniform in [dt_min, dt_max]",
    )
    symmetric(R**-0.5, "Mamba dt_proj.weight: U(±R^-½)", torch.cat(dt_w))


def test_mamba_projections_conv_and_norms_are_pytorch_defaults():
    D = 512
    core = build("mamba", 64, hidden_size=D, num_layers=2, d_conv=4)
    linear(core.encoder, "Mamba encoder")
    for i, layer in enumerate(core.layers):
        for part in ("in_proj", "x_proj", "out_proj"):
            linear(getattr(layer, part), f"Mamba layer {i} {part}")
        symmetric(1 / math.sqrt(4), f"Mamba layer {i} conv.weight (fan-in = kernel width)", layer.conv.weight, (1.25, 0.8))
        assert torch.equal(layer.norm.weight, torch.ones(D))
    assert torch.equal(core.final.weight, torch.ones(D))


# ---- minGRU / minLSTM: nn.Linear's default, as the authors' code (BorealisAI/minRNNs) ---------------


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_rnn_projections_are_linear_defaults(name):
    core = build(name, 256, hidden_size=1024, num_layers=2)
    for i, layer in enumerate(core.layers):
        linear(layer.proj, f"{name} layer {i} proj")
