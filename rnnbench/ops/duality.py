"""``ssd``: Mamba-2's state-space recurrence, the structured state-space duality (Dao & Gu
2024, arXiv:2405.21060), per head h with a scalar decay and state h_t ∈ R^{P×N}:

    h_t = exp(dt_t A_h) h_{t−1} + dt_t x_t B_tᵀ,    y_t = h_t C_t,

B and C shared by the H/G heads of a group (mamba's ``ngroups``). No D skip (the layer adds
D ⊙ x). With ``neg_eigval=True`` the decay exp(dt_t A_h) becomes 2·exp(dt_t A_h) − 1 ∈ (−1, 1]
(Grazzi et al. 2025, arXiv:2411.12537); the chunk form then takes the log of each decay's
magnitude for the masked decay matrix and carries its sign as a running product of ±1. In fla's
terms it is linear attention with a scalar decay per head: q = C, k = B, v = dt ⊙ x, scale 1,
and state hᵀ.

Forms:

- ``"recurrent"``: the recurrence one step at a time (mamba ``modules/mamba2.py::Mamba2.step``'s
  SSM update without D);
- ``"chunk"`` (default): mamba ``modules/ssd_minimal.py::ssd_minimal_discrete``'s algorithm.
  With a = dt A and Γ its cumulative sum inside each chunk, L = exp(segsum(a)) the masked decay
  matrix (masked before the exp), Y = (C Bᵀ ⊙ L)(dt ⊙ X) + (C ⊙ e^Γ) h⁰ᵀ inside a chunk entered
  with h⁰, and each chunk's state (B ⊙ e^{Γ_C − Γ})ᵀ (dt ⊙ X) carried across chunks with its
  decay e^{Γ_C} in n = ⌈T/C⌉ elementwise steps; the final state is exact for any T.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from rnnbench.errors import UsageError
from rnnbench.ops import delta, matrix
from rnnbench.ops.base import Op, OpParams, check_form, register, require_tensor

FORMS = ("recurrent", "chunk")
NAME = "ssd"


def ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    *,
    initial_state: torch.Tensor | None = None,
    form: str = "chunk",
    chunk_size: int | None = None,
    neg_eigval: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mamba-2's SSD: h_t = exp(dt_t A) h_{t−1} + dt_t x_t B_tᵀ, y_t = h_t C_t, per head.

    Matches mamba's ``mamba_chunk_scan_combined(x, dt, A, B, C, chunk_size, initial_states=...,
    return_final_states=True)`` with D, z and dt_bias left out and dt already through softplus,
    and its reference ``ssd_minimal_discrete(x * dt, A * dt, B, C, block_len)`` (which
    takes B and C per head).

    Args:
        x: inputs ``(B, T, H, P)``.
        dt: step sizes ``(B, T, H)``, positive (after softplus and its bias).
        A: the decay rates ``(H,)``, negative (−exp(A_log)).
        B: input projections ``(B, T, G, N)``, each shared by H/G heads (head h reads group
            h // (H/G)).
        C: output projections ``(B, T, G, N)``, grouped as ``B``.
        initial_state: h_0 ``(B, H, P, N)`` (zero when None).
        form: ``"chunk"`` (default) or ``"recurrent"``.
        chunk_size: the chunk length of ``"chunk"`` (default 32, at most T).
        neg_eigval: decay 2·exp(dt A) − 1 ∈ (−1, 1] instead of exp(dt A) (Grazzi et al. 2025).

    Returns:
        ``(y, h_T)``: outputs ``(B, T, H, P)`` and the final state ``(B, H, P, N)``.
    """
    check_form(NAME, form, FORMS)
    x = require_tensor(NAME, "x", x, 4, meaning="(B, T, H, P)")
    Bt, T, H, P = x.shape
    require_tensor(NAME, "dt", dt, shape=(Bt, T, H), meaning="(B, T, H), one step size per head")
    require_tensor(NAME, "A", A, shape=(H,), meaning="(H,), one decay rate per head")
    require_tensor(NAME, "B", B, shape=(Bt, T, None, None), meaning="(B, T, G, N)")
    Gr, N = B.shape[2], B.shape[3]
    require_tensor(NAME, "C", C, shape=(Bt, T, Gr, N), meaning="(B, T, G, N), as B")
    if H % Gr:
        raise UsageError(f"{NAME}: B has {Gr} groups, which do not divide x's {H} heads; give G dividing H")
    if initial_state is not None:
        require_tensor(NAME, "initial_state", initial_state, shape=(Bt, H, P, N), meaning="(B, H, P, N)")
    matrix.check_real(NAME, {"x": x, "dt": dt, "A": A, "B": B, "C": C, "initial_state": initial_state})
    if T == 0:
        raise UsageError(f"{NAME}: x has no time steps (shape {tuple(x.shape)}); give T >= 1")
    if not isinstance(neg_eigval, bool):
        raise UsageError(f"{NAME}: neg_eigval={neg_eigval!r} must be True or False")
    if form == "recurrent":
        return _recurrent(x, dt, A, B, C, initial_state, neg_eigval)
    return _chunk(x, dt, A, B, C, initial_state, matrix.chunk_len(T, chunk_size, NAME), neg_eigval)


def _recurrent(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    Bm: torch.Tensor,
    Cm: torch.Tensor,
    h0: torch.Tensor | None,
    neg: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    Bt, T, H, P = x.shape
    group = torch.arange(H, device=x.device) // (H // Bm.shape[2])  # the group each head reads
    h = h0 if h0 is not None else x.new_zeros(Bt, H, P, Bm.shape[3])
    ys = []
    for x_t, dt_t, B_t, C_t in zip(x.unbind(1), dt.unbind(1), Bm[:, :, group].unbind(1), Cm[:, :, group].unbind(1)):
        dA = torch.exp(dt_t * A)  # (B, H)
        if neg:
            dA = 2 * dA - 1  # in (−1, 1]
        h = dA[..., None, None] * h + (dt_t.unsqueeze(-1) * x_t).unsqueeze(-1) * B_t.unsqueeze(-2)  # (B, H, P, N)
        ys.append((h @ C_t.unsqueeze(-1)).squeeze(-1))  # h C (B, H, P)
    return torch.stack(ys, 1), h


def _chunk(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    Bm: torch.Tensor,
    Cm: torch.Tensor,
    h0: torch.Tensor | None,
    L: int,
    neg: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    Bt, T, H, P = x.shape
    Gr, N = Bm.shape[2:]
    R = H // Gr  # heads per group
    xc = matrix.to_chunks(x * dt.unsqueeze(-1), L)  # dt ⊙ x (n, B, H, L, P)
    n = xc.shape[0]
    xc = xc.view(n, Bt, Gr, R, L, P)
    Bc, Cc = (matrix.to_chunks(t, L).unsqueeze(3) for t in (Bm, Cm))  # (n, B, G, 1, L, N)
    if neg:
        # decay a = 2e^{dt A} − 1 = σ·|a|: log|a| through the masked decay matrix, the sign σ ∈ {±1}
        # as a running product inside each chunk, so that Π_{j<i≤r} a_i = e^{Γ_r − Γ_j} σ_r σ_j
        a = 2 * torch.exp(dt * A) - 1  # (B, T, H)
        log_mag = a.abs().clamp_min(torch.finfo(a.dtype).tiny).log()  # a decay below tiny contributes nothing
        G = matrix.to_chunks(log_mag, L).view(n, Bt, Gr, R, L).cumsum(-1)  # Γ of log|a| (n, B, G, R, L)
        sign = matrix.to_chunks(torch.where(a.detach() < 0, -1.0, 1.0).to(x.dtype), L, fill=1.0)
        sign = sign.view(n, Bt, Gr, R, L).cumprod(-1)  # σ_r (n, B, G, R, L)
    else:
        G = matrix.to_chunks(dt * A, L).view(n, Bt, Gr, R, L).cumsum(-1)  # Γ (n, B, G, R, L)
        sign = None
    decay = matrix.segsum(G).exp()  # (n, B, G, R, L, L), zero above the diagonal
    if sign is not None:
        decay = decay * (sign.unsqueeze(-1) * sign.unsqueeze(-2))
    Y = ((Cc @ Bc.transpose(-1, -2)) * decay) @ xc  # (C Bᵀ ⊙ L)(dt ⊙ X) (n, B, G, R, L, P)
    to_end = (G[..., -1:] - G).exp()  # e^{Γ_C − Γ_j} (n, B, G, R, L)
    into = G.exp()  # e^{Γ_r}
    if sign is not None:
        to_end, into = to_end * (sign[..., -1:] * sign), into * sign
    E = (Bc * to_end.unsqueeze(-1)).transpose(-1, -2) @ xc  # (n, B, G, R, N, P)
    h_start = None if h0 is None else h0.transpose(-1, -2)  # the state as hᵀ (B, H, N, P)
    d = into[..., -1:].unsqueeze(-1).view(n, Bt, H, 1, 1)  # e^{Γ_C} (times σ_C)
    S_in, S = matrix.decay_carry(d, E.view(n, Bt, H, N, P), h_start)  # (n, B, H, N, P), (B, H, N, P)
    c_in = Cc * into.unsqueeze(-1)  # (n, B, G, R, L, N)
    Y = Y + c_in @ S_in.view(n, Bt, Gr, R, N, P)
    return matrix.from_chunks(Y.view(n, Bt, H, L, P), T), S.transpose(-1, -2)


@dataclass(frozen=True)
class Params(OpParams):
    heads: int = 2  # H; P = hidden / heads
    d_state: int = 16  # N (Mamba-2's default is 128)
    groups: int = 1  # G, mamba's ngroups

    def validate(self) -> None:
        from rnnbench.config import require

        require(self.heads >= 1, f"op.heads={self.heads} is impossible; use 1 or more")
        require(self.d_state >= 1, f"op.d_state={self.d_state} is impossible; use 1 or more")
        require(self.groups >= 1 and self.heads % self.groups == 0, f"op.groups={self.groups} must divide op.heads={self.heads}")


def example(p: Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype) -> dict[str, Any]:
    P = delta.head_dim(NAME, hidden, p.heads)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    # Mamba-2's initialisation: A = −U(1, 16); dt = softplus(a + dt_bias) with softplus(dt_bias)
    # log-uniform in [1e−3, 0.1], a the projection of the input (here N(0, 1))
    A = -(1 + 15 * torch.rand(p.heads, generator=generator, dtype=dtype))
    dt_bias = matrix.inverse_softplus(matrix.log_uniform(p.heads, 1e-3, 0.1, generator, dtype))
    dt = F.softplus(randn(batch, seq_len, p.heads) + dt_bias)
    return {
        "x": randn(batch, seq_len, p.heads, P),
        "dt": dt,
        "A": A,
        "B": randn(batch, seq_len, p.groups, p.d_state),
        "C": randn(batch, seq_len, p.groups, p.d_state),
    }


register(
    Op(
        NAME,
        ssd,
        FORMS,
        Params,
        example,
        "h_t = exp(dt_t A) h_{t−1} + dt_t x_t B_tᵀ, y_t = h_t C_t",
        "Dao & Gu (2024), arXiv:2405.21060",
    )
)
