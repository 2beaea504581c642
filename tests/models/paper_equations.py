"""The classic families' equations in plain NumPy, written from the papers (and the PyTorch
documentation's gate layout, which rnnbench's parameter names follow), independent of
rnnbench's code: nothing here imports rnnbench or torch.

- Elman (1990):  h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), act = tanh or relu
  (IRNN, Le et al. 2015, is the relu case).
- LSTM (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000), rows of W in the
  order i, f, g, o:  i, f, o = σ(·), g = tanh(·) of W_ih x_t + b_ih + W_hh h_{t−1} + b_hh;
  c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t).
- GRU (Cho et al. 2014, the cuDNN/PyTorch variant with the reset gate after W_hn), rows in
  the order r, z, n:  r, z = σ(·);  n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn));
  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.

Layers stack plainly; a bidirectional layer runs a second set of weights (suffix
``_reverse``) from the last step to the first and concatenates [forward, backward] per step;
the final state is (layers·directions, B, H), forward before backward within a layer.

Gradients of L = Σ y⊙w + Σ state: by the complex step, ∂L/∂θ = Im L(θ + i·ε)/ε with
ε = 1e-30 (exact to rounding, for the analytic tanh/σ networks), or by central differences
with ε = 1e-6 where relu is not analytic (exact in each linear piece, up to rounding).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from arch_examples import Example, loss_weights

GATES = {"rnn": 1, "irnn": 1, "lstm": 4, "gru": 3}


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def relu(v: np.ndarray) -> np.ndarray:
    return np.where(v.real > 0, v, 0 * v)


def elman_step(act: Any):
    def step(x, state, W_ih, W_hh, b_ih, b_hh):
        return act(W_ih @ x + b_ih + W_hh @ state + b_hh)

    return step


def lstm_step(x, state, W_ih, W_hh, b_ih, b_hh):
    h, c = state
    a = W_ih @ x + b_ih + W_hh @ h + b_hh
    H = h.shape[0]
    i, f, g, o = sigmoid(a[:H]), sigmoid(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sigmoid(a[3 * H :])
    c = f * c + i * g
    return o * np.tanh(c), c


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[0]
    gi, gh = W_ih @ x + b_ih, W_hh @ h + b_hh
    r = sigmoid(gi[:H] + gh[:H])
    z = sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
    n = np.tanh(gi[2 * H :] + r * gh[2 * H :])
    return (1 - z) * n + z * h


def family(example: Example) -> tuple[str, bool]:
    name = example.model
    bidirectional = name.startswith("bi")
    return (name[2:] if bidirectional else name), bidirectional


def forward(example: Example, weights: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output (B, T, H·D) and the final state's tensors (h; or h, c) for one example, one
    sequence and one time step at a time."""
    kind, bidirectional = family(example)
    H, layers = example.params["hidden_size"], example.params.get("num_layers", 1)
    act = relu if kind == "irnn" or example.params.get("nonlinearity") == "relu" else np.tanh
    step = {"rnn": elman_step(act), "irnn": elman_step(relu), "lstm": lstm_step, "gru": gru_step}[kind]
    cell = kind == "lstm"
    B, T, _ = x.shape
    D = 2 if bidirectional else 1
    dtype = np.result_type(x, *weights.values())
    if example.state0 is None:
        h0 = np.zeros((layers * D, B, H), dtype)
        c0 = np.zeros((layers * D, B, H), dtype)
    else:
        h0, c0 = example.state0 if cell else (example.state0, None)
    y = np.zeros((B, T, H * D), dtype)
    finals_h = np.zeros((layers * D, B, H), dtype)
    finals_c = np.zeros((layers * D, B, H), dtype)
    for b in range(B):
        seq = [x[b, t] for t in range(T)]
        for layer in range(layers):
            outs = []
            for d, suffix in enumerate(["", "_reverse"][:D]):
                w = [weights[f"{k}_l{layer}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                index = layer * D + d
                state = (h0[index, b], c0[index, b]) if cell else h0[index, b]
                hs = [None] * T
                for t in range(T) if d == 0 else reversed(range(T)):
                    state = step(seq[t], state, *w)
                    hs[t] = state[0] if cell else state
                outs.append(hs)
                finals_h[index, b] = state[0] if cell else state
                if cell:
                    finals_c[index, b] = state[1]
            seq = [np.concatenate([o[t] for o in outs]) for t in range(T)]
        y[b] = np.stack(seq)
    return y, ([finals_h, finals_c] if cell else [finals_h])


def loss(example: Example, weights: dict[str, np.ndarray], x: np.ndarray) -> Any:
    y, state = forward(example, weights, x)
    return (y * loss_weights(y.shape)).sum() + sum(s.sum() for s in state)


def gradient(example: Example) -> dict[str, np.ndarray]:
    """∂L/∂(input and every parameter), one coordinate at a time."""
    kind, _ = family(example)
    analytic = not (kind == "irnn" or example.params.get("nonlinearity") == "relu")
    return complex_step_gradient(example, forward, analytic)


def complex_step_gradient(example: Example, forward_fn: Any, analytic: bool = True) -> dict[str, np.ndarray]:
    """∂L/∂(input and every parameter) of L = Σ y⊙w + Σ state with ``forward_fn(example, weights,
    x) -> (y, [state])``: by the complex step where ``analytic``, else by central differences."""

    def loss(weights: dict[str, np.ndarray], x: np.ndarray) -> Any:
        y, state = forward_fn(example, weights, x)
        return (y * loss_weights(y.shape)).sum() + sum(s.sum() for s in state)

    tensors = {"input": example.x, **example.weights}
    out = {}
    for name, value in tensors.items():
        g = np.zeros_like(value)
        for index in np.ndindex(value.shape):

            def at(delta: complex | float) -> Any:
                moved = dict(tensors)
                v = value.astype(complex if analytic else np.float64)
                v[index] += delta
                moved[name] = v
                return loss({k: moved[k] for k in example.weights}, moved["input"])

            if analytic:
                g[index] = at(1e-30j).imag / 1e-30
            else:
                g[index] = (at(1e-6) - at(-1e-6)) / 2e-6
        out[name] = g
    return out


def outputs(example: Example, forward_fn: Any, gradient_fn: Any = None) -> dict[str, Any]:
    """The output and final state ``forward_fn(example, weights, x) -> (y, [state])`` gives on the
    example's weights and input, and (when the example asks) the gradient: ``gradient_fn(example)``,
    else by the complex step through ``forward_fn``."""
    y, state = forward_fn(example, example.weights, example.x)
    out: dict[str, Any] = {"output": y, "state": state}
    if example.grad:
        out["grad"] = gradient_fn(example) if gradient_fn is not None else complex_step_gradient(example, forward_fn)
    return out


def expected(example: Example) -> dict[str, Any]:
    """The example's output, final state and (when asked) gradient, from the equations above
    (the linear-attention family's from linear_attention_equations.py, the baselines' from
    baseline_equations.py)."""
    import baseline_equations
    import linear_attention_equations

    for family in (linear_attention_equations, baseline_equations):
        if example.model in family.MODELS:
            return outputs(example, family.forward)
    return outputs(example, forward, gradient)
