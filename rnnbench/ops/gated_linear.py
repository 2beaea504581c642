"""``gla``: gated linear attention (Yang et al. 2024, arXiv:2312.06635), per head, state
S ∈ R^{K×V}, one log-decay per key channel:

    S_t = diag(exp(g_t)) S_{t−1} + k_t v_tᵀ,    o_t = S_tᵀ (s q_t).

Forms:

- ``"recurrent"``: the recurrence one step at a time (fla ``ops/gla/naive.py::naive_recurrent_gla``);
- ``"chunk"`` (default): with G the inclusive cumulative log-decays inside a chunk (per
  channel), O = s (Q ⊙ e^G) S⁰ + s A V with A_rj = Σ_c q_rc k_jc exp(G_rc − G_jc) for j ≤ r,
  and S = diag(e^{G_C}) S⁰ + (K ⊙ e^{G_C − G})ᵀ V. A is one GEMM of Q ⊙ e^{G − ref} and
  K ⊙ e^{ref − G} with ref the middle of each chunk's range of G, so every exponent is at most
  half that range (where a range is too wide for the dtype the chunk is halved:
  :func:`rnnbench.ops.matrix.channel_decays`).
  The state crosses chunks in n = ⌈T/C⌉ elementwise steps (:func:`rnnbench.ops.matrix.decay_carry`).
"""

from __future__ import annotations

from typing import Any

import torch

from rnnbench.ops import delta, matrix
from rnnbench.ops.base import Op, check_form, register, require_tensor

FORMS = ("recurrent", "chunk")
NAME = "gla"


def gla(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    form: str = "chunk",
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gated linear attention S_t = diag(exp(g_t)) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ (s q_t).

    Matches fla's ``chunk_gla(q, k, v, g, scale, initial_state)`` and its reference
    ``ops/gla/naive.py::naive_recurrent_gla`` (whose gate argument is called gk). The GLA
    layer sets g = logσ(W₂W₁x + b)/16.

    Args:
        q: queries ``(B, T, H, K)``.
        k: keys ``(B, T, H, K)``.
        v: values ``(B, T, H, V)``.
        g: log-decays ``(B, T, H, K)``, one per key channel (≤ 0 for a decaying state).
        scale: s, the query scale; None means K^(−1/2).
        initial_state: S_0 ``(B, H, K, V)`` (zero when None).
        form: ``"chunk"`` (default) or ``"recurrent"``.
        chunk_size: the chunk length C of ``"chunk"`` (default 32, at most T).

    Returns:
        ``(o, S_T)``: outputs ``(B, T, H, V)`` and the final state ``(B, H, K, V)``.
    """
    check_form(NAME, form, FORMS)
    B, T, H, K, V = matrix.check_qkv(NAME, q, k, v)
    require_tensor(NAME, "g", g, shape=(B, T, H, K), meaning="(B, T, H, K), one log-decay per key channel")
    delta.check_state(NAME, initial_state, B, H, K, V)
    matrix.check_real(NAME, {"q": q, "k": k, "v": v, "g": g, "initial_state": initial_state})
    s = matrix.resolve_scale(NAME, scale, K)
    if form == "recurrent":
        return _recurrent(q, k, v, g, s, initial_state)
    return _chunk(q, k, v, g, s, initial_state, matrix.chunk_len(T, chunk_size, NAME))


def _recurrent(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, s: float, S0: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    B, T, H, K = k.shape
    S = S0 if S0 is not None else k.new_zeros(B, H, K, v.shape[3])
    out = []
    for q_t, k_t, v_t, g_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), g.unbind(1)):
        S = g_t.exp().unsqueeze(-1) * S + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)  # diag(e^g) S + k vᵀ
        out.append((q_t.unsqueeze(-2) @ S).squeeze(-2) * s)  # Sᵀ (s q) (B, H, V)
    return torch.stack(out, 1), S


def _chunk(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, s: float, S0: torch.Tensor | None, C: int
) -> tuple[torch.Tensor, torch.Tensor]:
    T = q.shape[1]
    C, _, G, ref = matrix.channel_decays(g, C, NAME)  # G (n, B, H, C, K)
    qc, kc, vc = (matrix.to_chunks(t, C) for t in (q, k, v))  # (n, B, H, C, ·)
    G_end = G[..., -1:, :]  # G_C (n, B, H, 1, K)
    if C > 1:
        # every decay factor from one exp of the big tensor: q e^{G − ref}, k e^{ref − G}, then small rescales
        up = (G - ref).exp()
        qf, kf = qc * up, kc / up  # exponents within ± half the chunk's range
        A = (qf @ kf.transpose(-1, -2)).tril()  # (n, B, H, C, C); its diagonal q_r·k_r up to rounding
        q_in, k_end = qf * ref.exp(), kf * (G_end - ref).exp()  # q e^G, k e^{G_C − G}
    else:  # one step per chunk: no decay inside
        A = (qc * kc).sum(-1, keepdim=True)  # (n, B, H, 1, 1)
        q_in, k_end = qc * G.exp(), kc
    E = k_end.transpose(-1, -2) @ vc  # (K ⊙ e^{G_C − G})ᵀ V (n, B, H, K, V)
    S_in, S = matrix.decay_carry(G_end.exp().transpose(-1, -2), E, S0)  # (n, B, H, K, V), (B, H, K, V)
    V = vc.shape[-1]
    o = torch.baddbmm((A @ vc).flatten(0, 2), q_in.flatten(0, 2), S_in.flatten(0, 2), beta=s, alpha=s)
    return matrix.from_chunks(o.view(qc.shape[:4] + (V,)), T), S


def example(
    p: delta.Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype
) -> dict[str, Any]:
    D = delta.head_dim(NAME, hidden, p.heads)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    shape = (batch, seq_len, p.heads, D)
    g = torch.nn.functional.logsigmoid(randn(*shape)) / 16  # the GLA layer's gate: decays about e^−0.05
    return {"q": randn(*shape), "k": randn(*shape), "v": randn(*shape), "g": g}


register(
    Op(
        NAME,
        gla,
        FORMS,
        delta.Params,
        example,
        "S_t = diag(exp(g_t)) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ (s q_t)",
        "Yang et al. (2024), arXiv:2312.06635",
    )
)
