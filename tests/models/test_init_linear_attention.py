"""The linear-attention family's initialisation against the authors' code (each KS check also
rejects a wrong scale or range on the same samples, pinning.assert_distribution): fla's
``_init_weights`` (N(0, 0.02²)) and Gated DeltaNet's A and dt; mamba's Mamba2 module; xlstm's
mLSTM layer; RWKV-LM's RWKV-7 (its formulas recomputed here from ``train_temp/src/model.py``)."""

from __future__ import annotations

import math

import torch
from pinning import assert_distribution
from scipy import stats

from rnnbench.models import build_core


def build(name, input_size=8, seed=0, **params):
    return build_core(name, input_size=input_size, generator=torch.Generator().manual_seed(seed), **params)


def U(a, b):
    return stats.uniform(a, b - a)


def N(std, mean=0.0):
    return stats.norm(mean, std)


def flat(tensors):
    return torch.cat([t.detach().flatten() for t in tensors])


def fla_normal(values, what):
    """N(0, 0.02²), not 0.022 or 0.018, not zero-mean shifted, not PyTorch's U(±1/√fan_in)."""
    assert_distribution(values, N(0.02), [N(0.022), N(0.018), N(0.02, 0.002), U(-0.0625, 0.0625)], what)


def encoder_default(core, fan_in):
    bound = 1 / math.sqrt(fan_in)
    assert float(core.encoder.weight.abs().max()) <= bound


def test_deltanet_and_gla_weights_are_fla_normal_and_norms_one():
    D = 256
    for name, extra in (("deltanet", {"num_heads": 4}), ("gla", {"num_heads": 4})):
        core = build(name, 64, hidden_size=D, num_layers=2, **extra)
        weights, norms = [], []
        for layer in core.layers:
            m = layer.mixer
            for mod in m.modules():
                if isinstance(mod, (torch.nn.Linear, torch.nn.Conv1d)):
                    weights.append(mod.weight)
                    if mod.bias is not None:
                        assert not mod.bias.any(), f"{name}: fla zeroes every bias"
            norms += [layer.norm.weight, m.o_norm.weight]
        fla_normal(flat(weights), f"{name}: Linear and conv weights")
        assert all(torch.equal(n, torch.ones_like(n)) for n in norms) and torch.equal(core.final.weight, torch.ones(D))
        encoder_default(core, 64)


def test_gated_deltanet_a_and_dt_bias_are_fla_s():
    H = 4096
    core = build("gated_deltanet", 16, hidden_size=16, num_heads=H // 2, head_dim=2, expand_v=1.0, num_layers=2)
    A = flat([l.mixer.A_log.exp() for l in core.layers])  # A ~ U(0, 16)
    assert_distribution(A, U(0, 16), [U(0, 8), U(1, 16), U(0, 17.6), U(0, 14.4)], "Gated DeltaNet A = exp(A_log)")
    dt = torch.nn.functional.softplus(flat([l.mixer.dt_bias for l in core.layers]).double())
    lo, hi = math.log(1e-3), math.log(0.1)
    assert_distribution(
        dt.log(),
        U(lo, hi),
        [U(lo, math.log(0.2)), U(math.log(5e-4), hi), U(lo, hi - 0.5)],
        "Gated DeltaNet log softplus(dt_bias): log-uniform in [1e-3, 0.1]",
    )
    weights = flat([l.mixer.q_proj.weight for l in core.layers] + [l.mixer.g_proj.weight for l in core.layers])
    fla_normal(weights, "Gated DeltaNet q_proj and g_proj")


def test_mamba2_a_dt_d_and_pytorch_defaults():
    D = 1024
    core = build("mamba2", 64, hidden_size=D, headdim=1, d_state=4, num_layers=2)  # 2048 heads a layer
    A = flat([l.mixer.A_log.exp() for l in core.layers])
    assert_distribution(A, U(1, 16), [U(0, 16), U(1, 8), U(1, 17.5), U(2, 16)], "Mamba-2 A = exp(A_log) ~ U(1, 16)")
    dt = torch.nn.functional.softplus(flat([l.mixer.dt_bias for l in core.layers]).double())
    lo, hi = math.log(1e-3), math.log(0.1)
    assert_distribution(dt.log(), U(lo, hi), [U(lo, math.log(0.2)), U(math.log(5e-4), hi)], "Mamba-2 log dt")
    for l in core.layers:
        m = l.mixer
        assert torch.equal(m.D, torch.ones_like(m.D)) and torch.equal(m.norm.weight, torch.ones(2 * D))
        bound = 1 / math.sqrt(D)
        assert_distribution(
            m.in_proj.weight[:20000],
            U(-bound, bound),
            [U(-1.1 * bound, 1.1 * bound), U(0, bound)],
            "Mamba-2 in_proj: nn.Linear's default",
        )
        assert_distribution(
            m.conv.weight, U(-0.5, 0.5), [U(-0.6, 0.6), U(0, 0.5), U(-0.4, 0.4)], "Mamba-2 conv: Conv1d's default, fan-in 4"
        )


def test_mlstm_small_init_wang_init_and_gates():
    D, L = 512, 3
    core = build("mlstm", 64, hidden_size=D, num_heads=1024, num_layers=L)  # inner 1024, 1024 heads of 1
    small = math.sqrt(2 / (5 * D))
    up = flat([l.mixer.proj_up.weight for l in core.layers])
    assert_distribution(up[:300000], N(small), [N(1.1 * small), N(0.9 * small), N(1 / math.sqrt(D))], "mLSTM proj_up")
    qkv = flat([getattr(l.mixer, f"{n}_proj").weight for l in core.layers for n in "qkv"])
    assert_distribution(
        qkv,
        N(small),
        [N(1.1 * small), N(0.9 * small), N(math.sqrt(2 / 5 / 4))],
        "mLSTM q, k, v: small init with the embedding dim, not the block's",
    )
    wang = 2 / L / math.sqrt(D)
    down = flat([l.mixer.proj_down.weight for l in core.layers])
    assert_distribution(
        down[:300000],
        N(wang),
        [N(1.1 * wang), N(0.9 * wang), N(2 / math.sqrt(D))],
        "mLSTM proj_down: wang init with the number of blocks",
    )
    ib = flat([l.mixer.igate.bias for l in core.layers])
    assert_distribution(ib, N(0.1), [N(0.13), N(0.077), N(0.1, 0.05)], "mLSTM input-gate bias N(0, 0.1²)")
    for l in core.layers:
        m = l.mixer
        assert torch.equal(m.fgate.bias, torch.linspace(3.0, 6.0, 1024))
        assert not m.fgate.weight.any() and not m.igate.weight.any()
        assert not m.outnorm.weight.any() and not l.norm.weight.any()  # xlstm's LayerNorm: weight 1 + 0
        assert torch.equal(m.learnable_skip, torch.ones(2 * D))
    assert not core.final.weight.any()


def test_rwkv7_init_follows_rwkv_lm_model_py():
    D, N, L = 64, 16, 3
    core = build("rwkv7", 8, hidden_size=D, head_size=N, num_layers=L)
    n = torch.arange(D, dtype=torch.float64)
    linear = n / (D - 1) - 0.5
    zig = ((n % N) - (N - 1) / 2) / ((N - 1) / 2)
    zigzag = zig * zig.abs()
    close = lambda a, b: torch.testing.assert_close(a.detach().double(), b, rtol=1e-6, atol=1e-6)  # noqa: E731
    for i, block in enumerate(core.layers):
        att = block.att
        r0, r1 = i / (L - 1), 1 - i / L
        ddd = n / D
        for name, power in (("x_r", 0.2), ("x_w", 0.9), ("x_k", 0.7), ("x_v", 0.7), ("x_a", 0.9), ("x_g", 0.2)):
            close(getattr(att, name), 1 - ddd ** (power * r1))
        close(att.w0, -6 + 6 * (n / (D - 1)) ** (1 + r0**0.3) + 0.5 + zigzag * 2.5)
        close(att.a0, -0.19 + zigzag * 0.3 + linear * 0.4)
        if i > 0:
            close(att.v0, 0.73 - linear * 0.4)
        else:
            assert not hasattr(att, "v0")  # layer 0's v is v_first: no value residual
        close(att.k_k, 0.71 - linear * 0.1)
        close(att.k_a, torch.full((D,), 1.02, dtype=torch.float64))
        close(att.r_k, torch.full((D // N, N), -0.04, dtype=torch.float64))
        close(att.ln_x.weight, torch.full((D,), ((1 + i) / L) ** 0.7, dtype=torch.float64))
        lora_ones = ["w1", "a1", "g1"] + ([] if i == 0 else ["v1"])
        assert all(not getattr(att, name).any() for name in lora_ones)
        for name in ["w2", "a2", "g2"] + ([] if i == 0 else ["v2"]):
            W = getattr(att, name).detach().double()  # (32, 64): rows orthonormal, gain 0.1
            close(W @ W.T, 0.01 * torch.eye(W.shape[0], dtype=torch.float64))
        for name, gain in (("receptance", 1.0), ("key", 0.1), ("value", 1.0)):
            W = getattr(att, name).weight.detach().double()
            close(W @ W.T, gain**2 * torch.eye(D, dtype=torch.float64))
        assert not att.output.weight.any() and not block.ffn.value.weight.any()
        K = block.ffn.key.weight.detach().double()  # (4D, D): orthonormal columns
        close(K.T @ K, torch.eye(D, dtype=torch.float64))
        close(block.ffn.x_k, 1 - ddd ** (r1**4))
    assert block.att.w1.shape == (D, 32) and block.att.g1.shape == (D, 32)  # max(32, round(c√64/32)·32) = 32
    wide = build("rwkv7", 8, hidden_size=1024, head_size=64)
    # 2.5·√1024/32 = 2.5 rounds to 2 (Python rounds half to even, in model.py too): 64; 5·√1024/32 = 5: 160
    assert [wide.layers[0].att.w1.shape[1], wide.layers[0].att.g1.shape[1]] == [64, 160]
