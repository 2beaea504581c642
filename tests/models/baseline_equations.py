"""The baselines' layers in plain NumPy (and scipy's erf for the exact GELU), one sequence and one
time step at a time, written from the papers and the authors' reference code (not from
rnnbench's code; nothing here imports rnnbench or torch). Parameter layouts are the ones
rnnbench's docstrings state (its parameter names), as paper_equations.py follows PyTorch's
documented gate layout.

- Transformer (Vaswani et al. 2017; pre-norm GPT-2 blocks): e = W_e x + b_e (+ P[p] for
  learned positions); per block h ← h + W_o Attn(LN₁(h)) + b_o, h ← h + W₂ GELU(W₁ LN₂(h) + b₁) + b₂
  (exact GELU, LayerNorm ε 1e−5 with bias); a final LayerNorm. [q; k; v] = W_qkv u + b (q the
  first D rows, each head d = D/heads consecutive rows); the query at position p sees the keys
  at positions ≤ p, softmax(q·k/√d) v. RoPE (Su et al. 2021): each pair (x_{2j}, x_{2j+1}) of a
  head's q and k at position p rotated by the angle p·θ_j, θ_j = 10000^(−2j/d). The state is
  every layer's keys (after RoPE) and values, (B, heads, P, d); a carried cache of length P
  makes the first new step position P.
- sLSTM (Beck et al. 2024, xLSTM; NX-AI/xlstm ``blocks/slstm/layer.py``, ``block.py``,
  ``src/vanilla/slstm.py::slstm_forward_pointwise``, ``components/conv.py``,
  ``feedforward.py``): per block v = LN(u) (no bias); c = SiLU(causal depthwise conv(v));
  the gate pre-activations, per head j and gate g ∈ (i, f, z, o), raw_g = W_g,j (c for i, f;
  v for z, o) + R_j,g h_{t−1} + b_g; m_t = max(ĩ, m_{t−1} + logσ(f̃)) (= ĩ at the first step
  from the zero state, where n = 0), i = min(exp(ĩ − m_t), 1), f = min(exp(m_{t−1} + logσ(f̃) − m_t), 1),
  c_t = f c_{t−1} + i tanh z̃, n_t = f n_{t−1} + i, h_t = σ(õ) c_t / n_t; u ← u + GN(h) (a
  LayerNorm per head, ε 1e−5, times a weight); then u ← u + W_down(GELU(g) ⊙ e), [g; e] =
  W_up LN(u). An encoder first, a LayerNorm (no bias) last.
- Hawk (De et al. 2024, Griffin; google-deepmind/recurrentgemma ``torch/layers.py`` RGLRU,
  rnn_scan, Conv1D, BlockDiagonalLinear, RMSNorm and ``torch/modules.py`` RecurrentBlock,
  MLPBlock, ResidualBlock): v = RMSNorm(u) = u/√(mean u² + 1e−6)·(1 + s); y = GELU_tanh(W_y v + b_y);
  x = Conv1D(W_x v + b_x), x'_t = Σ_k w[K−1−k] x_{t−k} + b; r = σ(x' A + b_a), i = σ(x' X + b_x)
  per block; log a = −8 r softplus(Λ); h_t = a h_{t−1} + √(1 − a²)(i x'_t), and at a sequence's
  first step (the authors' reset, segment_pos = 0) h = i x'; a carried state continues without
  the reset. u ← u + W_out(h ⊙ y) + b; then u ← u + W_down(GELU_tanh(g) ⊙ e) + b, [g; e] =
  W_up RMSNorm(u) + b. An encoder first, an RMSNorm last.

Max and min are taken on real parts, so the complex-step gradient stays exact.
"""

from __future__ import annotations

import numpy as np
from arch_examples import Example
from linear_attention_equations import get, layernorm, sigmoid, silu, softplus
from scipy.special import erf  # analytic: exact under the complex step too

MODELS = ("transformer", "slstm", "hawk")


def gelu(v):
    return 0.5 * v * (1.0 + erf(v / np.sqrt(2.0)))


def gelu_tanh(v):
    return 0.5 * v * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (v + 0.044715 * v**3)))


def log_sigmoid(v):
    return -np.log(1.0 + np.exp(-v))


class CausalConv:
    """A depthwise causal conv on one sequence: ``taps[j]`` (C,) multiplies the input K − 1 − j
    steps back; ``window`` (C, K − 1) the K − 1 inputs before the sequence, oldest first."""

    def __init__(self, taps, bias, window):
        self.taps, self.b, self.K = taps, bias, len(taps)
        self.hist = [window[:, j] for j in range(self.K - 1)]

    def __call__(self, x):
        window = (self.hist + [x])[-self.K :]
        self.hist = window[1:]
        return sum(self.taps[j] * window[j] for j in range(self.K)) + self.b

    def state(self):
        return np.stack(self.hist, 1)  # (C, K − 1)


# ---- the Transformer ------------------------------------------------------------------------------


def rotate(x, p):
    """RoPE on one head's vector x (d,) at position p."""
    d = x.shape[0]
    theta = 10000.0 ** (-2.0 * np.arange(d // 2) / d)
    cos, sin = np.cos(p * theta), np.sin(p * theta)
    out = np.zeros_like(x)
    out[0::2] = x[0::2] * cos - x[1::2] * sin
    out[1::2] = x[1::2] * cos + x[0::2] * sin
    return out


def transformer_sequence(w, p, x, cache0):
    """One sequence x (T, I); cache0: per layer (k, v) of (heads, P, d) or None."""
    D, H, L = p["hidden_size"], p["num_heads"], p.get("num_layers", 1)
    d = D // H
    pos = p.get("pos_encoding", "rope")
    T = x.shape[0]
    P = 0 if cache0 is None else cache0[0][0].shape[1]
    hs = [w["encoder.weight"] @ x[t] + w["encoder.bias"] for t in range(T)]
    if pos == "learned":
        hs = [hs[t] + w["positions"][P + t] for t in range(T)]
    caches = []
    for layer in range(L):
        g = get(w, f"layers.{layer}")
        keys = [[] for _ in range(H)]
        values = [[] for _ in range(H)]
        if cache0 is not None:
            for j in range(H):
                keys[j] = [cache0[layer][0][j, s] for s in range(P)]
                values[j] = [cache0[layer][1][j, s] for s in range(P)]
        out = []
        for t in range(T):
            h = hs[t]
            qkv = g("attn.qkv.weight") @ layernorm(h, g("norm1.weight"), g("norm1.bias")) + g("attn.qkv.bias")
            heads = []
            for j in range(H):
                q, k, v = (qkv[c * D + j * d : c * D + (j + 1) * d] for c in range(3))
                if pos == "rope":
                    q, k = rotate(q, P + t), rotate(k, P + t)
                keys[j].append(k)
                values[j].append(v)
                scores = np.array([q @ kk for kk in keys[j]]) / np.sqrt(d)  # every key up to this step
                e = np.exp(scores - max(s.real for s in scores))
                heads.append(sum(pr * vv for pr, vv in zip(e / e.sum(), values[j])))
            h = h + g("attn.proj.weight") @ np.concatenate(heads) + g("attn.proj.bias")
            m = g("fc1.weight") @ layernorm(h, g("norm2.weight"), g("norm2.bias")) + g("fc1.bias")
            out.append(h + g("fc2.weight") @ gelu(m) + g("fc2.bias"))
        hs = out
        caches += [np.stack([np.stack(keys[j]) for j in range(H)]), np.stack([np.stack(values[j]) for j in range(H)])]
    return [layernorm(h, w["final.weight"], w["final.bias"]) for h in hs], caches


# ---- sLSTM ----------------------------------------------------------------------------------------


def slstm_block(g, p, dtype):
    D, H = p["hidden_size"], p.get("num_heads", 4)
    d = D // H
    K = p.get("conv_kernel", 4)
    ffn = p.get("ffn_factor", 1.3) > 0
    conv = CausalConv([g("conv.weight")[:, 0, j] for j in range(K)], g("conv.bias"), np.zeros((D, K - 1), dtype)) if K else None
    h, c, n, m = (np.zeros(D, dtype) for _ in range(4))

    def step(u):
        nonlocal h, c, n, m
        v = layernorm(u, g("norm.weight"), 0.0)
        cv = silu(conv(v)) if conv else v
        Wg, R, b = g("gate_weight"), g("recurrent_kernel"), g("bias")  # [gate, head, out, in], [head, in, gate, out]
        heads = lambda a: a.reshape(H, d)  # noqa: E731
        wx = np.concatenate([np.einsum("ghjk,hk->ghj", Wg[:2], heads(cv)), np.einsum("ghjk,hk->ghj", Wg[2:], heads(v))])
        i_raw, f_raw, z_raw, o_raw = (wx + np.einsum("hk,hkgj->ghj", heads(h), R)).reshape(4, D) + b
        logf_m = m + log_sigmoid(f_raw)
        if all(x.real == 0 for x in n):  # the authors' rule: at the first step from zero, m = ĩ
            m_new = i_raw
        else:
            m_new = np.where(i_raw.real >= logf_m.real, i_raw, logf_m)
        ig, fg = np.exp(i_raw - m_new), np.exp(logf_m - m_new)
        ig, fg = np.where(ig.real <= 1, ig, 1), np.where(fg.real <= 1, fg, 1)  # min(·, 1)
        c = fg * c + ig * np.tanh(z_raw)
        n = fg * n + ig
        h, m = sigmoid(o_raw) * c / n, m_new
        gn = np.concatenate([layernorm(h[j * d : (j + 1) * d], 1.0, 0.0) for j in range(H)]) * g("group_norm")
        u = u + gn
        if ffn:
            ge = g("up.weight") @ layernorm(u, g("ffn_norm.weight"), 0.0)
            F = ge.shape[0] // 2
            u = u + g("down.weight") @ (gelu(ge[:F]) * ge[F:])
        return u

    return step, lambda: [h.copy(), c.copy(), n.copy(), m.copy()] + ([conv.state()] if conv else [])


# ---- Hawk -----------------------------------------------------------------------------------------


def griffin_rmsnorm(v, s):
    return v / np.sqrt(np.mean(v * v) + 1e-6) * (1.0 + s)


def hawk_layer(g, p, state0, dtype):
    D, H = p["hidden_size"], p.get("num_heads", 4)
    W = p.get("lru_width", 0) or D
    K = p.get("conv_width", 4)
    blk = W // H
    window = np.zeros((W, K - 1), dtype) if state0 is None else state0[0]
    conv = CausalConv(list(g("conv_w")), g("conv_b"), window)  # [shift, channel]: conv_w[K − 1] meets x_t
    h = np.zeros(W, dtype) if state0 is None else state0[1]
    reset = state0 is None  # the authors' segment_pos = 0 at the first step

    def block_diag(prefix, x):
        wb, bb = g(f"{prefix}.w"), g(f"{prefix}.b")  # [block, in, out], [block, out]
        return np.concatenate([x[j * blk : (j + 1) * blk] @ wb[j] + bb[j] for j in range(H)])

    def step(u):
        nonlocal h, reset
        v = griffin_rmsnorm(u, g("temporal_norm.scale"))
        y = gelu_tanh(g("linear_y.weight") @ v + g("linear_y.bias"))
        x = conv(g("linear_x.weight") @ v + g("linear_x.bias"))
        i = sigmoid(block_diag("rg_lru.input_gate", x))
        r = sigmoid(block_diag("rg_lru.a_gate", x))
        a = np.exp(-8.0 * r * softplus(g("rg_lru.a_param")))
        if reset:
            h = i * x
            reset = False
        else:
            h = a * h + np.sqrt(1.0 - a * a) * (i * x)
        u = u + g("linear_out.weight") @ (h * y) + g("linear_out.bias")
        ge = g("ffw_up.weight") @ griffin_rmsnorm(u, g("channel_norm.scale")) + g("ffw_up.bias")
        F = ge.shape[0] // 2
        return u + g("ffw_down.weight") @ (gelu_tanh(ge[:F]) * ge[F:]) + g("ffw_down.bias")

    return step, lambda: [conv.state(), h.copy()]


# ---- the stacks ------------------------------------------------------------------------------------


def forward(example: Example, weights: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output (B, T, D) and the final state's tensors in the core's order, one sequence at a time."""
    p, name = example.params, example.model
    L = p.get("num_layers", 1)
    B, T, _ = x.shape
    dtype = np.result_type(x, *weights.values())
    ys, states = [], []
    for b in range(B):
        s0 = example.state0
        if name == "transformer":
            cache0 = None if s0 is None else [(kv[0][b], kv[1][b]) for kv in s0]
            outs, seq_states = transformer_sequence(weights, p, x[b], cache0)
        else:
            us = [weights["encoder.weight"] @ x[b, t] + weights["encoder.bias"] for t in range(T)]
            seq_states = []
            for i in range(L):
                g = get(weights, f"layers.{i}")
                if name == "slstm":
                    assert s0 is None, f"{example.id}: the sLSTM equations here start from the zero state"
                    step, state = slstm_block(g, p, dtype)
                else:
                    step, state = hawk_layer(g, p, None if s0 is None else [s[b] for s in s0[i]], dtype)
                us = [step(u) for u in us]
                seq_states += state()
            fw = weights["final.weight"] if name == "slstm" else weights["final.scale"]
            outs = [layernorm(u, fw, 0.0) if name == "slstm" else griffin_rmsnorm(u, fw) for u in us]
        ys.append(np.stack(outs))
        states.append(seq_states)
    return np.stack(ys), [np.stack([s[i] for s in states]) for i in range(len(states[0]))]
