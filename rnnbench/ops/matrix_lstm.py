"""``mlstm``: xLSTM's matrix LSTM (Beck et al. 2024, arXiv:2405.04517), the stabilised
recurrence of xlstm's ``recurrent_step_stabilized_simple``, per head, from C = n = m = 0:

    m_t = max(logσ(f̃_t) + m_{t−1}, ĩ_t),    f_t = exp(logσ(f̃_t) + m_{t−1} − m_t),    i_t = exp(ĩ_t − m_t),
    C_t = f_t C_{t−1} + i_t k̄_t v_tᵀ,    n_t = f_t n_{t−1} + i_t k̄_t,    k̄ = s k,
    h_t = C_tᵀ q_t / (max(|n_tᵀ q_t|, exp(−m_t)) + ε),

with gate pre-activations ĩ, f̃ (one per head and step), s = K^(−1/2) and ε = 1e−6. C and n
are the true states scaled by exp(−m_t), which keeps every exp's argument at most 0.

Forms:

- ``"recurrent"``: the recurrence one step at a time;
- ``"chunk"`` (default): xlstm's ``chunkwise_simple`` algorithm. With F the cumulative
  logσ(f̃) inside a chunk entered with (C⁰, n⁰, m⁰), the log-weight of source j at step r is
  D_rj = F_r − F_j + ĩ_j (j ≤ r, masked before the exp), that of the entering state F_r + m⁰, so
  m_r = max(F_r + m⁰, max_j D_rj) exactly as the recurrence; then
  h_r = [Σ_j e^{D_rj − m_r} (q_r·k̄_j) v_j + e^{F_r + m⁰ − m_r} C⁰ᵀ q_r] / (max(|…same with n…|, e^{−m_r}) + ε),
  and the stabilised states and m carried across chunks in n = ⌈T/C⌉ elementwise steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from rnnbench.errors import UsageError
from rnnbench.ops import delta, matrix
from rnnbench.ops.base import Op, check_form, register, require_tensor

FORMS = ("recurrent", "chunk")
NAME = "mlstm"
State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def mlstm(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: State | None = None,
    eps: float = 1e-6,
    form: str = "chunk",
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, State]:
    """xLSTM's stabilised mLSTM recurrence; the state is the tuple (C, n, m).

    Matches xlstm's ``blocks/mlstm/backends.py::recurrent_step_stabilized_simple`` run over
    the sequence from zeros (and ``chunkwise_simple``); its ``parallel_stabilized_simple``
    differs only inside ε's term (its stabiliser starts from −∞, not m_0 = 0). xlstm's
    layout is head-first and its keys are scaled by 1/√K, s here.

    Args:
        q: queries ``(B, T, H, K)``.
        k: keys ``(B, T, H, K)``.
        v: values ``(B, T, H, V)``.
        i: input gate pre-activations ``(B, T, H)``.
        f: forget gate pre-activations ``(B, T, H)``.
        scale: s, the key scale; None means K^(−1/2).
        initial_state: (C ``(B, H, K, V)``, n ``(B, H, K)``, m ``(B, H)``), zeros when None.
        eps: ε in the normaliser.
        form: ``"chunk"`` (default) or ``"recurrent"``.
        chunk_size: the chunk length of ``"chunk"`` (default 32, at most T).

    Returns:
        ``(h, (C_T, n_T, m_T))``: outputs ``(B, T, H, V)`` and the final state.
    """
    check_form(NAME, form, FORMS)
    B, T, H, K, V = matrix.check_qkv(NAME, q, k, v)
    require_tensor(NAME, "i", i, shape=(B, T, H), meaning="(B, T, H), one input gate per head and step")
    require_tensor(NAME, "f", f, shape=(B, T, H), meaning="(B, T, H), one forget gate per head and step")
    state = {"C": None, "n": None, "m": None}
    if initial_state is not None:
        if not isinstance(initial_state, (tuple, list)) or len(initial_state) != 3:
            raise UsageError(
                f"{NAME}: initial_state must be the tuple (C, n, m), not {type(initial_state).__name__}"
                + (f" of {len(initial_state)}" if isinstance(initial_state, (tuple, list)) else "")
            )
        C0, n0, m0 = initial_state
        require_tensor(NAME, "initial_state C", C0, shape=(B, H, K, V), meaning="(B, H, K, V)")
        require_tensor(NAME, "initial_state n", n0, shape=(B, H, K), meaning="(B, H, K)")
        require_tensor(NAME, "initial_state m", m0, shape=(B, H), meaning="(B, H)")
        state = {"C": C0, "n": n0, "m": m0}
    matrix.check_real(NAME, {"q": q, "k": k, "v": v, "i": i, "f": f, **{f"initial_state {k_}": t for k_, t in state.items()}})
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise UsageError(f"{NAME}: eps={eps!r} is impossible; give a number of 0 or more")
    s = matrix.resolve_scale(NAME, scale, K)
    S0 = None if initial_state is None else tuple(initial_state)
    if form == "recurrent":
        return _recurrent(q, k, v, i, f, s, S0, float(eps))
    return _chunk(q, k, v, i, f, s, S0, float(eps), matrix.chunk_len(T, chunk_size, NAME))


def _recurrent(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i: torch.Tensor, f: torch.Tensor, s: float, S0: State | None, eps: float
) -> tuple[torch.Tensor, State]:
    B, T, H, K = k.shape
    if S0 is None:
        C, n, m = k.new_zeros(B, H, K, v.shape[3]), k.new_zeros(B, H, K), k.new_zeros(B, H)
    else:
        C, n, m = S0
    out = []
    for q_t, k_t, v_t, i_t, f_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), i.unbind(1), f.unbind(1)):
        log_f = F.logsigmoid(f_t)  # (B, H)
        m_new = torch.maximum(log_f + m, i_t)
        f_act, i_act = torch.exp(log_f + m - m_new), torch.exp(i_t - m_new)
        kbar = k_t * s
        C = f_act[..., None, None] * C + i_act[..., None, None] * (kbar.unsqueeze(-1) * v_t.unsqueeze(-2))
        n = f_act[..., None] * n + i_act[..., None] * kbar
        m = m_new
        num = (q_t.unsqueeze(-2) @ C).squeeze(-2)  # Cᵀq (B, H, V)
        den = torch.maximum((q_t * n).sum(-1).abs(), torch.exp(-m)) + eps  # (B, H)
        out.append(num / den.unsqueeze(-1))
    return torch.stack(out, 1), (C, n, m)


def _chunk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    s: float,
    S0: State | None,
    eps: float,
    L: int,
) -> tuple[torch.Tensor, State]:
    B, T, H, K = k.shape
    V = v.shape[3]
    qc, kc, vc = (matrix.to_chunks(t, L) for t in (q, k, v))  # (n, B, H, L, ·)
    kc = kc * s  # k̄
    Fc = matrix.to_chunks(F.logsigmoid(f), L).cumsum(-1)  # F (n, B, H, L); padding: logσ = 0, no decay
    ic = matrix.to_chunks(i, L, fill=float("-inf"))  # padding: weight exp(−inf) = 0
    logD = matrix.segsum(Fc) + ic.unsqueeze(-2)  # D_rj = F_r − F_j + ĩ_j, −inf for j > r (n, B, H, L, L)
    row_max = logD.amax(-1)  # max_j D_rj (n, B, H, L)
    # m across chunks: m_{c+1} = max(F_L + m_c, max_j D_Lj), a few scalars per chunk
    m = k.new_zeros(B, H) if S0 is None else S0[2]
    m_in = []
    for F_end, local in zip(Fc[..., -1].unbind(0), row_max[..., -1].unbind(0)):
        m_in.append(m)
        m = torch.maximum(F_end + m, local)
    m_in_t = torch.stack(m_in, 0)  # the m entering each chunk (n, B, H)
    m_out = torch.cat([m_in_t[1:], m.unsqueeze(0)], 0)  # the m leaving each chunk
    # each chunk's stabilised states: weights e^{D_Lj − m_out} on k̄_j, e^{F_L + m_in − m_out} on the carried state
    w_end = (logD[..., -1, :] - m_out.unsqueeze(-1)).exp().unsqueeze(-1) * kc  # (n, B, H, L, K)
    E = torch.cat([w_end.transpose(-1, -2) @ vc, w_end.sum(-2).unsqueeze(-1)], -1)  # [C | n] parts (n, B, H, K, V + 1)
    d = (Fc[..., -1] + m_in_t - m_out).exp()[..., None, None]  # (n, B, H, 1, 1)
    start = None if S0 is None else torch.cat([S0[0], S0[1].unsqueeze(-1)], -1)  # (B, H, K, V + 1)
    S_in, S = matrix.decay_carry(d, E, start)  # (n, B, H, K, V + 1)
    # inside each chunk
    m_r = torch.maximum(Fc + m_in_t.unsqueeze(-1), row_max)  # (n, B, H, L)
    QKD = (qc @ kc.transpose(-1, -2)) * (logD - m_r.unsqueeze(-1)).exp()  # (n, B, H, L, L)
    w_in = (Fc + m_in_t.unsqueeze(-1) - m_r).exp().unsqueeze(-1)  # (n, B, H, L, 1)
    inter = (qc * w_in) @ S_in  # (n, B, H, L, V + 1)
    num = QKD @ vc + inter[..., :V]
    den = QKD.sum(-1) + inter[..., V]  # (n, B, H, L)
    h = num / (torch.maximum(den.abs(), torch.exp(-m_r)) + eps).unsqueeze(-1)
    return matrix.from_chunks(h, T), (S[..., :V], S[..., V], m)


def example(
    p: delta.Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype
) -> dict[str, Any]:
    D = delta.head_dim(NAME, hidden, p.heads)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    shape = (batch, seq_len, p.heads, D)
    # xLSTM's gate initialisation: forget bias linspace(3, 6) over heads, input bias N(0, 0.1),
    # gate weights 0; the input's share here N(0, 1)
    f_bias = torch.linspace(3.0, 6.0, p.heads, dtype=dtype)
    i_bias = 0.1 * randn(p.heads)
    return {
        "q": randn(*shape),
        "k": randn(*shape),
        "v": randn(*shape),
        "i": randn(batch, seq_len, p.heads) + i_bias,
        "f": randn(batch, seq_len, p.heads) + f_bias,
    }


register(
    Op(
        NAME,
        mlstm,
        FORMS,
        delta.Params,
        example,
        "m_t = max(logσ(f̃_t) + m_{t−1}, ĩ_t); C_t = f_t C_{t−1} + i_t k̄_t v_tᵀ, n_t = f_t n_{t−1} + i_t k̄_t; "
        "h_t = C_tᵀ q_t / (max(|n_tᵀ q_t|, exp(−m_t)) + ε)",
        "Beck et al. (2024), arXiv:2405.04517",
    )
)
