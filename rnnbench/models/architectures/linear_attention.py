"""What the linear-attention family's layers share (DeltaNet, Gated DeltaNet, GLA, Mamba-2,
mLSTM, RWKV-7): the short causal convolution with its carried window, fla's L2 and gated RMS
norms, the pre-norm residual layer they sit in, and the checks that the authors' kernels
(flash-linear-attention's Triton kernels, mamba_ssm's CUDA kernels) can run here.

Each architecture's implementations are one layer module with its recurrence passed in: the
``reference`` on the op's ``"recurrent"`` form, ``chunk`` on its ``"chunk"`` form, and ``fla``
or ``cuda`` on the authors' kernel, so every implementation holds the same parameters under
the same names. Kernels are imported when a layer first runs, never at import time.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.errors import UsageError
from rnnbench.models.contract import draw

FLA_EXTRA = "pip install 'rnnbench[fla]' (flash-linear-attention)"
MAMBA_EXTRA = "pip install 'rnnbench[mamba]' (mamba-ssm and causal-conv1d, built against your torch and CUDA)"


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
        raise UsageError(f"{kernel} runs on CUDA tensors; this input is on {x.device}: run with --device cuda, "
                         "or use the chunk implementation")
    if x.dtype == torch.float64:
        raise UsageError(f"{kernel} computes in float32, float16 or bfloat16, not float64; "
                         "compare in float64 through the chunk and reference implementations")


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
        return (F.silu(y) if self.silu else y), xc[:, :, xc.shape[2] - (K - 1):]


class PreNorm(nn.Module):
    """u + mixer(RMSNorm(u)): the pre-norm residual layer of fla's and mamba's blocks. The
    mixer's state passes through."""

    def __init__(self, size: int, mixer: nn.Module, norm: nn.Module | None = None) -> None:
        super().__init__()
        from rnnbench.models.stack import RMSNorm

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


def dt_bias(n: int, generator: torch.Generator, dt_min: float = 1e-3, dt_max: float = 0.1,
            floor: float = 1e-4) -> torch.Tensor:
    """softplus⁻¹ of dt log-uniform in [dt_min, dt_max] (clamped at ``floor``): Mamba's and
    Gated DeltaNet's dt bias."""
    dt = draw((n,), generator, "uniform", math.log(dt_min), math.log(dt_max)).exp().clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))
