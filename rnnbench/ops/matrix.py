"""What the matrix-state ops share (:func:`~rnnbench.ops.delta_rule`,
:func:`~rnnbench.ops.gated_delta_rule`, :func:`~rnnbench.ops.gla`, :func:`~rnnbench.ops.dplr`,
:func:`~rnnbench.ops.ssd`, :func:`~rnnbench.ops.mlstm`): argument checks for ``(B, T, H, D)``
inputs and ``(B, H, K, V)`` states, the chunk layout and length, the masked decay matrix
(mamba's ``segsum``), and the factorisation of per-channel decays (GLA, DPLR).

Chunk layout: ``(B, T, H, ·)`` becomes ``(n, B, H, C, ·)``, n = ⌈T/C⌉, in one copy: the
chunk index outermost, so that each chunk's slab is contiguous for the carry's GEMMs and the
batched GEMMs see one batch axis; positions after T are padded with values that
leave the state unchanged (zero keys, zero log-decay), so the state after the last padded
step is the exact final state and no pass is spent on the ragged end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from rnnbench.errors import UsageError
from rnnbench.ops.base import chunk_size as _checked_chunk
from rnnbench.ops.base import require_same_kind, require_tensor

DEFAULT_CHUNK = 32  # measured here: 16 and 32 alike, 64 slower at T = 1024 (B = 16, 2 heads of K = V = 32), fwd+bwd


def check_real(op: str, tensors: Mapping[str, torch.Tensor | None]) -> None:
    """One real floating dtype and one device for every given tensor."""
    require_same_kind(op, tensors)
    for name, t in tensors.items():
        if t is not None and t.is_complex():
            raise UsageError(f"{op}: {name} is complex ({t.dtype}); this op takes real inputs")


def check_qkv(op: str, q: Any, k: Any, v: Any) -> tuple[int, int, int, int, int]:
    """q, k ``(B, T, H, K)`` and v ``(B, T, H, V)``: returns (B, T, H, K, V)."""
    q = require_tensor(op, "q", q, 4, meaning="(B, T, H, K)")
    B, T, H, K = q.shape
    require_tensor(op, "k", k, shape=(B, T, H, K), meaning="(B, T, H, K), as q")
    require_tensor(op, "v", v, shape=(B, T, H, None), meaning="(B, T, H, V), with q's B, T and H")
    if T == 0:
        raise UsageError(f"{op}: q has no time steps (shape {tuple(q.shape)}); give T >= 1")
    return B, T, H, K, v.shape[3]


def resolve_scale(op: str, scale: Any, K: int) -> float:
    """``scale`` as a float; None means K^(−1/2), as fla's functions."""
    if scale is None:
        return K**-0.5
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise UsageError(f"{op}: scale={scale!r} is impossible; give a finite number, or None for K^(-1/2)")
    return float(scale)


def chunk_len(T: int, given: int | None, op: str) -> int:
    """The chunk length: ``given`` (at least 1, at most T), else ``DEFAULT_CHUNK`` (at most T)."""
    if given is not None:
        return _checked_chunk(T, given, op)
    return min(T, DEFAULT_CHUNK)


def to_chunks(x: torch.Tensor, C: int, fill: float = 0.0) -> torch.Tensor:
    """``(B, T, H, *rest)`` -> ``(n, B, H, C, *rest)`` contiguous, positions after T set to
    ``fill``; one copy (differentiable), also when T is not a multiple of C."""
    B, T, H, *rest = x.shape
    n, full = -(-T // C), T // C
    tail = T - full * C
    if not tail:
        return x.reshape(B, n, C, H, *rest).movedim((1, 2), (0, 3)).contiguous()
    out = x.new_empty(n, B, H, C, *rest)
    view = out.movedim((0, 3), (1, 2))  # (B, n, C, H, *rest), a view of the chunks
    view[:, full, tail:].fill_(fill)
    if full:
        view[:, :full].copy_(x[:, : full * C].reshape(B, full, C, H, *rest))
    view[:, full, :tail].copy_(x[:, full * C :])
    return out


def from_chunks(y: torch.Tensor, T: int) -> torch.Tensor:
    """``(n, B, H, C, *rest)`` -> ``(B, T, H, *rest)`` contiguous, the padding dropped; one copy."""
    n, B, H, C, *rest = y.shape
    view = y.movedim((0, 3), (1, 2))  # (B, n, C, H, *rest)
    full = T // C
    tail = T - full * C
    if not tail:
        return view.reshape(B, T, H, *rest)  # the copy
    out = y.new_empty(B, T, H, *rest)
    if full:
        out[:, : full * C].view(B, full, C, H, *rest).copy_(view[:, :full])
    out[:, full * C :].copy_(view[:, full, :tail])
    return out


def log_uniform(n: int, low: float, high: float, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """``n`` values log-uniform in [low, high] (the dt initialisation of Mamba and Gated DeltaNet)."""
    u = torch.rand(n, generator=generator, dtype=dtype)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


def tril_mask(C: int, diagonal: int, device: torch.device) -> torch.Tensor:
    """``(C, C)`` boolean: True on and below the ``diagonal``-th diagonal (0: main, −1: strictly below)."""
    return torch.ones(C, C, dtype=torch.bool, device=device).tril(diagonal)


def segsum(G: torch.Tensor) -> torch.Tensor:
    """Masked log-decay matrix: ``(…, C)`` inclusive cumulative log-decays Γ -> ``(…, C, C)``
    with Γ_r − Γ_j for j ≤ r and −inf above the diagonal, masked before any exp so that
    exp gives exactly 0 there and nothing overflows (mamba's ``segsum``)."""
    C = G.shape[-1]
    diff = G.unsqueeze(-1) - G.unsqueeze(-2)  # (…, C, C): r rows, j columns
    return diff.masked_fill(~tril_mask(C, 0, G.device), float("-inf"))


def strictly_lower(M: torch.Tensor) -> torch.Tensor:
    """``M`` with its diagonal and everything above it set to zero."""
    return M.masked_fill(~tril_mask(M.shape[-1], -1, M.device), 0.0)


def factor_limit(dtype: torch.dtype) -> float:
    """The largest |exponent| the per-channel factorisation may use: about 0.45 log(max) of
    the dtype (float32: 40, float64: 319), so that products of two factors and sums over a
    head stay finite."""
    return 0.45 * math.log(torch.finfo(dtype).max)


def channel_decays(g: torch.Tensor, C: int, op: str) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel log-decays ``g`` ``(B, T, H, K)`` in chunks: ``(C', g', G, ref)`` with g' the
    log-decays in chunks and G their inclusive cumulative sums inside each chunk, both
    ``(n, B, H, C', K)``, and ref ``(n, B, H, 1, K)`` the middle of each chunk's range of G
    (its start, 0, included).

    The intra-chunk matrices Σ_c a_rc b_jc exp(G_rc − G_jc) are then single GEMMs of
    a·exp(G − ref) and b·exp(ref − G), whose exponents are at most half the range of G over
    the chunk. Where some chunk's range exceeds twice :func:`factor_limit` (float32: decays
    multiplying to below e^−80 inside one chunk), the chunk length C is halved until none does,
    so the result stays exact for any decays (C = 1 needs no factor: its diagonal is taken
    exactly)."""
    limit = factor_limit(g.dtype)
    while True:
        gc = to_chunks(g, C)
        G = gc.cumsum(3)  # (n, B, H, C, K)
        lo, hi = torch.aminmax(G.detach(), dim=3, keepdim=True)  # (n, B, H, 1, K)
        lo, hi = lo.clamp(max=0.0), hi.clamp(min=0.0)  # the chunk's start, G = 0, is in the range
        if C == 1 or float((hi - lo).max()) <= 2 * limit:
            return C, gc, G, (hi + lo) / 2  # any ref is exact: detached, it adds no backward
        C = max(1, C // 2)


def decay_carry(d: torch.Tensor, E: torch.Tensor, S0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The state across chunks of the decay-only ops (GLA, SSD, mLSTM), S_{i+1} = d_i ⊙ S_i + E_i
    from S_0 = ``S0`` (zero when None): returns the state entering every chunk ``(n, B, H, K, V)``
    and the final state ``(B, H, K, V)``.

    ``E`` is ``(n, B, H, K, V)``; ``d`` each chunk's decay, ``(n, B, H, K, 1)`` (per key channel)
    or ``(n, B, H, 1, 1)``. One autograd node whose backward is the same recurrence in reverse."""
    n, Bt, H, K, V = E.shape
    S0 = E.new_zeros(Bt, H, K, V) if S0 is None else S0
    states = _DecayCarry.apply(d.flatten(1, 2), E.flatten(1, 2), S0.flatten(0, 1))  # (n + 1, B·H, K, V)
    states = states.view(n + 1, Bt, H, K, V)
    return states[:n], states[n]


class _DecayCarry(torch.autograd.Function):
    """``d (n, b, K | 1, 1)``, ``E (n, b, K, V)``, ``S0 (b, K, V)`` -> every state ``(n + 1, b, K, V)``."""

    @staticmethod
    def forward(ctx: Any, d: torch.Tensor, E: torch.Tensor, S0: torch.Tensor) -> torch.Tensor:
        n, b, K, V = E.shape
        d, E = d.contiguous(), E.contiguous()
        states = E.new_empty(n + 1, b, K, V)
        states[0] = S0
        for i in range(n):
            torch.addcmul(E[i], d[i], states[i], out=states[i + 1])
        ctx.save_for_backward(d, states)
        return states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        d, states = ctx.saved_tensors
        n = states.shape[0] - 1
        g = g.contiguous()
        D = torch.empty_like(states[1:])  # D[i] = ∂L/∂S_{i+1} in full
        D[n - 1] = g[n]
        for i in range(n - 1, 0, -1):
            torch.addcmul(g[i], d[i], D[i], out=D[i - 1])
        grad_S0 = g[0] + d[0] * D[0]
        grad_d = None
        if ctx.needs_input_grad[0]:  # reduced to d's broadcast shape
            grad_d = (D * states[:n]).sum(-1, keepdim=True)
            if d.shape[-2] == 1:
                grad_d = grad_d.sum(-2, keepdim=True)
        return grad_d, D, grad_S0


def unit_lower_solve(
    A: torch.Tensor, rhs: torch.Tensor, rhs2: torch.Tensor, sign: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """X = (I + sign · tril(A, −1))⁻¹ rhs and the same for ``rhs2``, with ``A (…, C, C)`` (only
    its strict lower part is read) and ``rhs (…, C, W)``, ``rhs2 (…, C, W₂)``: the UT transform
    of the delta rules and DPLR, which solve one system for two right-hand sides.

    The same as ``torch.linalg.solve_triangular(I + sign·A, ·, upper=False, unitriangular=True)``
    but faster forward+backward on a CPU for many small matrices (that function calls LAPACK
    once per matrix, forward and backward; measured here 1.4× at 1024 matrices of 32×32 with
    64 right-hand sides): the inverse is built by blocks, whose diagonal 16×16 blocks come from
    a vectorised forward substitution and the rest from T₂₁ = −T₂₂ A₂₁ T₁₁ at doubling block
    sizes, then applied as batched GEMMs; the backward is GEMMs too
    (∂rhs = Tᵀ ∂X, ∂A = −sign · tril(Σ ∂rhs Xᵀ, −1))."""
    lead, C = A.shape[:-2], A.shape[-1]
    X1, X2 = _UnitLowerSolve.apply(
        A.reshape(-1, C, C), rhs.reshape(-1, C, rhs.shape[-1]), rhs2.reshape(-1, C, rhs2.shape[-1]), sign
    )
    return X1.view(*lead, C, rhs.shape[-1]), X2.view(*lead, C, rhs2.shape[-1])


BASE_BLOCK = 16  # the diagonal blocks inverted by forward substitution (measured here: 16 beats 4, 8 and 32 at C = 32)


def unit_lower_inverse(A: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """(I + sign · tril(A, −1))⁻¹ for ``A (N, C, C)``, without autograd."""
    N, C, _ = A.shape
    Cp = 1 << max(C - 1, 0).bit_length()  # a power of two: padding with I leaves the top-left block's inverse alone
    c = min(BASE_BLOCK, Cp)
    if Cp != C:
        A = F.pad(A, (0, Cp - C, 0, Cp - C))
    m = Cp // c
    # the diagonal c×c blocks, all at once, by forward substitution: once row j of T is final,
    # every row r > j loses sign · A_rj T_j
    Ad = A.view(N, m, c, m, c).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2).contiguous()  # (N, m, c, c)
    Td = torch.zeros_like(Ad)
    Td.diagonal(dim1=-2, dim2=-1).fill_(1.0)
    for j in range(c - 1):
        Td[..., j + 1 :, :].addcmul_(Ad[..., j + 1 :, j : j + 1], Td[..., j : j + 1, :], value=-sign)
    T = A.new_zeros(N, Cp, Cp)
    T.view(N, m, c, m, c).diagonal(dim1=1, dim2=3).copy_(Td.permute(0, 2, 3, 1))
    b = c
    while b < Cp:  # merge pairs of b×b blocks into 2b×2b blocks: T₂₁ = −sign · T₂₂ A₂₁ T₁₁
        m = Cp // (2 * b)
        Tb = T.view(N, m, 2 * b, m, 2 * b).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)  # (N, m, 2b, 2b) view
        Ab = A.view(N, m, 2 * b, m, 2 * b).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)
        # contiguous operands: a matmul of these strided views would loop over the matrices one by one
        T22, A21, T11 = (t.contiguous() for t in (Tb[..., b:, b:], Ab[..., b:, :b], Tb[..., :b, :b]))
        Tb[..., b:, :b] = (T22 @ (A21 @ T11)).mul_(-sign)
        b *= 2
    return T[:, :C, :C] if Cp != C else T


class _UnitLowerSolve(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, A: torch.Tensor, rhs: torch.Tensor, rhs2: torch.Tensor, sign: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        T = unit_lower_inverse(A, sign)
        X1, X2 = T @ rhs, T @ rhs2
        ctx.save_for_backward(T, X1, X2)
        ctx.sign = sign
        return X1, X2

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g1: torch.Tensor | None, g2: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        T, X1, X2 = ctx.saved_tensors
        Tt = T.transpose(-1, -2)
        r1 = None if g1 is None else Tt @ g1  # (I + sign A)⁻ᵀ ∂X
        r2 = None if g2 is None else Tt @ g2
        gA = None
        if ctx.needs_input_grad[0]:
            gA = torch.zeros_like(T)
            for r, X in ((r1, X1), (r2, X2)):
                if r is not None:
                    gA.baddbmm_(r, X.transpose(-1, -2), alpha=-ctx.sign)
            gA = strictly_lower(gA)
        return gA, r1, r2, None


def wy_carry(
    W: torch.Tensor,
    Tv: torch.Tensor,
    Kh: torch.Tensor,
    d: torch.Tensor | None,
    E: torch.Tensor | None,
    S0: torch.Tensor | None,
    sign: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The state across chunks of the delta rules and DPLR, each chunk i entered with S_i:

        U_i = Tv_i + sign · W_i S_i,    S_{i+1} = d_i ⊙ S_i + E_i + Kh_iᵀ U_i,

    with W ``(n, B, H, C, K)``, Tv ``(n, B, H, C, V)``, Kh ``(n, B, H, C, K)``, d ``(n, B, H, K, 1)``,
    ``(n, B, H, 1, 1)`` or None (1), E ``(n, B, H, K, V)`` or None (0), S0 ``(B, H, K, V)`` or None (0).
    Returns U ``(n, B, H, C, V)``, the state entering each chunk ``(n, B, H, K, V)`` and the
    final state. One autograd node: its backward runs the chunks in reverse with two small
    GEMMs each and leaves every other product to one batched GEMM (fla's ``chunk_fwd_h`` and
    ``chunk_bwd_dh`` in one)."""
    n, Bt, H, C, K = W.shape
    V = Tv.shape[-1]
    S0 = W.new_zeros(Bt, H, K, V) if S0 is None else S0
    flat = [None if t is None else t.flatten(1, 2) for t in (W, Tv, Kh, d, E)]
    U, states = _WYCarry.apply(*flat, S0.flatten(0, 1), sign)
    states = states.view(n + 1, Bt, H, K, V)
    return U.view(n, Bt, H, C, V), states[:n], states[n]


class _WYCarry(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        W: torch.Tensor,
        Tv: torch.Tensor,
        Kh: torch.Tensor,
        d: torch.Tensor | None,
        E: torch.Tensor | None,
        S0: torch.Tensor,
        sign: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, b, C, K = W.shape
        V = Tv.shape[-1]
        W, Tv, Kh = W.contiguous(), Tv.contiguous(), Kh.contiguous()
        E = None if E is None else E.contiguous()
        U = Tv.new_empty(n, b, C, V)
        states = Tv.new_empty(n + 1, b, K, V)
        states[0] = S0
        KhT = Kh.transpose(-1, -2)
        for i in range(n):
            S = states[i]
            torch.baddbmm(Tv[i], W[i], S, alpha=sign, out=U[i])
            if d is None:
                base = S if E is None else S + E[i]
            else:
                base = d[i] * S if E is None else torch.addcmul(E[i], d[i], S)
            torch.baddbmm(base, KhT[i], U[i], out=states[i + 1])
        ctx.save_for_backward(W, Kh, d, U, states)
        ctx.sign, ctx.has_E = sign, E is not None
        return U, states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gU: torch.Tensor | None, gS: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        W, Kh, d, U, states = ctx.saved_tensors
        n = W.shape[0]
        sign = ctx.sign
        gU = U.new_zeros(U.shape) if gU is None else gU.contiguous()
        gS = states.new_zeros(states.shape) if gS is None else gS.contiguous()
        dU = torch.empty_like(U)  # ∂L/∂U_i in full
        D = torch.empty_like(states[1:])  # D[i] = ∂L/∂S_{i+1} in full
        D[n - 1] = gS[n]
        WT = W.transpose(-1, -2)
        for i in range(n - 1, -1, -1):
            torch.baddbmm(gU[i], Kh[i], D[i], out=dU[i])  # ∂U_i = gU_i + Kh_i ∂S_{i+1}
            back = D[i] if d is None else d[i] * D[i]
            prev = torch.baddbmm(gS[i] + back, WT[i], dU[i], alpha=sign)  # ∂S_i
            if i > 0:
                D[i - 1] = prev
        grad_S0 = prev
        S_in = states[:n]
        grad_W = dU @ S_in.transpose(-1, -2) * sign if ctx.needs_input_grad[0] else None  # sign ∂U S_iᵀ
        grad_Kh = U @ D.transpose(-1, -2) if ctx.needs_input_grad[2] else None  # U_i ∂S_{i+1}ᵀ
        grad_d = None
        if d is not None and ctx.needs_input_grad[3]:
            grad_d = (D * S_in).sum(-1, keepdim=True)
            if d.shape[-2] == 1:
                grad_d = grad_d.sum(-2, keepdim=True)
        grad_E = D if ctx.has_E and ctx.needs_input_grad[4] else None
        return grad_W, dU, grad_Kh, grad_d, grad_E, grad_S0, None
