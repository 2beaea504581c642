"""``delta_rule``: DeltaNet's recurrence (Schlag et al. 2021; Yang et al. 2024, arXiv:2406.06484),
per head, with state S ∈ R^{K×V} (fla's layout):

    u_t = β_t (v_t − S_{t−1}ᵀ k_t),    S_t = S_{t−1} + k_t u_tᵀ = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,
    o_t = S_tᵀ (s q_t),    s = K^(−1/2) by default.

Forms:

- ``"recurrent"``: the recurrence one step at a time (fla ``ops/delta_rule/naive.py::
  delta_rule_recurrence``, batch-first);
- ``"chunk"`` (default): the chunkwise-parallel form with the WY/UT representation (fla
  ``ops/delta_rule/README.md``). Inside a chunk of C steps entered with state S⁰,
  U = T_v − W S⁰ with [T_v, W] = (I + A)⁻¹ [diag(β) V, diag(β) K] and A = tril(diag(β) K Kᵀ, −1)
  (the UT transform, one batched triangular inverse for all chunks); then S = S⁰ + Kᵀ U and
  O = s Q S⁰ + s tril(Q Kᵀ) U. The sequential part is n = ⌈T/C⌉ steps of two small GEMMs
  (:func:`rnnbench.ops.matrix.wy_carry`, one autograd node with a hand-written backward);
  everything else is a batched GEMM over all chunks. :func:`wy_chunk` is shared with the
  gated delta rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rnnbench.errors import UsageError
from rnnbench.ops import matrix
from rnnbench.ops.base import Op, OpParams, check_form, register, require_tensor

FORMS = ("recurrent", "chunk")
NAME = "delta_rule"


def delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    form: str = "chunk",
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The delta rule S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ (s q_t).

    Matches fla's ``chunk_delta_rule(q, k, v, beta, scale, initial_state)`` and its reference
    ``ops/delta_rule/naive.py::delta_rule_recurrence`` (which is head-first). The layers
    L2-normalise q and k (without it the recurrence diverges); the op does not.

    Args:
        q: queries ``(B, T, H, K)``.
        k: keys ``(B, T, H, K)``.
        v: values ``(B, T, H, V)``.
        beta: write strengths β ``(B, T, H)`` (in (0, 1); up to 2 for negative eigenvalues).
        scale: s, the query scale; None means K^(−1/2).
        initial_state: S_0 ``(B, H, K, V)`` (zero when None).
        form: ``"chunk"`` (default) or ``"recurrent"``.
        chunk_size: the chunk length C of ``"chunk"`` (default 32, at most T).

    Returns:
        ``(o, S_T)``: outputs ``(B, T, H, V)`` and the final state ``(B, H, K, V)``.
    """
    check_form(NAME, form, FORMS)
    B, T, H, K, V = matrix.check_qkv(NAME, q, k, v)
    require_tensor(NAME, "beta", beta, shape=(B, T, H), meaning="(B, T, H), one β per head and step")
    check_state(NAME, initial_state, B, H, K, V)
    matrix.check_real(NAME, {"q": q, "k": k, "v": v, "beta": beta, "initial_state": initial_state})
    s = matrix.resolve_scale(NAME, scale, K)
    if form == "recurrent":
        return recurrent(q, k, v, beta, None, s, initial_state)
    C = matrix.chunk_len(T, chunk_size, NAME)
    return chunked(q, k, v, beta, None, s, initial_state, C)


def check_state(op: str, state: Any, B: int, H: int, K: int, V: int) -> None:
    if state is not None:
        require_tensor(op, "initial_state", state, shape=(B, H, K, V), meaning="(B, H, K, V)")


def recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor | None,
    s: float,
    S0: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step at a time; with log-decays g ``(B, T, H)`` the state decays first (gated)."""
    B, T, H, K = k.shape
    S = S0 if S0 is not None else k.new_zeros(B, H, K, v.shape[3])
    gs = g.unbind(1) if g is not None else (None,) * T
    out = []
    for q_t, k_t, v_t, b_t, g_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), beta.unbind(1), gs):
        if g_t is not None:
            S = g_t.exp()[..., None, None] * S  # S ← α_t S
        kS = (k_t.unsqueeze(-2) @ S).squeeze(-2)  # Sᵀk (B, H, V)
        u = b_t.unsqueeze(-1) * (v_t - kS)  # β (v − Sᵀk)
        S = S + k_t.unsqueeze(-1) * u.unsqueeze(-2)  # + k uᵀ
        out.append((q_t.unsqueeze(-2) @ S).squeeze(-2) * s)  # Sᵀ (s q) (B, H, V)
    return torch.stack(out, 1), S


def chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor | None,
    s: float,
    S0: torch.Tensor | None,
    C: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    T = q.shape[1]
    qc, kc, vc = (matrix.to_chunks(t, C) for t in (q, k, v))  # (n, B, H, C, ·)
    bc = matrix.to_chunks(beta, C)  # (n, B, H, C)
    gc = None if g is None else matrix.to_chunks(g, C)
    o, S = wy_chunk(qc, kc, vc, bc, gc, s, S0)
    return matrix.from_chunks(o, T), S


def wy_chunk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor | None,
    s: float,
    S0: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (gated) delta rule on chunks: q, k ``(n, B, H, C, K)``, v ``(n, B, H, C, V)``,
    beta and log-decays g ``(n, B, H, C)`` (g None: no decay), S0 ``(B, H, K, V)`` or None.

    With Γ the inclusive cumulative log-decay inside a chunk and L_rj = exp(Γ_r − Γ_j) for
    j ≤ r (masked before the exp), the step's pre-update state S'_r = e^{Γ_r} S⁰ + Σ_{j<r}
    L_rj k_j u_jᵀ gives u_r = β_r (v_r − S'_rᵀ k_r), i.e. (I + A) U = diag(β) V − diag(β e^Γ) K S⁰
    with A = tril(diag(β) K Kᵀ ⊙ L, −1); then O = s (e^Γ Q) S⁰ + s (Q Kᵀ ⊙ L) U and
    S = e^{Γ_C} S⁰ + (e^{Γ_C − Γ} K)ᵀ U.
    """
    kT = k.transpose(-1, -2)
    kb = k * beta.unsqueeze(-1)  # diag(β) K
    KK = kb @ kT  # β_r k_r·k_j (n, B, H, C, C)
    QK = q @ kT  # (n, B, H, C, C)
    if g is not None:
        G = g.cumsum(-1)  # Γ (n, B, H, C)
        L = matrix.segsum(G).exp()  # (n, B, H, C, C), zero above the diagonal
        KK, QK = KK * L, QK * L
        eG = G.exp().unsqueeze(-1)  # e^{Γ_r} (n, B, H, C, 1)
        k_end = k * (G[..., -1:] - G).exp().unsqueeze(-1)  # e^{Γ_C − Γ_j} k_j
        kw = kb * eG  # diag(β e^Γ) K
    else:
        QK = QK.tril()
        k_end, kw = k, kb
    # T_v, W = (I + A)⁻¹ [diag(β) V, diag(β e^Γ) K]: only KK's strict lower part is read (and receives a gradient)
    Tv, W = matrix.unit_lower_solve(KK, v * beta.unsqueeze(-1), kw)  # (n, B, H, C, V), (n, B, H, C, K)
    decay = G[..., -1:].exp().unsqueeze(-1) if g is not None else None  # e^{Γ_C} (n, B, H, 1, 1)
    U, S_in, S = matrix.wy_carry(W, Tv, k_end, decay, None, S0, -1.0)  # U = T_v − W S⁰ chunk by chunk
    q_in = q * eG if g is not None else q
    o = torch.baddbmm(QK.flatten(0, 2) @ U.flatten(0, 2), q_in.flatten(0, 2), S_in.flatten(0, 2), beta=s, alpha=s)
    return o.view(q.shape[:4] + v.shape[-1:]), S


@dataclass(frozen=True)
class Params(OpParams):
    heads: int = 2  # H; K = V = hidden / heads

    def validate(self) -> None:
        from rnnbench.config import require

        require(self.heads >= 1, f"op.heads={self.heads} is impossible; use 1 or more")


def head_dim(op: str, hidden: int, heads: int) -> int:
    if hidden % heads:
        raise UsageError(f"{op}: hidden={hidden} does not split into heads={heads}; give a multiple of {heads}")
    return hidden // heads


def l2norm(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def example(p: Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype) -> dict[str, Any]:
    D = head_dim(NAME, hidden, p.heads)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    shape = (batch, seq_len, p.heads, D)
    return {
        "q": l2norm(randn(*shape)),
        "k": l2norm(randn(*shape)),
        "v": randn(*shape),  # q, k normalised, as DeltaNet
        "beta": torch.sigmoid(randn(batch, seq_len, p.heads)),
    }  # β = σ(W_β x) in (0, 1)


register(
    Op(
        NAME,
        delta_rule,
        FORMS,
        Params,
        example,
        "S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ (s q_t)",
        "Schlag et al. (2021), arXiv:2102.11174; Yang et al. (2024), arXiv:2406.06484",
    )
)
