"""``dplr``: fla's generalised delta rule with a diagonal-plus-low-rank transition, per head,
state S ∈ R^{K×V}:

    S_t = diag(exp(g_t)) S_{t−1} + β_t (α_tᵀ S_{t−1}) + k_t v_tᵀ,    o_t = S_tᵀ (s q_t),

i.e. S_t = (diag(exp(g_t)) + β_t α_tᵀ) S_{t−1} + k_t v_tᵀ; the α term reads the state before
the decay. RWKV-7 is this op with α = −κ̂, β = κ̂ ⊙ a, g = log w and s = 1 (RWKV keeps S as
V×K; this is its transpose). The delta rule is α = k, β = −β k, v → β v, g = 0.

Forms:

- ``"recurrent"``: the recurrence one step at a time (fla ``ops/generalized_delta_rule/dplr/
  naive.py::dplr_recurrence``);
- ``"chunk"`` (default): fla's ``dplr_chunkwise``. With G the inclusive and G⁻ the exclusive
  cumulative log-decays inside a chunk entered with S⁰ and u_r = α_rᵀ S_{r−1} (one row per step),
  U = (I − A_ab)⁻¹ (A_ak V + (α ⊙ e^{G⁻}) S⁰), where A_ab[r, j] = Σ_c α_rc β_jc e^{G⁻_rc − G_jc} and
  A_ak likewise with k, for j < r; then O = s (Q ⊙ e^G) S⁰ + s A_qk V + s A_qb U (j ≤ r, exponents
  G_r − G_j) and S = diag(e^{G_C}) S⁰ + (K ⊙ e^{G_C − G})ᵀ V + (β ⊙ e^{G_C − G})ᵀ U. The four C×C
  matrices are GEMMs of factors e^{±(G − ref)} around the middle of each chunk's range of G
  (:func:`rnnbench.ops.matrix.channel_decays`, which halves the chunk where the range is too
  wide for the dtype); U's triangular system is solved for all chunks at
  once and the state carried in n = ⌈T/C⌉ steps of two small GEMMs (:func:`rnnbench.ops.matrix.wy_carry`).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from rnnbench.ops import delta, matrix
from rnnbench.ops.base import Op, check_form, register, require_tensor

FORMS = ("recurrent", "chunk")
NAME = "dplr"


def dplr(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    form: str = "chunk",
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The generalised delta rule S_t = (diag(exp(g_t)) + β_t α_tᵀ) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ (s q_t).

    Matches fla's ``chunk_dplr_delta_rule(q, k, v, a, b, gk, scale, initial_state)`` and its
    reference ``ops/generalized_delta_rule/dplr/naive.py::dplr_recurrence(q, k, v, alpha, beta,
    gk)`` (head-first, always s = K^(−1/2)). For RWKV-7 pass α = −κ̂, β = κ̂ ⊙ a, g = log w and
    ``scale=1``, as fla's RWKV-7 layer does.

    Args:
        q: queries ``(B, T, H, K)``.
        k: keys ``(B, T, H, K)``.
        v: values ``(B, T, H, V)``.
        alpha: the low-rank term's first vector α ``(B, T, H, K)``.
        beta: its second vector β ``(B, T, H, K)``.
        g: log-decays ``(B, T, H, K)``, one per key channel (≤ 0 for a decaying state).
        scale: s, the query scale; None means K^(−1/2).
        initial_state: S_0 ``(B, H, K, V)`` (zero when None).
        form: ``"chunk"`` (default) or ``"recurrent"``.
        chunk_size: the chunk length of ``"chunk"`` (default 32, at most T).

    Returns:
        ``(o, S_T)``: outputs ``(B, T, H, V)`` and the final state ``(B, H, K, V)``.
    """
    check_form(NAME, form, FORMS)
    B, T, H, K, V = matrix.check_qkv(NAME, q, k, v)
    for name, t in (("alpha", alpha), ("beta", beta), ("g", g)):
        require_tensor(NAME, name, t, shape=(B, T, H, K), meaning="(B, T, H, K), as k")
    delta.check_state(NAME, initial_state, B, H, K, V)
    matrix.check_real(NAME, {"q": q, "k": k, "v": v, "alpha": alpha, "beta": beta, "g": g, "initial_state": initial_state})
    s = matrix.resolve_scale(NAME, scale, K)
    if form == "recurrent":
        return _recurrent(q, k, v, alpha, beta, g, s, initial_state)
    return _chunk(q, k, v, alpha, beta, g, s, initial_state, matrix.chunk_len(T, chunk_size, NAME))


def _recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    s: float,
    S0: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    B, T, H, K = k.shape
    S = S0 if S0 is not None else k.new_zeros(B, H, K, v.shape[3])
    out = []
    for q_t, k_t, v_t, a_t, b_t, g_t in zip(*(t.unbind(1) for t in (q, k, v, alpha, beta, g))):
        u = a_t.unsqueeze(-2) @ S  # αᵀ S_{t−1} (B, H, 1, V), before the decay
        S = g_t.exp().unsqueeze(-1) * S + b_t.unsqueeze(-1) * u + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
        out.append((q_t.unsqueeze(-2) @ S).squeeze(-2) * s)  # Sᵀ (s q) (B, H, V)
    return torch.stack(out, 1), S


def _chunk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    s: float,
    S0: torch.Tensor | None,
    C: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    T = q.shape[1]
    C, gc, G, ref = matrix.channel_decays(g, C, NAME)  # g and G (n, B, H, C, K)
    qc, kc, vc, ac, bc = (matrix.to_chunks(t, C) for t in (q, k, v, alpha, beta))  # (n, B, H, C, ·)
    G_end = G[..., -1:, :]  # (n, B, H, 1, K)
    if C > 1:
        # factors around ref (exponents within ± half the chunk's range), then small rescales
        centred = G - ref
        up = centred.exp()  # e^{G − ref}
        qf, kf, bf = qc * up, kc / up, bc / up
        af = ac * (centred - gc).exp()  # α e^{G⁻ − ref}, G⁻ = G − g the decay up to the step before
        A_qk, A_qb = (qf @ kf.transpose(-1, -2)).tril(), (qf @ bf.transpose(-1, -2)).tril()  # j ≤ r
        A_ak = matrix.strictly_lower(af @ kf.transpose(-1, -2))  # j < r
        A_ab = af @ bf.transpose(-1, -2)  # only its strict lower part is read below
        out = (G_end - ref).exp()
        q_in, a_in, k_end, b_end = qf * ref.exp(), af * ref.exp(), kf * out, bf * out
    else:  # one step per chunk: no decay inside, and the α term sees only S⁰
        A_qk, A_qb = (qc * kc).sum(-1, keepdim=True), (qc * bc).sum(-1, keepdim=True)  # (n, B, H, 1, 1)
        A_ak = A_ab = torch.zeros_like(A_qk)
        q_in, a_in, k_end, b_end = qc * G.exp(), ac, kc, bc
    # (I − A_ab) U = A_ak V + (α e^{G⁻}) S⁰: T_u = (I − A_ab)⁻¹ A_ak V, T_w = (I − A_ab)⁻¹ α e^{G⁻}
    Tu, Tw = matrix.unit_lower_solve(A_ab, A_ak @ vc, a_in, sign=-1.0)  # (n, B, H, C, V), (n, B, H, C, K)
    V = vc.shape[-1]
    E = k_end.transpose(-1, -2) @ vc  # (K ⊙ e^{G_C − G})ᵀ V (n, B, H, K, V)
    U, S_in, S = matrix.wy_carry(Tw, Tu, b_end, G_end.exp().transpose(-1, -2), E, S0, 1.0)
    o = torch.baddbmm((A_qk @ vc + A_qb @ U).flatten(0, 2), q_in.flatten(0, 2), S_in.flatten(0, 2), beta=s, alpha=s)
    return matrix.from_chunks(o.view(qc.shape[:4] + (V,)), T), S


def example(
    p: delta.Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype
) -> dict[str, Any]:
    D = delta.head_dim(NAME, hidden, p.heads)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    # RWKV-7's parameterisation: w = exp(−e^{−1/2} σ(·)), a = σ(·), κ̂ = L2norm(k ⊙ k_k);
    # α = −κ̂, β = κ̂ ⊙ a (fla's RWKV-7 layer passes these with scale 1; here the default scale)
    shape = (batch, seq_len, p.heads, D)
    kappa = delta.l2norm(randn(*shape))
    a = torch.sigmoid(randn(*shape))
    g = -math.exp(-0.5) * torch.sigmoid(randn(*shape))  # log w = −e^{−1/2} σ(·)
    return {"q": randn(*shape), "k": randn(*shape) * D**-0.5, "v": randn(*shape), "alpha": -kappa, "beta": kappa * a, "g": g}


register(
    Op(
        NAME,
        dplr,
        FORMS,
        delta.Params,
        example,
        "S_t = diag(exp(g_t)) S_{t−1} + β_t (α_tᵀ S_{t−1}) + k_t v_tᵀ, o_t = S_tᵀ (s q_t)",
        "Yang & Zhang (2024), flash-linear-attention; Peng et al. (2025), arXiv:2503.14456 (RWKV-7)",
    )
)
