"""What the linear-attention family's layers share (DeltaNet, Gated DeltaNet, GLA, Mamba-2,
mLSTM, RWKV-7): the short causal convolution with its carried window, fla's L2 and gated RMS
norms, the q/k/v mixer of fla's layers (:class:`QKVMixer`), the pre-norm residual stack they sit
in, their initialisation and registration, and the checks that the authors' kernels
(flash-linear-attention's Triton kernels, mamba_ssm's CUDA kernels) can run here.

Each architecture's implementations are one layer module with its recurrence (a *rule*) passed
in: the ``reference`` on the op's ``"recurrent"`` form, ``chunk`` on its ``"chunk"`` form, and
``fla`` or ``cuda`` on the authors' kernel (:func:`implementations`), so every implementation
holds the same parameters under the same names. An architecture's module holds what differs:
its parameters, its gates and its op. Kernels are imported when a layer first runs, never at
import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.errors import UsageError
from rnnbench.models.contract import Architecture, Factory, draw, linear_init, register
from rnnbench.models.stack import RMSNorm, Stack
from rnnbench.ops import native

FLA_EXTRA = "pip install 'rnnbench[fla]' (flash-linear-attention)"
MAMBA_EXTRA = "pip install 'rnnbench[mamba]' (mamba-ssm and causal-conv1d, built against your torch and CUDA)"

Rule = Callable[..., tuple[torch.Tensor, Any]]  # (q, k, v, *gates, initial state) -> (o, final state)


def _package(module: str, extra: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"the package {module} is not installed; {extra}"
    if not torch.cuda.is_available():
        return f"its kernels need a CUDA device and this machine has none ({module} is installed)"
    return None


def fla_requirement() -> str | None:
    """None where fla's Triton kernels can run: the package and a CUDA device."""
    return _package("fla", FLA_EXTRA)


def mamba_requirement() -> str | None:
    """None where mamba_ssm's CUDA kernels can run: the package and a CUDA device."""
    return _package("mamba_ssm", MAMBA_EXTRA)


def on_cuda(x: torch.Tensor, kernel: str) -> None:
    """The authors' kernels take CUDA tensors only: one line instead of a Triton traceback."""
    if x.device.type != "cuda":
        raise UsageError(
            f"{kernel} runs on CUDA tensors; this input is on {x.device}: run with --device cuda, or use the chunk implementation"
        )
    if x.dtype == torch.float64:
        raise UsageError(
            f"{kernel} computes in float32, float16 or bfloat16, not float64; "
            "compare in float64 through the chunk and reference implementations"
        )


def l2norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(Σx² + ε) over the last axis: fla's ``l2norm`` (ε = 1e-6), as its layers apply it
    to q and k (``use_qk_l2norm_in_kernel``)."""
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + eps)


def rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class HeadRMSNorm(nn.Module):
    """RMSNorm over each head's last axis with one weight per channel; with a gate g,
    RMSNorm(o)·w·SiLU(g) (fla's ``FusedRMSNormGated``, activation swish)."""

    def __init__(self, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, o: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        y = rms(o, self.eps) * self.weight  # (B, T, H, V)
        return y if g is None else y * F.silu(g)


class ShortConv(nn.Conv1d):
    """Causal depthwise conv1d of width K over ``(B, T, C)``, the last K − 1 inputs carried as
    its state ``(B, C, K − 1)`` (zeros before the first step); optionally SiLU after it."""

    def __init__(self, channels: int, width: int, bias: bool = False, silu: bool = True) -> None:
        super().__init__(channels, channels, width, groups=channels, bias=bias)
        self.silu = silu

    def forward(self, x: torch.Tensor, window: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        K = self.kernel_size[0]
        if window is None:
            window = x.new_zeros(x.shape[0], x.shape[2], K - 1)
        xc = torch.cat([window, x.transpose(1, 2)], 2)  # (B, C, K − 1 + T): shorter pieces than K work too
        y = F.conv1d(xc, self.weight, self.bias, groups=self.groups).transpose(1, 2)  # (B, T, C)
        return (F.silu(y) if self.silu else y), xc[:, :, xc.shape[2] - (K - 1) :]


class PreNorm(nn.Module):
    """u + mixer(RMSNorm(u)): the pre-norm residual layer of fla's and mamba's blocks. The
    mixer's state passes through."""

    def __init__(self, size: int, mixer: nn.Module, norm: nn.Module | None = None) -> None:
        super().__init__()
        self.norm = norm if norm is not None else RMSNorm(size)
        self.mixer = mixer

    def forward(self, u: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        y, state = self.mixer(self.norm(u), state)
        return u + y, state


def normal_(t: torch.Tensor, std: float, generator: torch.Generator) -> None:
    """``t`` ← N(0, std²) from ``generator``."""
    with torch.no_grad():
        t.copy_(draw(t.shape, generator, "normal", 0.0, std))


def fla_init(mixer: nn.Module, generator: torch.Generator, std: float = 0.02) -> None:
    """fla's ``_init_weights`` on one layer: every ``nn.Linear`` and ``nn.Conv1d`` weight
    N(0, 0.02²) (``initializer_range``), biases 0; norms' weights 1."""
    with torch.no_grad():
        for m in mixer.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)):
                normal_(m.weight, std, generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, HeadRMSNorm):
                m.weight.fill_(1.0)


def dt_bias(n: int, generator: torch.Generator, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4) -> torch.Tensor:
    """softplus⁻¹ of dt log-uniform in [dt_min, dt_max] (clamped at ``floor``): Mamba's and
    Gated DeltaNet's dt bias."""
    dt = draw((n,), generator, "uniform", math.log(dt_min), math.log(dt_max)).exp().clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


def conv_init(conv: nn.Conv1d, generator: torch.Generator) -> None:
    """Conv1d's default init from ``generator``: weight then bias U(±1/√fan_in), the fan-in of a
    depthwise conv being its kernel width."""
    bound = 1 / math.sqrt(conv.kernel_size[0])
    with torch.no_grad():
        conv.weight.copy_(draw(conv.weight.shape, generator, "uniform", -bound, bound))
        conv.bias.copy_(draw(conv.bias.shape, generator, "uniform", -bound, bound))


# ---- the q/k/v mixer of fla's layers ----------------------------------------------------------------


def write_strength(proj: nn.Linear, x: torch.Tensor, allow_neg_eigval: bool) -> torch.Tensor:
    """The delta rule's β = σ(W_β x), one per head, doubled with ``allow_neg_eigval`` (fla's × 2:
    β ∈ (0, 2), so the eigenvalue 1 − β‖k‖² along k reaches below 0)."""
    beta = torch.sigmoid(proj(x))  # (B, T, H)
    return beta * 2 if allow_neg_eigval else beta


class QKVMixer(nn.Module):
    """fla's linear-attention layer without its cache plumbing, as DeltaNet, Gated DeltaNet and
    GLA share it: q, k, v = W_q x, W_k x, W_v x (with short convs, each through its conv and SiLU,
    then q and k L2-normalised per head), the rule over H heads with the layer's gates, a head
    RMSNorm (times SiLU(W_g x) where the layer has a ``g_proj``) and W_o.

    A subclass creates its parameters in its own order (the initialisation draws in module order)
    with :meth:`qkv_maps`, :meth:`short_convs` and :meth:`output_maps` beside its own, and
    defines :meth:`gates`, the rule's arguments after q, k and v. The state is
    (window_q, window_k, window_v, S) with short convs, S alone without.
    """

    def __init__(self, rule: Rule, heads: int) -> None:
        super().__init__()
        self.rule, self.heads, self.convolved = rule, heads, False

    def qkv_maps(self, width: int, key: int, value: int) -> None:
        """W_q and W_k (width → key channels over all heads), W_v (width → value), no bias."""
        self.q_proj, self.k_proj = nn.Linear(width, key, bias=False), nn.Linear(width, key, bias=False)
        self.v_proj = nn.Linear(width, value, bias=False)

    def short_convs(self, key: int, value: int, size: int) -> None:
        """The causal convs of width ``size`` over q, k (``key`` channels) and v (``value``)."""
        self.q_conv, self.k_conv, self.v_conv = ShortConv(key, size), ShortConv(key, size), ShortConv(value, size)
        self.convolved = True

    def output_maps(self, head_value: int, value: int, width: int) -> None:
        """The head RMSNorm over ``head_value`` channels and W_o (value → width, no bias)."""
        self.o_norm = HeadRMSNorm(head_value)
        self.o_proj = nn.Linear(value, width, bias=False)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The rule's arguments after q, k, v, from the layer's input ``x`` ``(B, T, D)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        B, T, _ = x.shape
        H = self.heads
        if self.convolved:
            wq, wk, wv, S = state if state is not None else (None,) * 4
            q, wq = self.q_conv(self.q_proj(x), wq)  # (B, T, H·K)
            k, wk = self.k_conv(self.k_proj(x), wk)
            v, wv = self.v_conv(self.v_proj(x), wv)  # (B, T, H·V)
            q, k = (l2norm(t.reshape(B, T, H, -1)) for t in (q, k))  # (B, T, H, K)
            v = v.reshape(B, T, H, -1)  # (B, T, H, V)
        else:
            S = state
            q, k, v = (proj(x).reshape(B, T, H, -1) for proj in (self.q_proj, self.k_proj, self.v_proj))
        o, S = self.rule(q, k, v, *self.gates(x), S)  # (B, T, H, V)
        g_proj = getattr(self, "g_proj", None)
        o = self.o_norm(o, None if g_proj is None else g_proj(x).reshape(B, T, H, -1))
        return self.o_proj(o.reshape(B, T, -1)), ((wq, wk, wv, S) if self.convolved else S)


# ---- the stack, its initialisation, the implementations and the registration ------------------------


def stack(input_size: int, p: Any, mixer: Callable[[], nn.Module], norm: Callable[[int], nn.Module] = RMSNorm) -> Stack:
    """An encoder Linear(I, D), ``p.num_layers`` pre-norm residual layers u + mixer(norm(u)) and a
    final norm: the arrangement of fla's and mamba's models (no MLP between the layers: rnnbench's
    blocks compare the mixers)."""
    D = p.hidden_size
    return Stack(
        [PreNorm(D, mixer(), norm=norm(D)) for _ in range(p.num_layers)], encoder=nn.Linear(input_size, D), final=norm(D)
    )


def stacked(mixer: Callable[[Any, Rule], nn.Module], norm: Callable[[int], nn.Module] = RMSNorm) -> Callable[[Rule], Factory]:
    """``build(rule)``: the factory of the :func:`stack` of ``mixer(params, rule)`` layers."""
    return lambda rule: lambda input_size, p: stack(input_size, p, lambda: mixer(p, rule), norm)


def init_stack(
    core: nn.Module,
    generator: torch.Generator,
    mixer_init: Callable[[nn.Module, torch.Generator], None],
    norm_weight: float = 1.0,
) -> None:
    """A :func:`stack`'s initialisation: the encoder as PyTorch's Linear, then layer by layer the
    mixer by ``mixer_init`` and the pre-norm's weight ``norm_weight``, last the final norm's."""
    linear_init(core.encoder, generator)
    with torch.no_grad():
        for layer in core.layers:
            mixer_init(layer.mixer, generator)
            layer.norm.weight.fill_(norm_weight)
        core.final.weight.fill_(norm_weight)


def op_rule(op: Callable[..., tuple[torch.Tensor, Any]], form: str, **fixed: Any) -> Rule:
    """The op through its ``form``: ``rule(*inputs, state)`` is ``op(*inputs, initial_state=state,
    form=form, **fixed)``."""
    return lambda *args: op(*args[:-1], initial_state=args[-1], form=form, **fixed)


def fla_kernel(
    module: str, name: str, scale: float | None = None, arrange: Callable[..., tuple[torch.Tensor, ...]] | None = None
) -> Rule:
    """fla's kernel ``module.name`` as a rule: ``name(*inputs, scale=scale, initial_state=S0,
    output_final_state=True)`` on CUDA tensors, imported when it first runs, the scale 1/√K (K the
    last axis of the first input) unless given, the inputs put in the kernel's order by
    ``arrange`` where it differs from the rule's; the final state in the inputs' dtype."""

    def rule(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
        *inputs, S0 = args
        first = inputs[0]
        on_cuda(first, f"fla's {name}")
        kernel = getattr(importlib.import_module(module), name)
        o, S = kernel(
            *(arrange(*inputs) if arrange is not None else inputs),
            scale=first.shape[-1] ** -0.5 if scale is None else scale,
            initial_state=S0,
            output_final_state=True,
        )
        return o, S.to(first.dtype)

    return rule


def implementations(
    build: Callable[[Rule], Factory], op: Callable[..., tuple[torch.Tensor, Any]], kernel: Rule | None = None, **fixed: Any
) -> dict[str, Factory]:
    """``reference`` (the op's recurrent form, one step at a time), ``chunk`` (its chunk form) and,
    given the authors' ``kernel``, ``fla``: one ``build(rule)`` each, so all hold the same
    parameters under the same names. ``fixed``: the op's keyword arguments the architecture fixes."""
    impls = {"reference": build(op_rule(op, "recurrent", **fixed)), "chunk": build(op_rule(op, "chunk", **fixed))}
    if kernel is not None:
        impls["fla"] = build(kernel)
    return impls


def register_family(implementations: Mapping[str, Factory], **fields: Any) -> Architecture:
    """Register a member of the family (or Mamba): the chunk form the default on every device (an
    authors' kernel runs when it is named), an ``fla`` implementation needing fla's kernels and a
    ``cuda`` one mamba_ssm's, a ``native`` one rnnbench's C++ CPU kernel (a compiler),
    ``hidden_size`` features out of the core."""
    kernels = {"fla": fla_requirement, "cuda": mamba_requirement, "native": native.unavailable}
    return register(
        Architecture(
            implementations=implementations,
            defaults={"cpu": "chunk", "cuda": "chunk"},
            requires={impl: need for impl, need in kernels.items() if impl in implementations},
            output_size=lambda p: p.hidden_size,
            **fields,
        )
    )
