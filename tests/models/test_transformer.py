"""The causal Transformer core: fused and reference agree under every positional encoding and
across pieces, the attention and the encodings match values computed by hand, GPT-2's
initialisation, the errors, the T² terms of its FLOPs, state and cost estimate."""

import math

import pytest
import torch

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.measure import Shape, ThroughputCell
from rnnbench.models import build_core, resolve_model
from rnnbench.models.architectures import transformer as tf
from rnnbench.sweep import estimate
from rnnbench.train import Cell

ENCODINGS = ["none", "sinusoidal", "learned", "rope", "alibi"]
B, I, H = 2, 3, 8


def run(core, x, pieces=None):
    """Outputs and final state of one pass, or of the pieces ``x[:, a:b]`` with the state handed over."""
    if pieces is None:
        return core(x)
    state, ys = None, []
    for a, b in pieces:
        y, state = core(x[:, a:b], state) if state is not None else core(x[:, a:b])
        ys.append(y)
    return torch.cat(ys, 1), state


def flat(state):
    return [t for kv in state for t in kv]


@pytest.mark.parametrize("pos", ENCODINGS)
def test_fused_and_reference_agree_in_outputs_state_and_gradients_under_every_encoding(pos):
    g = torch.Generator().manual_seed(0)
    width, heads = (12, 6) if pos == "alibi" else (H, 2)  # ALiBi: 6 heads, the slopes' non-power-of-2 rule
    ref = build_core(
        "transformer", "reference", input_size=I, generator=g, hidden_size=width, num_layers=2, pos_encoding=pos, num_heads=heads
    )
    with torch.no_grad():  # away from the init's zero biases, so that every parameter matters
        for p in ref.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    fused = build_core("transformer", "fused", input_size=I, hidden_size=width, num_layers=2, pos_encoding=pos, num_heads=heads)
    fused.load_state_dict(ref.state_dict())
    ref, fused = ref.double(), fused.double()
    x = torch.randn(B, 9, I, generator=g, dtype=torch.float64)
    y_ref, s_ref = run(ref, x)
    for core, pieces in [(fused, None), (fused, [(0, 1), (1, 5), (5, 9)]), (ref, [(0, 4), (4, 9)])]:
        xi = x.clone().requires_grad_()
        y, s = run(core, xi, pieces)
        torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
        for a, b in zip(flat(s), flat(s_ref)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        assert flat(s)[0].shape == (B, heads, 9, width // heads)  # the cache holds every step
    w = torch.randn(y_ref.shape, generator=g, dtype=torch.float64)
    grads = []
    for core in (ref, fused):
        xi = x.clone().requires_grad_()
        y, _ = core(xi)
        grads.append(torch.autograd.grad((y * w).sum(), [xi, *core.parameters()]))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_attention_by_hand_one_head_q_k_v_the_input():
    """q = k = v = x, no positions: the output at step t is Σ_j softmax_j(x_t·x_j/√2) x_j over j ≤ t."""
    xs = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    expected = []
    for t in range(3):
        scores = [sum(a * b for a, b in zip(xs[t], xs[j])) / math.sqrt(2) for j in range(t + 1)]
        weights = [math.exp(s) / sum(math.exp(s2) for s2 in scores) for s in scores]
        expected.append([sum(w * xs[j][i] for j, w in enumerate(weights)) for i in range(2)])
    p = tf.Params(hidden_size=2, num_heads=1, pos_encoding="none")
    x = torch.tensor([xs], dtype=torch.float64)
    for fused in (True, False):
        attn = tf.Attention(p, fused).double()
        with torch.no_grad():
            attn.qkv.weight.copy_(torch.cat([torch.eye(2)] * 3))
            attn.qkv.bias.zero_()
            attn.proj.weight.copy_(torch.eye(2))
            attn.proj.bias.zero_()
        out, _ = attn(x, None, 0)
        torch.testing.assert_close(out[0], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
        first, cache = attn(x[:, :2], None, 0)  # the same from a cache of two steps
        last, _ = attn(x[:, 2:], cache, 2)
        torch.testing.assert_close(
            torch.cat([first, last], 1)[0], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12
        )


def test_alibi_adds_minus_slope_times_distance_by_hand():
    """One head (slope 2^(−8)), q = k = 0 so that the scores are the bias alone: the weights at
    step t are softmax_j(−m·(t − j))."""
    assert tf.alibi_slopes(8) == [2.0**-i for i in range(1, 9)]  # Press et al.: 1/2, 1/4, ..., 1/256
    assert tf.alibi_slopes(6) == [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]
    m = 2.0**-8  # the slope of a single head
    p = tf.Params(hidden_size=2, num_heads=1, pos_encoding="alibi")
    values = [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 1.0]]
    for fused in (True, False):
        attn = tf.Attention(p, fused).double()
        with torch.no_grad():
            attn.qkv.weight.zero_()
            attn.qkv.weight[4:].copy_(torch.eye(2))  # v = x, q = k = 0
            attn.qkv.bias.zero_()
            attn.proj.weight.copy_(torch.eye(2))
            attn.proj.bias.zero_()
        x = torch.tensor([values], dtype=torch.float64)
        out, _ = attn(x, None, 0)
        t = 3
        weights = [math.exp(-m * (t - j)) for j in range(t + 1)]
        expected = [sum(w * values[j][i] for j, w in enumerate(weights)) / sum(weights) for i in range(2)]
        torch.testing.assert_close(out[0, t], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)


def test_sinusoid_and_rope_values_by_hand():
    pe = tf.sinusoid(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 4)  # ω = 1, 10000^(−1/2) = 0.01
    expected = [
        [0, 0, 1, 1],
        [math.sin(1), math.sin(0.01), math.cos(1), math.cos(0.01)],
        [math.sin(2), math.sin(0.02), math.cos(2), math.cos(0.02)],
    ]
    torch.testing.assert_close(pe, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-15)
    x = torch.tensor([[[[1.0, 0.0, 0.0, 2.0]] * 3]], dtype=torch.float64)  # (1, 1, T=3, d=4)
    rotated = tf.rope(x, torch.tensor([0, 1, 5]))
    for t, p in enumerate([0, 1, 5]):  # pair (x0, x1) turns by p·1, pair (x2, x3) by p·0.01
        expected = [math.cos(p), math.sin(p), -2 * math.sin(0.01 * p), 2 * math.cos(0.01 * p)]
        torch.testing.assert_close(rotated[0, 0, t], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-15)
    q, k = torch.randn(1, 1, 1, 8, dtype=torch.float64), torch.randn(1, 1, 1, 8, dtype=torch.float64)
    dots = [float((tf.rope(q, torch.tensor([a])) * tf.rope(k, torch.tensor([b]))).sum()) for a, b in [(3, 1), (12, 10)]]
    assert dots[0] == pytest.approx(dots[1], abs=1e-12)  # RoPE scores depend on the distance only


def test_initialisation_is_gpt2s_and_a_wrong_scale_fails():
    arch = resolve_model("transformer")
    p = arch.params({"hidden_size": 256, "num_layers": 2, "pos_encoding": "learned", "max_len": 512})
    core = arch.build(None, 256, p, torch.Generator().manual_seed(0))

    def std_ok(t, target):
        return abs(float(t.detach().std()) / target - 1) < 0.03

    block = core.layers[0]
    for t in (core.encoder.weight, block.attn.qkv.weight, block.fc1.weight, core.positions):
        assert std_ok(t, 0.02)
    for t in (block.attn.proj.weight, block.fc2.weight):
        assert std_ok(t, 0.02 / math.sqrt(2 * 2))  # 0.02/√(2L)
        assert not std_ok(t, 0.02)  # the unscaled value is rejected: the check can fail
    assert all(torch.count_nonzero(b) == 0 for n, b in core.named_parameters() if n.endswith("bias"))
    pytorch_default = torch.nn.Linear(256, 768).weight  # U(±1/16), std 0.036: a wrong scale
    assert not std_ok(pytorch_default, 0.02)


@pytest.mark.parametrize(
    "values, fragment",
    [
        (
            {"hidden_size": 64, "num_heads": 3},
            "model.num_heads=3 does not divide model.hidden_size=64; use one of: 1, 2, 4, 8, 16, 32, 64",
        ),
        (
            {"pos_encoding": "relative"},
            "model.pos_encoding='relative' is not allowed; choose one of: alibi, learned, none, rope, sinusoidal",
        ),
        ({"hidden_size": 12, "num_heads": 4, "pos_encoding": "rope"}, "model.pos_encoding='rope' rotates pairs"),
        ({"dropout": 1.0}, "model.dropout=1.0 is impossible"),
    ],
)
def test_parameter_errors_name_the_parameter_and_the_valid_values(values, fragment):
    with pytest.raises(UsageError, match=fragment):
        resolve_model("transformer").params(values)


def test_a_sequence_longer_than_the_learned_table_is_one_line_exit_2(capsys, tmp_path):
    core = build_core("transformer", input_size=I, hidden_size=H, pos_encoding="learned", max_len=6)
    _, state = core(torch.zeros(1, 4, I))
    with pytest.raises(UsageError, match=r"the sequence reaches step 7 but model.max_len=6 .*set model.max_len=7"):
        core(torch.zeros(1, 3, I), state)  # across pieces too: positions continue from the cache
    code = main(
        [
            "run",
            "--task",
            "copy",
            "--model",
            "transformer",
            "--set",
            "task.T=5",
            "--set",
            "model.hidden_size=8",
            "--set",
            "model.pos_encoding=learned",
            "--set",
            "model.max_len=10",
            "--steps",
            "1",
            "--set",
            "train.eval_size=4",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "r.jsonl"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "model.max_len=10" in err and "rope" in err
    assert not (tmp_path / "r.jsonl").exists()  # nothing written
    code = main(["run", "--task", "copy", "--model", "transformer", "--set", "model.num_heads=3"])
    assert code == 2 and "model.num_heads=3 does not divide model.hidden_size=64" in capsys.readouterr().err


def test_flops_have_the_attention_pairs_a_causal_mask_allows():
    arch = resolve_model("transformer")
    p = arch.params({"hidden_size": 16, "num_layers": 2, "num_heads": 2})
    f = [arch.forward_flops(p, 3, T, 5) for T in range(1, 8)]
    pairs = [int(torch.ones(T, T).tril().sum()) for T in range(1, 8)]  # (query, key) pairs under the mask
    # f(T) = c·T + k·pairs(T): one constant per token, one per pair; the per-pair one is at least the
    # 2 multiply-adds per dimension of q·k and p·v, per layer and sequence
    k = (f[2] - 2 * f[1] + f[0]) / (pairs[2] - 2 * pairs[1] + pairs[0])
    c = (f[0] - k * pairs[0]) / 1
    assert all(f[T - 1] == pytest.approx(c * T + k * pairs[T - 1]) for T in range(1, 8))
    assert k >= 3 * 2 * 4 * 16
    matmuls = 2 * 3 * 2 * (16 * 48 + 16 * 16 + 2 * 16 * 64)  # B·L·(q k v, output, MLP) per token
    assert c >= matmuls
    big = [arch.forward_flops(p, 1, T, 5) for T in (1024, 4096)]
    assert big[1] / big[0] > 10  # quadratic: a linear count would give 4


def test_state_grows_with_length_and_list_shows_it(capsys):
    arch = resolve_model("transformer")
    p = arch.params({"hidden_size": H, "num_layers": 2})
    core = arch.build(None, I, p)
    for T in (3, 10):
        _, state = core(torch.zeros(B, T, I))
        assert sum(t.numel() for t in flat(state)) // B == arch.state_numbers(p, T) == 2 * 2 * H * T
    assert main(["list", "models"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("transformer"))
    assert "[fused, reference; default cpu: fused" in line and "state: 128·T" in line  # 2·L·D = 2·1·64 at the defaults


@pytest.mark.parametrize("pos", ENCODINGS)
def test_check_passes_every_probe_for_both_implementations(capsys, pos):
    assert main(["check", "transformer", "--set", f"model.pos_encoding={pos}"]) == 0
    out = capsys.readouterr().out
    assert out.count("pass  state carry-over") == 2 and out.count("pass  causality") == 2
    assert "FAIL" not in out and "n/a" not in out and "all probes passed" in out


def test_check_catches_attention_that_sees_the_future(capsys, monkeypatch):
    """Negative control: fused attention without its causal mask fails the causality probe."""
    monkeypatch.setattr(
        tf.Attention, "attend_fused", lambda self, q, k, v, offset: torch.nn.functional.scaled_dot_product_attention(q, k, v)
    )
    assert main(["check", "transformer", "--impl", "fused"]) == 1
    assert "FAIL  causality" in capsys.readouterr().out


def test_the_cost_estimate_grows_quadratically_with_the_length():
    def seconds(model, T, impl=None):
        return estimate(ThroughputCell(model, impl, Shape(batch=16, seq_len=T, input_size=64, hidden_size=64)))["seconds"]

    grow = seconds("transformer", 4096) / seconds("transformer", 1024)
    assert grow > 8, grow  # 4× the length: 16× the attention, so well above the 4× of a linear cost
    assert seconds("lstm", 4096) / seconds("lstm", 1024) < 4.5  # a recurrence stays linear
    train = [
        estimate(
            Cell(
                "mqar",
                "transformer",
                "arora2023",
                {"T": T, "num_kv_pairs": 4, "V": 64, "embed_dim": 32},
                train={"steps": 10, "eval_size": 16},
            )
        )["seconds"]
        for T in (1024, 4096)
    ]
    assert train[1] / train[0] > 8


def test_training_records_the_state_after_the_whole_sequence():
    from rnnbench.tasks import make_task
    from rnnbench.train import fit

    cell = Cell(
        "copy",
        "transformer",
        "arjovsky2016",
        {"T": 3, "K": 2},
        model_params={"hidden_size": 8},
        train={"steps": 2, "eval_size": 8},
    )
    r = fit(cell, "cpu")
    length = make_task("copy", "arjovsky2016", {"T": 3, "K": 2}).sample(1, torch.Generator().manual_seed(0)).x.shape[1]
    assert r["status"] == "ok" and r["model"]["implementation"] == "fused"
    assert r["model"]["state_size"] == 2 * 1 * 8 * length
