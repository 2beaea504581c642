"""``gated_delta_rule``: Gated DeltaNet's recurrence (Yang, Kautz & Hatamizadeh 2025,
arXiv:2412.06464), per head, state S ∈ R^{K×V}; the state decays by α_t = exp(g_t) first, then
takes the delta update:

    S'_t = exp(g_t) S_{t−1},    S_t = S'_t + β_t k_t (v_t − S'_tᵀ k_t)ᵀ,    o_t = S_tᵀ (s q_t).

Forms:

- ``"recurrent"``: the recurrence one step at a time (fla ``ops/gated_delta_rule/naive.py::
  naive_recurrent_gated_delta_rule``);
- ``"chunk"`` (default): the delta rule's WY/UT chunk form (:func:`rnnbench.ops.delta.wy_chunk`)
  with the masked decay matrix L_rj = exp(Γ_r − Γ_j), j ≤ r, of the cumulative log-decays Γ
  inside each chunk, masked before the exp (mamba's ``segsum``): A = tril(diag(β) K Kᵀ ⊙ L, −1),
  W = (I + A)⁻¹ diag(β e^Γ) K, O = s (e^Γ Q) S⁰ + s (Q Kᵀ ⊙ L) U, S = e^{Γ_C} S⁰ + (e^{Γ_C − Γ} K)ᵀ U.
"""

from __future__ import annotations

from typing import Any

import torch

from rnnbench.ops import delta, matrix
from rnnbench.ops.base import Op, check_form, register, require_tensor

FORMS = ("recurrent", "chunk")
NAME = "gated_delta_rule"


def gated_delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    form: str = "chunk",
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gated delta rule S_t = (I − β_t k_t k_tᵀ) exp(g_t) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ (s q_t).

    Matches fla's ``chunk_gated_delta_rule(q, k, v, g, beta, scale, initial_state)`` and its
    reference ``ops/gated_delta_rule/naive.py::naive_recurrent_gated_delta_rule`` (whose
    arguments come in the order q, k, v, beta, g). Gated DeltaNet L2-normalises q and k and
    sets g = −exp(A_log)·softplus(W_a x + dt_bias); the op takes g as given.

    Args:
        q: queries ``(B, T, H, K)``.
        k: keys ``(B, T, H, K)``.
        v: values ``(B, T, H, V)``.
        g: log-decays ``(B, T, H)``, one per head and step (≤ 0 for a decaying state).
        beta: write strengths β ``(B, T, H)``.
        scale: s, the query scale; None means K^(−1/2).
        initial_state: S_0 ``(B, H, K, V)`` (zero when None).
        form: ``"chunk"`` (default) or ``"recurrent"``.
        chunk_size: the chunk length C of ``"chunk"`` (default 32, at most T).

    Returns:
        ``(o, S_T)``: outputs ``(B, T, H, V)`` and the final state ``(B, H, K, V)``.
    """
    check_form(NAME, form, FORMS)
    B, T, H, K, V = matrix.check_qkv(NAME, q, k, v)
    require_tensor(NAME, "g", g, shape=(B, T, H), meaning="(B, T, H), one log-decay per head and step")
    require_tensor(NAME, "beta", beta, shape=(B, T, H), meaning="(B, T, H), one β per head and step")
    delta.check_state(NAME, initial_state, B, H, K, V)
    matrix.check_real(NAME, {"q": q, "k": k, "v": v, "g": g, "beta": beta, "initial_state": initial_state})
    s = matrix.resolve_scale(NAME, scale, K)
    if form == "recurrent":
        return delta.recurrent(q, k, v, beta, g, s, initial_state)
    return delta.chunked(q, k, v, beta, g, s, initial_state, matrix.chunk_len(T, chunk_size, NAME))


def example(
    p: delta.Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype
) -> dict[str, Any]:
    inputs = delta.example(p, batch, seq_len, hidden, generator, dtype)
    # Gated DeltaNet's gate at its initialisation: g = −A·softplus(a + dt_bias), A ~ U(0, 16),
    # softplus(dt_bias) log-uniform in [1e−3, 0.1]; a the projection of the input, here N(0, 1)
    A = torch.rand(p.heads, generator=generator, dtype=dtype) * 16
    dt_bias = matrix.inverse_softplus(matrix.log_uniform(p.heads, 1e-3, 0.1, generator, dtype))
    a = torch.randn(batch, seq_len, p.heads, generator=generator, dtype=dtype)
    g = -A * torch.nn.functional.softplus(a + dt_bias)  # (B, T, H)
    return {"q": inputs["q"], "k": inputs["k"], "v": inputs["v"], "g": g, "beta": inputs["beta"]}


register(
    Op(
        NAME,
        gated_delta_rule,
        FORMS,
        delta.Params,
        example,
        "S_t = (I − β_t k_t k_tᵀ) exp(g_t) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ (s q_t)",
        "Yang, Kautz & Hatamizadeh (2025), arXiv:2412.06464",
    )
)
