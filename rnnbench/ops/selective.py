"""``selective_scan``: Mamba-1's selective state-space scan (Gu & Dao 2023, Algorithm 2;
state-spaces/mamba ``selective_scan_ref`` without its D and z terms):

h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t x_t B_tᵀ  (h ∈ R^{D×N} per sequence),  y_t = h_t C_t.

With ``neg_eigval=True`` the decay exp(Δ_t A) ∈ (0, 1] becomes 2·exp(Δ_t A) − 1 ∈ (−1, 1]
(Grazzi et al. 2025, arXiv:2411.12537, "Diag(2s − 1)"): a state can flip its sign, which a
linear recurrence needs to track parity. The chunk form keeps its structure; a chunk's total
decay is then the running product of its steps' decays, not exp(A ΣΔ).

Forms:

- ``"recurrent"``: ``selective_scan_ref``'s algorithm, one step at a time after forming
  exp(ΔA) and ΔBx for the whole sequence, ``(B, T, D, N)`` each;
- ``"chunk"`` (default): the blocked scan of :mod:`rnnbench.ops.chunked` with exp(ΔA) and
  ΔBx built per chunk step, never for the whole sequence, and one autograd node that keeps
  only the inputs and each chunk's entering state (``(B, ⌈T/C⌉, D, N)``) for its backward,
  which recomputes the states inside the chunks (what the CUDA kernel does in registers);
- ``"native"``: the same algorithm as a C++ CPU kernel (:mod:`rnnbench.ops.native`, built at
  first use): each channel's N states run through time in one pass, the decays computed in
  place; the forward keeps the state entering every 16 steps and the backward reruns each
  such chunk into a small per-channel buffer before walking it in reverse. CPU tensors only.

The backward: with δ_t = ∂L/∂h_t = C_t gy_tᵀ + exp(Δ_{t+1}A) ⊙ δ_{t+1} and X_t = δ_t ⊙
exp(Δ_t A) ⊙ h_{t−1}: ∂C_t = h_tᵀ gy_t, ∂Δ_t = Σ_n A ⊙ X_t + x_t ⊙ (δ_t B_t),
∂x_t = Δ_t ⊙ (δ_t B_t), ∂B_t = δ_tᵀ (Δ_t ⊙ x_t), ∂A = Σ_t Δ_t ⊙ X_t, ∂h_0 = exp(Δ_1 A) ⊙ δ_1.
With negative eigenvalues the decay d_t = 2·exp(Δ_t A) − 1 carries δ back and X_t uses its
derivative, X_t = δ_t ⊙ 2·exp(Δ_t A) ⊙ h_{t−1} = δ_t ⊙ (d_t + 1) ⊙ h_{t−1}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rnnbench.errors import UsageError
from rnnbench.ops import chunked, native
from rnnbench.ops.base import Op, OpParams, check_form, register, require_same_kind, require_tensor
from rnnbench.ops.base import chunk_size as pick_chunk_size  # the argument of the same name shadows it

FORMS = ("recurrent", "chunk", "native")
NAME = "selective_scan"


def selective_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    form: str = "chunk",
    chunk_size: int | None = None,
    neg_eigval: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mamba-1's selective scan.

    Args:
        x: inputs ``(B, T, D)``.
        delta: step sizes Δ ``(B, T, D)`` (after softplus).
        A: the state matrix ``(D, N)`` (negative for a decaying state).
        B: the input projection ``(B, T, N)``.
        C: the output projection ``(B, T, N)``.
        h0: the state before the first step ``(B, D, N)`` (zero when None).
        form: ``"chunk"`` (default), ``"recurrent"`` or ``"native"`` (a C++ CPU kernel, built at
            first use: :mod:`rnnbench.ops.native`).
        chunk_size: the chunk length of ``"chunk"`` (default about √(T/3)).
        neg_eigval: decay 2·exp(ΔA) − 1 ∈ (−1, 1] instead of exp(ΔA) (Grazzi et al. 2025).

    Returns:
        ``(y, h_T)``: outputs ``(B, T, D)`` and the last state ``(B, D, N)``.
    """
    check_form(NAME, form, FORMS)
    x = require_tensor(NAME, "x", x, 3, meaning="(B, T, D)")
    Bt, T, D = x.shape
    require_tensor(NAME, "delta", delta, shape=(Bt, T, D), meaning="(B, T, D), as x")
    A = require_tensor(NAME, "A", A, shape=(D, None), meaning="(D, N)")
    N = A.shape[1]
    require_tensor(NAME, "B", B, shape=(Bt, T, N), meaning="(B, T, N), N from A")
    require_tensor(NAME, "C", C, shape=(Bt, T, N), meaning="(B, T, N), N from A")
    if h0 is not None:
        require_tensor(NAME, "h0", h0, shape=(Bt, D, N), meaning="(B, D, N)")
    require_same_kind(NAME, {"x": x, "delta": delta, "A": A, "B": B, "C": C, "h0": h0})
    if x.is_complex():
        raise UsageError(f"{NAME}: takes real inputs (Mamba's scan has no complex form); got {x.dtype}")
    if T == 0:
        raise UsageError(f"{NAME}: x has no time steps (shape {tuple(x.shape)}); give T >= 1")
    if not isinstance(neg_eigval, bool):
        raise UsageError(f"{NAME}: neg_eigval={neg_eigval!r} must be True or False")
    if form == "recurrent":
        return _recurrent(x, delta, A, B, C, h0, neg_eigval)
    if form == "native":
        native.check_tensors(NAME, {"x": x, "delta": delta, "A": A, "B": B, "C": C, "h0": h0})
        return _Native.apply(x, delta, A, B, C, h0, neg_eigval)
    return _Chunk.apply(x, delta, A, B, C, h0, pick_chunk_size(T, chunk_size, NAME), neg_eigval)


def _recurrent(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    Bm: torch.Tensor,
    Cm: torch.Tensor,
    h0: torch.Tensor | None,
    neg_eigval: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    dA = torch.exp(delta.unsqueeze(-1) * A)  # (B, T, D, N)
    if neg_eigval:
        dA = 2 * dA - 1  # in (−1, 1]
    dBx = delta.unsqueeze(-1) * Bm.unsqueeze(2) * x.unsqueeze(-1)  # (B, T, D, N)
    h = h0 if h0 is not None else x.new_zeros(x.shape[0], *A.shape)
    ys = []
    for dA_t, dBx_t, C_t in zip(dA.unbind(1), dBx.unbind(1), Cm.unbind(1)):
        h = dA_t * h + dBx_t
        ys.append((h * C_t.unsqueeze(1)).sum(-1))  # (B, D)
    return torch.stack(ys, 1), h


LOG2E = 1.4426950408889634  # exp(z) = exp2(z · log2 e); torch's exp2 is vectorised on CPUs where exp is not
# numbers per backward group buffer (C·B·g·N·D): in effect one group, since groups of 1 to 14 of
# the 57 chunks at B = 16, T = 1024, D = 128, N = 16 measured no faster beyond the noise (2026-12-03)
# and change the gradients' rounding; the tests force smaller groups to keep their carry right
GROUP_NUMBERS = 1 << 40


def _decay(delta_j: torch.Tensor, A2: torch.Tensor, out: torch.Tensor, neg: bool = False) -> torch.Tensor:
    """exp(Δ_j A) (``neg``: 2·exp(Δ_j A) − 1) for one chunk step into ``out`` ``(B, n, N, D)``,
    from Δ_j ``(B, n, D)`` and A2 = Aᵀ log2 e."""
    out = torch.mul(delta_j.unsqueeze(-2), A2, out=out).exp2_()
    return out.mul_(2).sub_(1) if neg else out


class _Native(torch.autograd.Function):
    """The native form as one autograd node (``csrc/native.cpp``): it keeps the inputs and the
    state entering every 16 steps ``(B, ⌈T/16⌉, N, D)``."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        delta: torch.Tensor,
        A: torch.Tensor,
        Bm: torch.Tensor,
        Cm: torch.Tensor,
        h0: torch.Tensor | None,
        neg: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # the kernel holds states as (N, D), channels innermost, as the chunk form does
        x, delta, Bm, Cm = (t.contiguous() for t in (x, delta, Bm, Cm))
        At = A.t().contiguous()
        h0 = None if h0 is None else h0.transpose(1, 2).contiguous()
        y, h_T, entering = native.ops().selective_forward(x, delta, At, Bm, Cm, h0, neg)
        ctx.save_for_backward(x, delta, At, Bm, Cm, entering)
        ctx.neg, ctx.has_h0 = neg, h0 is not None
        return y, h_T.transpose(1, 2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: torch.Tensor | None, gh: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        x, delta, At, Bm, Cm, entering = ctx.saved_tensors
        Bt, D, N = x.shape[0], x.shape[2], At.shape[0]
        gy = torch.zeros_like(x) if gy is None else gy.contiguous()
        gh = x.new_zeros(Bt, N, D) if gh is None else gh.transpose(1, 2).contiguous()
        dx, ddelta, dA, dB, dC, dh0 = native.ops().selective_backward(gy, gh, x, delta, At, Bm, Cm, entering, ctx.neg)
        return dx, ddelta, dA.sum(0).t(), dB, dC, dh0.transpose(1, 2) if ctx.has_h0 else None, None


class _Chunk(torch.autograd.Function):
    """The chunk form; states are held as ``(B, n, N, D)`` (D, the longer axis, innermost)."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        delta: torch.Tensor,
        A: torch.Tensor,
        Bm: torch.Tensor,
        Cm: torch.Tensor,
        h0: torch.Tensor | None,
        C: int,
        neg: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        Bt, T, D = x.shape
        N = A.shape[1]
        A2 = A.t() * LOG2E  # (N, D)
        # padding: Δ = 0 (decay 1) and x = 0 leave the state unchanged after T
        Xc, Dl, Bc, Cc = (chunked.to_chunks(t, C) for t in (x, delta, Bm, Cm))  # (C, B, n, ·)
        n = Xc.shape[2]
        us = (Dl * Xc).unsqueeze(-2).unbind(0)  # Δx (B, n, 1, D) per step
        ds, bs, cs = Dl.unbind(0), Bc.unsqueeze(-1).unbind(0), Cc.unsqueeze(-2).unbind(0)
        # 1. every chunk from zero: its end state
        e = us[0] * bs[0]  # (B, n, N, D)
        dA = torch.empty_like(e)
        if neg:  # each chunk's total decay: the running product of its steps' decays
            P = _decay(ds[0], A2, torch.empty_like(e), True)
            for j in range(1, C):
                _decay(ds[j], A2, dA, True)
                e.mul_(dA).addcmul_(us[j], bs[j])
                P.mul_(dA)
        else:
            for j in range(1, C):
                e.mul_(_decay(ds[j], A2, dA)).addcmul_(us[j], bs[j])
            P = _decay(Dl.sum(0), A2, torch.empty_like(e))  # each chunk's total decay exp(A ΣΔ)
        # 2. the carry: the state entering each chunk
        start = None if h0 is None else h0.transpose(1, 2).reshape(Bt, N * D)
        entering = chunked.carry(e.flatten(2), P.flatten(2), start, False).view(Bt, n, N, D)
        # 3. every chunk again from its entering state, reading y_t = C_tᵀ h_t
        Y = Xc.new_empty(C, Bt, n, D)
        ys = Y.unsqueeze(-2).unbind(0)
        h = entering.clone()
        for j in range(C):
            h.mul_(_decay(ds[j], A2, dA, neg)).addcmul_(us[j], bs[j])
            torch.matmul(cs[j], h, out=ys[j])
        ctx.save_for_backward(Xc, Dl, A, Bc, Cc, entering, h0)
        ctx.T, ctx.neg = T, neg
        return chunked.from_chunks(Y, T), h[:, -1].transpose(1, 2).contiguous()

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor, g_last: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        Xc, Dl, A, Bc, Cc, entering, h0 = ctx.saved_tensors
        T, neg = ctx.T, ctx.neg
        C, Bt, n, D = Xc.shape
        N = A.shape[1]
        At, A2 = A.t(), A.t() * LOG2E
        GY = chunked.to_chunks(gy, C)  # (C, B, n, D)
        U = Dl * Xc
        grad_x, grad_delta, grad_B, grad_C = (torch.empty_like(t) for t in (Xc, Dl, Bc, Cc))
        grad_A = Xc.new_zeros(N, D)
        # chunks are taken in groups, last first, so that a group's states and decays stay in cache
        g = max(1, min(n, GROUP_NUMBERS // (C * Bt * N * D)))
        H = Xc.new_empty(C, Bt, g, N, D)
        dA = torch.empty_like(H)
        q = None if g_last is None else g_last.transpose(1, 2).contiguous()  # ∂L/∂h after the last step
        for k1 in range(n, 0, -g):
            k0 = max(0, k1 - g)
            w = k1 - k0
            part = slice(k0, k1)
            ds = [t[:, part] for t in Dl.unbind(0)]
            us = [t[:, part].unsqueeze(-2) for t in U.unbind(0)]
            bs = [t[:, part].unsqueeze(-1) for t in Bc.unbind(0)]
            cs = [t[:, part].unsqueeze(-1) for t in Cc.unbind(0)]
            gys = [t[:, part].unsqueeze(-2) for t in GY.unbind(0)]
            Hg, dAg = H[:, :, :w], dA[:, :, :w]
            # 1. the group's states and decays again
            prev = entering[:, part]
            for j in range(C):
                _decay(ds[j], A2, dAg[j], neg)
                torch.mul(prev, dAg[j], out=Hg[j]).addcmul_(us[j], bs[j])
                prev = Hg[j]
                torch.matmul(Hg[j], gys[j].transpose(-1, -2), out=grad_C[j][:, part].unsqueeze(-1))  # h_tᵀ gy_t
            # 2. δ inside each chunk from zero, backwards: exp(ΔA) δ at each chunk's first step
            local = torch.zeros_like(Hg[0])
            for j in range(C - 1, -1, -1):
                local = torch.addcmul(local, cs[j], gys[j]).mul_(dAg[j])
            P = dAg.prod(0) if neg else _decay(Dl[:, :, part].sum(0), A2, torch.empty_like(local))
            carried = chunked.carry(
                local.flatten(2), P.flatten(2), None if q is None else q.flatten(1), False, reverse=True
            ).view(Bt, w, N, D)
            # 3. δ exactly, backwards, with every gradient
            state = carried
            for j in range(C - 1, -1, -1):
                delta = torch.addcmul(state, cs[j], gys[j])  # δ_t = C_t gy_tᵀ + exp(Δ_{t+1}A) δ_{t+1}
                state = delta * dAg[j]  # exp(Δ_t A) δ_t
                # δ ⊙ ∂d/∂(ΔA) ⊙ h_{t−1}: ∂d/∂(ΔA) = exp(ΔA) = d, or 2·exp(ΔA) = d + 1 with negative eigenvalues
                Xj = (delta * (dAg[j] + 1) if neg else state) * (Hg[j - 1] if j > 0 else entering[:, part])
                dB = torch.matmul(bs[j].transpose(-1, -2), delta).squeeze(-2)  # Bᵀ δ (B, w, D)
                torch.mul(ds[j], dB, out=grad_x[j][:, part])
                torch.addcmul((Xj * At).sum(-2), Xc[j][:, part], dB, out=grad_delta[j][:, part])
                torch.matmul(delta, us[j].transpose(-1, -2), out=grad_B[j][:, part].unsqueeze(-1))  # δ (Δx)
                grad_A.add_(torch.mul(ds[j].unsqueeze(-2), Xj).sum((0, 1)))
            q = state[:, 0]  # exp(ΔA) δ at this group's first step: enters the group before it
        grad_h0 = q.transpose(1, 2) if h0 is not None else None
        grads = [chunked.from_chunks(t, T) for t in (grad_x, grad_delta, grad_B, grad_C)]
        return grads[0], grads[1], grad_A.t(), grads[2], grads[3], grad_h0, None, None


@dataclass(frozen=True)
class Params(OpParams):
    d_state: int = 16  # N
    expand: int = 2  # D = expand × hidden, as in a Mamba block

    def validate(self) -> None:
        from rnnbench.config import require

        require(self.d_state >= 1, f"op.d_state={self.d_state} is impossible; use 1 or more")
        require(self.expand >= 1, f"op.expand={self.expand} is impossible; use 1 or more")


def example(p: Params, batch: int, seq_len: int, hidden: int, generator: torch.Generator, dtype: torch.dtype) -> dict[str, Any]:
    D, N = p.expand * hidden, p.d_state

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    delta = torch.nn.functional.softplus(randn(batch, seq_len, D) - 4)  # Δ about 0.02, as Mamba's init
    A = -torch.arange(1, N + 1, dtype=dtype).repeat(D, 1)  # S4D-real: −(1..N)
    return {"x": randn(batch, seq_len, D), "delta": delta, "A": A, "B": randn(batch, seq_len, N), "C": randn(batch, seq_len, N)}


register(
    Op(
        NAME,
        selective_scan,
        FORMS,
        Params,
        example,
        "h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t x_t B_tᵀ, y_t = h_t C_t",
        "Gu & Dao (2023), arXiv:2312.00752",
    )
)
