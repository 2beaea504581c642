"""The linear-attention family's layers in plain NumPy, one sequence and one time step at a time,
written from the authors' layer files (not from rnnbench's code; nothing here imports rnnbench
or torch). The matrix state is updated by its defining recurrence, never by a chunked form.

- DeltaNet (fla ``layers/delta_net.py``, ``ops/delta_rule/naive.py``), Gated DeltaNet (fla
  ``layers/gated_deltanet.py``, ``ops/gated_delta_rule/naive.py``), GLA (fla ``layers/gla.py``,
  ``ops/gla/naive.py``): q, k, v maps, short causal convs with SiLU (DeltaNet, Gated DeltaNet),
  fla's l2norm x/√(Σx² + 1e−6), β = σ(W_β x) (×2 with allow_neg_eigval), RMSNorm per head
  (ε 1e−5), fla's FusedRMSNormGated RMSNorm(o)·w·g·σ(g); S is K×V, o = Sᵀq/√K.
- Mamba-2 (mamba ``modules/mamba2.py``: forward's split [z, xBC, dt], conv + SiLU over xBC,
  ``step()``'s SSM update dA = exp(dt·A), h ← h·dA + dt·x Bᵀ, y = h C + D x; RMSNormGated with
  norm_before_gate=False: RMSNorm(y·SiLU(z)) per group).
- mLSTM (xlstm ``blocks/mlstm/layer.py``, ``cell.py``, ``backends.py::recurrent_step_stabilized_simple``,
  ``components/ln.py``: LayerNorm with weight 1 + w and no bias, MultiHeadLayerNorm per head).
- RWKV-7 (RWKV-LM ``RWKV-v7/rwkv_v7_numpy.py``: time_mixing and channel_mixing; S is V×K there
  and here; rnnbench's state is its transpose).

Every block is pre-norm residual, u ← u + layer(norm(u)), behind an encoder W_e x + b_e and
before a final norm (RMSNorm; xlstm's LayerNorm for mLSTM; LayerNorm ln_out for RWKV-7, whose
first block applies ln0). Max and |·| are taken on real parts, so the complex step stays exact.
"""

from __future__ import annotations

import numpy as np
from arch_examples import Example

MODELS = ("deltanet", "gated_deltanet", "gla", "mamba2", "mlstm", "rwkv7")


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def silu(v):
    return v * sigmoid(v)


def softplus(v):
    return np.log(1.0 + np.exp(v))


def rmsnorm(v, w, eps=1e-5):
    return v / np.sqrt(np.mean(v * v) + eps) * w


def layernorm(v, w, b, eps=1e-5):
    mu = np.mean(v)
    return (v - mu) / np.sqrt(np.mean((v - mu) ** 2) + eps) * w + b


def l2norm(v, eps=1e-6):
    return v / np.sqrt(np.sum(v * v) + eps)


def real_max(a, b):
    return a if a.real >= b.real else b


def real_abs(a):
    return a if a.real >= 0 else -a


class Conv:
    """A causal depthwise conv of width K on one sequence: weight (C, 1, K), tap j on the input
    K − 1 − j steps back; the last K − 1 inputs (zeros first) are its state."""

    def __init__(self, weight, bias=None, dtype=np.float64):
        self.w, self.b = weight[:, 0, :], bias
        self.K = weight.shape[2]
        self.hist = [np.zeros(weight.shape[0], dtype=dtype) for _ in range(self.K - 1)]

    def __call__(self, x):
        self.hist.append(x)
        window = self.hist[-self.K :]
        y = sum(self.w[:, j] * window[j] for j in range(self.K))
        self.hist = self.hist[-(self.K - 1) :] if self.K > 1 else []
        return y if self.b is None else y + self.b

    def state(self):
        return np.stack(self.hist, 1) if self.K > 1 else np.zeros((self.w.shape[0], 0))  # (C, K − 1)


def get(weights, prefix):
    return lambda name: weights[f"{prefix}.{name}"]


# ---- the layers: each returns step(u_t) -> y_t and state() -> list of arrays -------------------


def deltanet_layer(w, p, gated, dtype):
    D, H = p["hidden_size"], p["num_heads"]
    if gated:
        K = p["head_dim"]
        V = int(K * p["expand_v"])
    else:
        K = V = D // H
    convs = [Conv(w(f"{n}_conv.weight"), dtype=dtype) for n in "qkv"]
    S = np.zeros((H, K, V), dtype=dtype)
    neg = p.get("allow_neg_eigval", False)

    def step(x):
        nonlocal S
        q, k, v = (silu(c(w(f"{n}_proj.weight") @ x)) for c, n in zip(convs, "qkv"))
        beta = sigmoid(w("b_proj.weight") @ x) * (2.0 if neg else 1.0)  # (H,)
        if gated:
            g = -np.exp(w("A_log")) * softplus(w("a_proj.weight") @ x + w("dt_bias"))
            gate = w("g_proj.weight") @ x
        out = []
        for h in range(H):
            qh, kh = l2norm(q[h * K : (h + 1) * K]), l2norm(k[h * K : (h + 1) * K])
            vh = v[h * V : (h + 1) * V]
            Sh = S[h] * np.exp(g[h]) if gated else S[h]  # gated: the decay first
            u = beta[h] * (vh - Sh.T @ kh)
            S[h] = Sh + np.outer(kh, u)
            o = rmsnorm(S[h].T @ qh * K**-0.5, w("o_norm.weight"))
            out.append(o * silu(gate[h * V : (h + 1) * V]) if gated else o)
        return w("o_proj.weight") @ np.concatenate(out)

    return step, lambda: [c.state() for c in convs] + [S.copy()]


def gla_layer(w, p, dtype):
    D, H = p["hidden_size"], p["num_heads"]
    Kd, Vd = int(D * p.get("expand_k", 0.5)), int(D * p.get("expand_v", 1.0))
    K, V = Kd // H, Vd // H
    S = np.zeros((H, K, V), dtype=dtype)

    def step(x):
        nonlocal S
        q, k, v, gate = (w(f"{n}_proj.weight") @ x for n in "qkvg")
        lg = w("gk_proj.1.weight") @ (w("gk_proj.0.weight") @ x) + w("gk_proj.1.bias")
        gk = np.log(sigmoid(lg)) / p.get("gate_normalizer", 16.0)
        out = []
        for h in range(H):
            sk, sv = slice(h * K, (h + 1) * K), slice(h * V, (h + 1) * V)
            S[h] = np.exp(gk[sk])[:, None] * S[h] + np.outer(k[sk], v[sv])
            out.append(rmsnorm(S[h].T @ q[sk] * K**-0.5, w("o_norm.weight")) * silu(gate[sv]))
        return w("o_proj.weight") @ np.concatenate(out)

    return step, lambda: [S.copy()]


def mamba2_layer(w, p, dtype):
    D = p["hidden_size"]
    E, P, N, G = p.get("expand", 2) * D, p["headdim"], p["d_state"], p.get("ngroups", 1)
    H = E // P
    conv = Conv(w("conv.weight"), w("conv.bias"), dtype)
    h = np.zeros((H, P, N), dtype=dtype)
    A = -np.exp(w("A_log"))
    neg = p.get("neg_eigval", False)

    def step(u):
        nonlocal h
        zxbcdt = w("in_proj.weight") @ u
        z, xBC, dt = zxbcdt[:E], zxbcdt[E : 2 * E + 2 * G * N], zxbcdt[2 * E + 2 * G * N :]
        xBC = silu(conv(xBC))
        x, Bm, Cm = xBC[:E], xBC[E : E + G * N], xBC[E + G * N :]
        dt = softplus(dt + w("dt_bias"))
        y = np.zeros(E, dtype=dtype)
        for head in range(H):
            g = head // (H // G)
            dA = np.exp(dt[head] * A[head])
            if neg:
                dA = 2 * dA - 1
            xh = x[head * P : (head + 1) * P]
            h[head] = h[head] * dA + dt[head] * np.outer(xh, Bm[g * N : (g + 1) * N])
            y[head * P : (head + 1) * P] = h[head] @ Cm[g * N : (g + 1) * N] + w("D")[head] * xh
        v = y * silu(z)
        size = E // G
        v = np.concatenate([rmsnorm(v[i * size : (i + 1) * size], 1.0) for i in range(G)]) * w("norm.weight")
        return w("out_proj.weight") @ v

    return step, lambda: [conv.state(), h.copy()]


def headwise(weight, x):
    block = weight.shape[1]
    return np.concatenate([weight[i] @ x[i * block : (i + 1) * block] for i in range(weight.shape[0])])


def mlstm_layer(w, p, dtype):
    D, H = p["hidden_size"], p["num_heads"]
    E = round(p.get("proj_factor", 2.0) * D)
    d = E // H
    conv = Conv(w("conv.weight"), w("conv.bias"), dtype)
    C = np.zeros((H, d, d), dtype)
    n = np.zeros((H, d), dtype)
    m = np.zeros(H, dtype)

    def step(x):
        nonlocal C, n, m
        up = w("proj_up.weight") @ x
        xm, z = up[:E], up[E:]
        c = silu(conv(xm))
        q, k, v = headwise(w("q_proj.weight"), c), headwise(w("k_proj.weight"), c), headwise(w("v_proj.weight"), xm)
        qkv = np.concatenate([q, k, v])
        ig, fg = w("igate.weight") @ qkv + w("igate.bias"), w("fgate.weight") @ qkv + w("fgate.bias")
        hs = []
        for j in range(H):
            s = slice(j * d, (j + 1) * d)
            log_f = np.log(sigmoid(fg[j]))
            m_new = real_max(log_f + m[j], ig[j])
            f_act, i_act = np.exp(log_f + m[j] - m_new), np.exp(ig[j] - m_new)
            kj = k[s] / np.sqrt(d)
            C[j] = f_act * C[j] + i_act * np.outer(kj, v[s])
            n[j] = f_act * n[j] + i_act * kj
            m[j] = m_new
            den = real_max(real_abs(n[j] @ q[s]), np.exp(-m_new)) + 1e-6
            hj = C[j].T @ q[s] / den
            mu = np.mean(hj)
            hs.append((hj - mu) / np.sqrt(np.mean((hj - mu) ** 2) + 1e-5))  # MultiHeadLayerNorm, per head
        h = np.concatenate(hs) * (1 + w("outnorm.weight")) + w("learnable_skip") * c
        return w("proj_down.weight") @ (h * silu(z))

    return step, lambda: [conv.state(), C.copy(), n.copy(), m.copy()]


def rwkv7_block(w, p, first, dtype):
    """rwkv_v7_numpy.py's time_mixing (its S is V×K) and channel_mixing, one token at a time."""
    D, N = p["hidden_size"], p["head_size"]
    H = D // N
    S = np.zeros((H, N, N), dtype)  # V×K per head, as RWKV-LM keeps it
    last_att, last_ffn = np.zeros(D, dtype), np.zeros(D, dtype)

    def group_norm(y):  # per head, eps 64e−5
        out = []
        for h in range(H):
            yh = y[h * N : (h + 1) * N]
            mu = np.mean(yh)
            out.append((yh - mu) / np.sqrt(np.mean((yh - mu) ** 2) + 64e-5))
        return np.concatenate(out) * w("att.ln_x.weight") + w("att.ln_x.bias")

    def step(x, v0):
        nonlocal S, last_att, last_ffn
        if first:
            x = layernorm(x, w("ln0.weight"), w("ln0.bias"))
        a_in = layernorm(x, w("ln1.weight"), w("ln1.bias"))
        xr, xw, xk, xv, xa, xg = (a_in + w(f"att.x_{c}") * (last_att - a_in) for c in "rwkvag")
        last_att = a_in
        r, k, v = w("att.receptance.weight") @ xr, w("att.key.weight") @ xk, w("att.value.weight") @ xv
        dec = np.exp(-sigmoid(np.tanh(xw @ w("att.w1")) @ w("att.w2") + w("att.w0")) / np.e**0.5)
        if first:
            v0 = v
        else:
            v = v + (v0 - v) * sigmoid(xv @ w("att.v1") @ w("att.v2") + w("att.v0"))
        a = sigmoid(xa @ w("att.a1") @ w("att.a2") + w("att.a0"))
        g = sigmoid(xg @ w("att.g1")) @ w("att.g2")
        kk = k * w("att.k_k")
        k = k + k * (a - 1) * w("att.k_a")
        y = np.zeros(D, dtype=dtype)
        bonus = np.zeros(D, dtype=dtype)
        for h in range(H):
            s = slice(h * N, (h + 1) * N)
            kh = kk[s] / real_max(np.sqrt(np.sum(kk[s] * kk[s])), 1e-12)
            S[h] = S[h] * dec[s][None, :] - np.outer(S[h] @ kh, kh * a[s]) + np.outer(v[s], k[s])
            y[s] = S[h] @ r[s]
            bonus[s] = np.sum(r[s] * k[s] * w("att.r_k")[h]) * v[s]
        x = x + w("att.output.weight") @ ((group_norm(y) + bonus) * g)
        c_in = layernorm(x, w("ln2.weight"), w("ln2.bias"))
        kf = w("ffn.key.weight") @ (c_in + w("ffn.x_k") * (last_ffn - c_in))
        last_ffn = c_in
        relu = np.where(kf.real > 0, kf, 0 * kf)
        return x + w("ffn.value.weight") @ (relu * relu), v0

    return step, lambda: [last_att.copy(), np.transpose(S, (0, 2, 1)).copy(), last_ffn.copy()]


# ---- the stacks ------------------------------------------------------------------------------------


def forward(example: Example, weights: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output (B, T, D) and the final state's tensors in the core's order, one sequence at a time."""
    p, name = example.params, example.model
    L = p.get("num_layers", 1)
    B, T, _ = x.shape
    dtype = np.result_type(x, *weights.values())
    ys, states = [], []
    for b in range(B):
        us = [weights["encoder.weight"] @ x[b, t] + weights["encoder.bias"] for t in range(T)]
        seq_states = []
        if name == "rwkv7":
            blocks = [rwkv7_block(get(weights, f"layers.{i}"), p, i == 0, dtype) for i in range(L)]
            outs = []
            for u in us:
                v0 = None
                for step, _ in blocks:
                    u, v0 = step(u, v0)
                outs.append(layernorm(u, weights["final.weight"], weights["final.bias"]))
            seq_states = [s for _, state in blocks for s in state()]
        else:
            for i in range(L):
                w = get(weights, f"layers.{i}.mixer")
                step, state = {
                    "deltanet": lambda: deltanet_layer(w, p, False, dtype),
                    "gated_deltanet": lambda: deltanet_layer(w, p, True, dtype),
                    "gla": lambda: gla_layer(w, p, dtype),
                    "mamba2": lambda: mamba2_layer(w, p, dtype),
                    "mlstm": lambda: mlstm_layer(w, p, dtype),
                }[name]()
                norm_w = weights[f"layers.{i}.norm.weight"]
                if name == "mlstm":
                    norm = lambda v, nw=norm_w: layernorm(v, 1 + nw, 0.0)  # noqa: E731  xlstm's LayerNorm
                else:
                    norm = lambda v, nw=norm_w: rmsnorm(v, nw)  # noqa: E731
                us = [u + step(norm(u)) for u in us]
                seq_states += state()
            fw = weights["final.weight"]
            outs = [layernorm(u, 1 + fw, 0.0) if name == "mlstm" else rmsnorm(u, fw) for u in us]
        ys.append(np.stack(outs))
        states.append(seq_states)
    return np.stack(ys), [np.stack([s[i] for s in states]) for i in range(len(states[0]))]
