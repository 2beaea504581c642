"""The worked examples: tiny inputs and fixed weights, one or more per registered architecture.

This module needs only NumPy, so the scripts that ran the authors' reference code (outside
the repository) could import exactly these inputs and weights. Weights are named as the
``reference`` core names its parameters (``core.state_dict()`` keys) and loaded by name.

Fixed numbers are written with :func:`pattern`: the k-th number of a tensor (C order) is
``scale·(((7k + 13·seed) mod 17) − 8) + offset``, multiples of ``scale`` in
[−8·scale, 8·scale] that no two tensors share the order of, and that a person can list by hand.
Values that must sit in a range (LRU's ν, θ, γ; Mamba's A_log) are written as literals.

Where the expected numbers come from is the example's ``source``: ``"paper"`` means
:mod:`paper_equations` computes them in plain NumPy from the paper's equations; anything
else names the authors' code and :mod:`authors_numbers` holds what it printed.

To add an architecture: add an :class:`Example` to :data:`EXAMPLES` (and, if its numbers
come from its authors' code, their output to ``authors_numbers.NUMBERS``); see
docs/worked_examples.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def pattern(shape: tuple[int, ...], seed: int, scale: float = 0.1, offset: float = 0.0) -> np.ndarray:
    """Fixed float64 numbers: the k-th is scale·(((7k + 13·seed) mod 17) − 8) + offset."""
    n = int(np.prod(shape)) if shape else 1
    k = np.arange(n)
    return (scale * (((7 * k + 13 * seed) % 17) - 8) + offset).reshape(shape).astype(np.float64)


def loss_weights(shape: tuple[int, ...]) -> np.ndarray:
    """w in the gradient's loss L = Σ y⊙w + Σ (every number of the final state)."""
    return pattern(shape, 99, scale=0.125)


@dataclass(frozen=True)
class Example:
    """One worked example: ``model`` built with ``params`` and ``input_size``, every parameter
    of its ``reference`` core set from ``weights`` by name, run in float64 on ``x``
    ``(B, T, I)`` from ``state0`` (None: the core's zero state; else the state's nested tuple
    of arrays). Compared with the expected output, final state and, when ``grad``, the
    gradient of L = Σ y⊙w + Σ state (w = :func:`loss_weights`) with respect to the input
    and every parameter."""

    id: str
    model: str
    params: dict[str, Any]
    x: np.ndarray
    weights: dict[str, np.ndarray]
    source: str  # "paper", or the authors' repository, file and commit that produced the numbers
    state0: Any = None
    grad: bool = False
    note: str = ""
    tolerance: dict[str, float] = field(default_factory=dict)  # overrides of pinning.TOLERANCE

    @property
    def input_size(self) -> int:
        return int(self.x.shape[-1])


def _x(B: int, T: int, I: int, seed: int = 1, scale: float = 0.25) -> np.ndarray:
    return pattern((B, T, I), seed, scale)


def classic_weights(
    gates: int, I: int, H: int, layers: int, bidirectional: bool, seed: int = 2, scale: float = 0.1
) -> dict[str, np.ndarray]:
    """torch.nn.RNN/LSTM/GRU's parameter names and shapes (the reference core uses them too)."""
    D = 2 if bidirectional else 1
    out: dict[str, np.ndarray] = {}
    for layer in range(layers):
        in_size = I if layer == 0 else H * D
        for suffix in ["", "_reverse"] if bidirectional else [""]:
            name = f"l{layer}{suffix}"
            shapes = {
                "weight_ih": (gates * H, in_size),
                "weight_hh": (gates * H, H),
                "bias_ih": (gates * H,),
                "bias_hh": (gates * H,),
            }
            for kind, shape in shapes.items():
                out[f"{kind}_{name}"] = pattern(shape, seed, scale)
                seed += 1
    return out


# relu is not analytic: its gradients come from central differences (paper_equations.gradient)
FINITE_DIFFERENCES = {"grad_rtol": 1e-6, "grad_atol": 1e-8}

# ---- the classic families: numbers from the paper's equations (paper_equations.py) -----------

CLASSIC = [
    Example(
        "rnn-tanh-1layer",
        "rnn",
        {"hidden_size": 3, "num_layers": 1},
        _x(2, 3, 2),
        classic_weights(1, 2, 3, 1, False, scale=0.2),
        "paper",
        grad=True,
    ),
    Example(
        "rnn-relu-2layers-h0",
        "rnn",
        {"hidden_size": 3, "num_layers": 2, "nonlinearity": "relu"},
        _x(2, 3, 2),
        classic_weights(1, 2, 3, 2, False, seed=5, scale=0.2),
        "paper",
        state0=pattern((2, 2, 3), 40, 0.1),
        grad=True,
        tolerance=FINITE_DIFFERENCES,
    ),
    Example(
        "birnn-tanh-2layers",
        "birnn",
        {"hidden_size": 2, "num_layers": 2},
        _x(2, 3, 2),
        classic_weights(1, 2, 2, 2, True, scale=0.2),
        "paper",
        grad=True,
    ),
    Example(
        "lstm-1layer-h0c0",
        "lstm",
        {"hidden_size": 2, "num_layers": 1},
        _x(2, 3, 2),
        classic_weights(4, 2, 2, 1, False, scale=0.15),
        "paper",
        state0=(pattern((1, 2, 2), 41, 0.1), pattern((1, 2, 2), 42, 0.2)),
        grad=True,
    ),
    Example(
        "lstm-2layers",
        "lstm",
        {"hidden_size": 3, "num_layers": 2},
        _x(2, 4, 2),
        classic_weights(4, 2, 3, 2, False, seed=7, scale=0.15),
        "paper",
    ),
    Example(
        "bilstm-2layers",
        "bilstm",
        {"hidden_size": 2, "num_layers": 2},
        _x(2, 3, 2),
        classic_weights(4, 2, 2, 2, True, scale=0.15),
        "paper",
        grad=True,
    ),
    Example(
        "gru-1layer-h0",
        "gru",
        {"hidden_size": 3, "num_layers": 1},
        _x(2, 3, 2),
        classic_weights(3, 2, 3, 1, False, scale=0.15),
        "paper",
        state0=pattern((1, 2, 3), 43, 0.2),
        grad=True,
    ),
    Example(
        "gru-2layers",
        "gru",
        {"hidden_size": 2, "num_layers": 2},
        _x(2, 4, 2),
        classic_weights(3, 2, 2, 2, False, seed=9, scale=0.15),
        "paper",
    ),
    Example(
        "bigru-2layers",
        "bigru",
        {"hidden_size": 2, "num_layers": 2},
        _x(2, 3, 2),
        classic_weights(3, 2, 2, 2, True, scale=0.15),
        "paper",
        grad=True,
    ),
    # IRNN: the relu Elman equations with weights away from the identity init (the init is
    # checked in test_init_distributions.py)
    Example(
        "irnn-2layers",
        "irnn",
        {"hidden_size": 3, "num_layers": 2},
        _x(2, 3, 2),
        classic_weights(1, 2, 3, 2, False, seed=11, scale=0.2),
        "paper",
        grad=True,
        tolerance=FINITE_DIFFERENCES,
    ),
]


# ---- IndRNN, expRNN: numbers from the authors' code (authors_numbers.py) ----------------------

INDRNN = Example(
    "indrnn-2layers",
    "indrnn",
    {"hidden_size": 3, "num_layers": 2},
    _x(2, 3, 2),
    {
        "layers.0.weight_ih": pattern((3, 2), 3, 0.2),
        "layers.0.bias": pattern((3,), 4, 0.1),
        "layers.0.weight_hh": np.array([0.5, -0.3, 1.2]),
        "layers.1.weight_ih": pattern((3, 3), 5, 0.2),
        "layers.1.bias": pattern((3,), 6, 0.1, 0.2),
        "layers.1.weight_hh": np.array([0.9, 1.1, -0.6]),
    },
    "Sunnydreamrain/IndRNN_pytorch IndRNN_onlyrecurrent.py @ 9b9cb4cd6b42bfedb90605b51a962ea44443efdd",
    grad=True,
)

EXPRNN = Example(
    "exprnn-2layers",
    "exprnn",
    {"hidden_size": 3, "num_layers": 2},
    _x(2, 3, 2),
    {
        "layers.0.weight_ih": pattern((3, 2), 3, 0.3),
        "layers.0.log_recurrent": pattern((3, 3), 4, 0.3),
        "layers.0.bias": pattern((3,), 5, 0.05),
        "layers.1.weight_ih": pattern((3, 3), 6, 0.3),
        "layers.1.log_recurrent": pattern((3, 3), 7, 0.3),
        "layers.1.bias": pattern((3,), 8, 0.05),
    },
    "Lezcano/expRNN orthogonal.py (OrthogonalRNN), trivializations.py (expm) @ 830ec836521d0c295436dcafc3f0b3deea36c83c",
    grad=True,
    note="rnnbench writes B h as the paper does (h @ B.T); the authors multiply row vectors, h @ B, "
    "so their A is the negative of rnnbench's log_recurrent (expm(-S) = expm(S)ᵀ).",
    # the authors' expm32 is a Padé approximant tuned for float32: on these A it differs from
    # torch.linalg.matrix_exp by up to 6e-10, which moves the outputs by up to ~1e-8 relative
    tolerance={"rtol": 1e-7, "atol": 1e-9, "grad_rtol": 1e-6, "grad_atol": 1e-8},
)


# ---- minGRU, minLSTM ----------------------------------------------------------------------------


def _min_weights(gates: int, I: int, H: int, seed: int) -> dict[str, np.ndarray]:
    return {
        "layers.0.proj.weight": pattern((gates * H, I), seed, 0.3),
        "layers.0.proj.bias": pattern((gates * H,), seed + 1, 0.1),
        "layers.1.proj.weight": pattern((gates * H, H), seed + 2, 0.3),
        "layers.1.proj.bias": pattern((gates * H,), seed + 3, 0.1),
    }


MINRNNS_SOURCE = "BorealisAI/minRNNs models/minRNNs.py and models/associative_scan.py @ ff52e9de9b470ad750fcf09d3c140a6ae29aa1ce"
MINGRU = Example(
    "mingru-2layers",
    "mingru",
    {"hidden_size": 3, "num_layers": 2},
    _x(2, 3, 2, scale=0.5),
    _min_weights(2, 2, 3, 3),
    MINRNNS_SOURCE,
    grad=True,
    note="layer 2 adds its input back (rnnbench's stacking, minrnn.py); each layer's recurrence is "
    "the authors' minGRU with expansion 1 and to_out the identity",
)
MINLSTM = Example(
    "minlstm-2layers",
    "minlstm",
    {"hidden_size": 3, "num_layers": 2},
    _x(2, 3, 2, scale=0.5),
    _min_weights(3, 2, 3, 8),
    MINRNNS_SOURCE,
    grad=True,
    note="as minGRU; the authors' minLSTM with use_coeff_norm=True (f' = f/(f+i), i' = i/(f+i))",
)


# ---- LRU --------------------------------------------------------------------------------------


def _lru_layer(prefix: str, H: int, moduli: list[float], phases: list[float], seed: int) -> dict[str, np.ndarray]:
    r = np.array(moduli)
    return {
        f"{prefix}.norm.weight": pattern((H,), seed, 0.1, 1.0),
        f"{prefix}.norm.bias": pattern((H,), seed + 1, 0.1),
        f"{prefix}.nu_log": np.log(-np.log(r)),
        f"{prefix}.theta_log": np.log(np.array(phases)),
        f"{prefix}.gamma_log": np.log(np.sqrt(1 - r**2)) + pattern((len(r),), seed + 2, 0.05),
        f"{prefix}.B_re": pattern((len(r), H), seed + 3, 0.2),
        f"{prefix}.B_im": pattern((len(r), H), seed + 4, 0.2),
        f"{prefix}.C_re": pattern((H, len(r)), seed + 5, 0.2),
        f"{prefix}.C_im": pattern((H, len(r)), seed + 6, 0.2),
        f"{prefix}.D": pattern((H,), seed + 7, 0.2),
        f"{prefix}.out1.weight": pattern((H, H), seed + 8, 0.2),
        f"{prefix}.out1.bias": pattern((H,), seed + 9, 0.1),
        f"{prefix}.out2.weight": pattern((H, H), seed + 10, 0.2),
        f"{prefix}.out2.bias": pattern((H,), seed + 11, 0.1),
    }


LRU = Example(
    "lru-2layers",
    "lru",
    {"hidden_size": 2, "num_layers": 2, "d_state": 2},
    _x(2, 3, 2, scale=0.5),
    {
        "encoder.weight": pattern((2, 2), 3, 0.3),
        "encoder.bias": pattern((2,), 4, 0.1),
        **_lru_layer("layers.0", 2, [0.6, 0.95], [0.4, 2.5], 10),
        **_lru_layer("layers.1", 2, [0.8, 0.3], [1.3, 0.2], 30),
    },
    "NicolasZucchet/minimal-LRU lru/model.py (StackedEncoderModel, prenorm, layer norm) @ "
    "bbd71b1104c399ec0d13819527d791949e66f599",
    grad=True,
    note="run in float64 with flax's LayerNorm epsilon set to PyTorch's 1e-5 and flax's GELU made exact "
    "(approximate=False): the two places where rnnbench's LRU layer differs from the authors' code",
)


# ---- Mamba ------------------------------------------------------------------------------------


def _mamba_layer(prefix: str, D: int, E: int, N: int, K: int, seed: int) -> dict[str, np.ndarray]:
    ED, R = E * D, math.ceil(D / 16)
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1, 1.0),
        f"{prefix}.in_proj.weight": pattern((2 * ED, D), seed + 1, 0.2),
        f"{prefix}.conv.weight": pattern((ED, 1, K), seed + 2, 0.2),
        f"{prefix}.conv.bias": pattern((ED,), seed + 3, 0.1),
        f"{prefix}.x_proj.weight": pattern((R + 2 * N, ED), seed + 4, 0.2),
        f"{prefix}.dt_proj.weight": pattern((ED, R), seed + 5, 0.2),
        f"{prefix}.dt_proj.bias": pattern((ED,), seed + 6, 0.2, -0.5),
        f"{prefix}.A_log": np.log(np.arange(1, N + 1, dtype=np.float64))[None, :] + pattern((ED, N), seed + 7, 0.05),
        f"{prefix}.D": pattern((ED,), seed + 8, 0.1, 1.0),
        f"{prefix}.out_proj.weight": pattern((D, ED), seed + 9, 0.2),
    }


MAMBA = Example(
    "mamba-2layers",
    "mamba",
    {"hidden_size": 2, "num_layers": 2, "d_state": 2, "expand": 2, "d_conv": 3},
    _x(2, 4, 2, scale=0.5),
    {
        "encoder.weight": pattern((2, 2), 3, 0.3),
        "encoder.bias": pattern((2,), 4, 0.1),
        **_mamba_layer("layers.0", 2, 2, 2, 3, 10),
        **_mamba_layer("layers.1", 2, 2, 2, 3, 30),
        "final.weight": pattern((2,), 50, 0.1, 1.0),
    },
    "state-spaces/mamba mamba_ssm/modules/mamba_simple.py (Mamba, use_fast_path=False) with "
    "mamba_ssm/ops/selective_scan_interface.py (selective_scan_ref) @ e9594ce1c732d97440f0332fdc43170a2294dbfa",
    grad=True,
    note="the mixer is the authors' Mamba module; the encoder, the pre-norm residual blocks (mamba_ssm/modules/"
    "block.py) and the final RMSNorm (eps 1e-5, mixer_seq_simple.py) written in the script around it",
)


# ---- the linear-attention family (their numbers: linear_attention_equations.py) ------------------


def _fla_qkv(prefix: str, D: int, Kd: int, Vd: int, H: int, conv: int, seed: int) -> dict[str, np.ndarray]:
    """q, k, v maps, their short convs and β's map (DeltaNet, Gated DeltaNet)."""
    return {
        f"{prefix}.q_proj.weight": pattern((Kd, D), seed, 0.3),
        f"{prefix}.k_proj.weight": pattern((Kd, D), seed + 1, 0.3),
        f"{prefix}.v_proj.weight": pattern((Vd, D), seed + 2, 0.3),
        f"{prefix}.b_proj.weight": pattern((H, D), seed + 3, 0.3),
        f"{prefix}.q_conv.weight": pattern((Kd, 1, conv), seed + 4, 0.15, 0.2),
        f"{prefix}.k_conv.weight": pattern((Kd, 1, conv), seed + 5, 0.15, 0.2),
        f"{prefix}.v_conv.weight": pattern((Vd, 1, conv), seed + 6, 0.15, 0.2),
    }


def _deltanet_layer(prefix: str, D: int, H: int, conv: int, seed: int) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1, 1.0),
        **_fla_qkv(prefix + ".mixer", D, D, D, H, conv, seed + 1),
        f"{prefix}.mixer.o_norm.weight": pattern((D // H,), seed + 8, 0.1, 1.0),
        f"{prefix}.mixer.o_proj.weight": pattern((D, D), seed + 9, 0.3),
    }


def _gdn_layer(prefix: str, D: int, H: int, K: int, V: int, conv: int, seed: int) -> dict[str, np.ndarray]:
    m = prefix + ".mixer"
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1, 1.0),
        **_fla_qkv(m, D, H * K, H * V, H, conv, seed + 1),
        f"{m}.a_proj.weight": pattern((H, D), seed + 8, 0.3),
        f"{m}.A_log": pattern((H,), seed + 9, 0.2, 0.3),
        f"{m}.dt_bias": pattern((H,), seed + 10, 0.2, -1.0),
        f"{m}.g_proj.weight": pattern((H * V, D), seed + 11, 0.3),
        f"{m}.o_norm.weight": pattern((V,), seed + 12, 0.1, 1.0),
        f"{m}.o_proj.weight": pattern((D, H * V), seed + 13, 0.3),
    }


def _gla_layer(prefix: str, D: int, Kd: int, Vd: int, H: int, rank: int, seed: int) -> dict[str, np.ndarray]:
    m = prefix + ".mixer"
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1, 1.0),
        f"{m}.q_proj.weight": pattern((Kd, D), seed + 1, 0.3),
        f"{m}.k_proj.weight": pattern((Kd, D), seed + 2, 0.3),
        f"{m}.v_proj.weight": pattern((Vd, D), seed + 3, 0.3),
        f"{m}.g_proj.weight": pattern((Vd, D), seed + 4, 0.3),
        f"{m}.gk_proj.0.weight": pattern((rank, D), seed + 5, 0.4),
        f"{m}.gk_proj.1.weight": pattern((Kd, rank), seed + 6, 0.4),
        f"{m}.gk_proj.1.bias": pattern((Kd,), seed + 7, 0.3, 0.5),
        f"{m}.o_norm.weight": pattern((Vd // H,), seed + 8, 0.1, 1.0),
        f"{m}.o_proj.weight": pattern((D, Vd), seed + 9, 0.3),
    }


def _mamba2_layer(prefix: str, D: int, E: int, H: int, G: int, N: int, conv: int, seed: int) -> dict[str, np.ndarray]:
    m = prefix + ".mixer"
    C = E + 2 * G * N
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1, 1.0),
        f"{m}.in_proj.weight": pattern((2 * E + 2 * G * N + H, D), seed + 1, 0.3),
        f"{m}.conv.weight": pattern((C, 1, conv), seed + 2, 0.15, 0.2),
        f"{m}.conv.bias": pattern((C,), seed + 3, 0.1),
        f"{m}.dt_bias": pattern((H,), seed + 4, 0.2, -0.5),
        f"{m}.A_log": np.log(np.array([1.5, 4.0][:H])) + pattern((H,), seed + 5, 0.05),
        f"{m}.D": pattern((H,), seed + 6, 0.1, 1.0),
        f"{m}.norm.weight": pattern((E,), seed + 7, 0.1, 1.0),
        f"{m}.out_proj.weight": pattern((D, E), seed + 8, 0.3),
    }


def _mlstm_layer(prefix: str, D: int, E: int, H: int, block: int, conv: int, seed: int) -> dict[str, np.ndarray]:
    m = prefix + ".mixer"
    nb = E // block
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1),  # xlstm's LayerNorm: the weight is 1 + this
        f"{m}.proj_up.weight": pattern((2 * E, D), seed + 1, 0.3),
        f"{m}.q_proj.weight": pattern((nb, block, block), seed + 2, 0.3),
        f"{m}.k_proj.weight": pattern((nb, block, block), seed + 3, 0.3),
        f"{m}.v_proj.weight": pattern((nb, block, block), seed + 4, 0.3),
        f"{m}.conv.weight": pattern((E, 1, conv), seed + 5, 0.15, 0.2),
        f"{m}.conv.bias": pattern((E,), seed + 6, 0.1),
        f"{m}.igate.weight": pattern((H, 3 * E), seed + 7, 0.2),
        f"{m}.igate.bias": pattern((H,), seed + 8, 0.3),
        f"{m}.fgate.weight": pattern((H, 3 * E), seed + 9, 0.2),
        f"{m}.fgate.bias": pattern((H,), seed + 10, 0.3, 2.0),
        f"{m}.outnorm.weight": pattern((E,), seed + 11, 0.1),
        f"{m}.learnable_skip": pattern((E,), seed + 12, 0.1, 1.0),
        f"{m}.proj_down.weight": pattern((D, E), seed + 13, 0.3),
    }


def _rwkv7_block(prefix: str, D: int, N: int, rank: int, ffn: int, first: bool, seed: int) -> dict[str, np.ndarray]:
    a, f = prefix + ".att", prefix + ".ffn"
    out = {
        f"{prefix}.ln1.weight": pattern((D,), seed, 0.1, 1.0),
        f"{prefix}.ln1.bias": pattern((D,), seed + 1, 0.1),
        f"{prefix}.ln2.weight": pattern((D,), seed + 2, 0.1, 1.0),
        f"{prefix}.ln2.bias": pattern((D,), seed + 3, 0.1),
    }
    if first:
        out |= {f"{prefix}.ln0.weight": pattern((D,), seed + 4, 0.1, 1.0), f"{prefix}.ln0.bias": pattern((D,), seed + 5, 0.1)}
    for i, name in enumerate(("x_r", "x_w", "x_k", "x_v", "x_a", "x_g")):  # token-shift mixes in [0.1, 0.9]
        out[f"{a}.{name}"] = pattern((D,), seed + 6 + i, 0.05, 0.5)
    loras = [("w", -0.5), ("a", 0.0), ("g", None)] + ([] if first else [("v", 0.3)])
    for i, (name, bias) in enumerate(loras):
        out[f"{a}.{name}1"] = pattern((D, rank), seed + 12 + 3 * i, 0.3)
        out[f"{a}.{name}2"] = pattern((rank, D), seed + 13 + 3 * i, 0.3)
        if bias is not None:
            out[f"{a}.{name}0"] = pattern((D,), seed + 14 + 3 * i, 0.2, bias)
    out |= {
        f"{a}.k_k": pattern((D,), seed + 30, 0.05, 0.7),
        f"{a}.k_a": pattern((D,), seed + 31, 0.05, 1.0),
        f"{a}.r_k": pattern((D // N, N), seed + 32, 0.1),
        f"{a}.receptance.weight": pattern((D, D), seed + 33, 0.3),
        f"{a}.key.weight": pattern((D, D), seed + 34, 0.3),
        f"{a}.value.weight": pattern((D, D), seed + 35, 0.3),
        f"{a}.output.weight": pattern((D, D), seed + 36, 0.3),
        f"{a}.ln_x.weight": pattern((D,), seed + 37, 0.1, 1.0),
        f"{a}.ln_x.bias": pattern((D,), seed + 38, 0.1),
        f"{f}.x_k": pattern((D,), seed + 39, 0.05, 0.5),
        f"{f}.key.weight": pattern((ffn * D, D), seed + 40, 0.3),
        f"{f}.value.weight": pattern((D, ffn * D), seed + 41, 0.3),
    }
    return out


def _enc(D: int, I: int = 2) -> dict[str, np.ndarray]:
    return {"encoder.weight": pattern((D, I), 3, 0.3), "encoder.bias": pattern((D,), 4, 0.1)}


LA_SOURCE = "paper"  # the layers' equations in NumPy, one sequence and one step at a time (linear_attention_equations.py)
DELTANET = Example(
    "deltanet-2layers",
    "deltanet",
    {"hidden_size": 4, "num_heads": 2, "conv_size": 3, "num_layers": 2},
    _x(2, 4, 2, scale=0.5),
    {
        **_enc(4),
        **_deltanet_layer("layers.0", 4, 2, 3, 10),
        **_deltanet_layer("layers.1", 4, 2, 3, 30),
        "final.weight": pattern((4,), 50, 0.1, 1.0),
    },
    LA_SOURCE,
    grad=True,
    note="fla layers/delta_net.py's layer (silu convs without bias, l2norm ε 1e−6, RMSNorm per head ε 1e−5) in "
    "pre-norm residual blocks; T = 4 > conv_size − 1 = 2, so the conv windows hold inputs",
)
DELTANET_NEG = Example(
    "deltanet-neg-eigval",
    "deltanet",
    {"hidden_size": 4, "num_heads": 1, "conv_size": 2, "allow_neg_eigval": True},
    _x(2, 3, 2, seed=5, scale=0.5),
    {**_enc(4), **_deltanet_layer("layers.0", 4, 1, 2, 60), "final.weight": pattern((4,), 70, 0.1, 1.0)},
    LA_SOURCE,
    grad=True,
    note="β = 2σ(W_β x): eigenvalues of I − βkkᵀ in [−1, 1]",
)
GATED_DELTANET = Example(
    "gated_deltanet-2layers",
    "gated_deltanet",
    {"hidden_size": 3, "num_heads": 1, "head_dim": 2, "expand_v": 1.5, "conv_size": 2, "num_layers": 2},
    _x(2, 3, 2, scale=0.5),
    {
        **_enc(3),
        **_gdn_layer("layers.0", 3, 1, 2, 3, 2, 10),
        **_gdn_layer("layers.1", 3, 1, 2, 3, 2, 30),
        "final.weight": pattern((3,), 50, 0.1, 1.0),
    },
    LA_SOURCE,
    grad=True,
    note="fla layers/gated_deltanet.py (use_gate): g = −exp(A_log)·softplus(W_a x + dt_bias), the state decays "
    "before the delta update, output RMSNorm(o)·w·SiLU(W_g x)",
)
GLA = Example(
    "gla-2layers",
    "gla",
    {"hidden_size": 4, "num_heads": 1, "expand_k": 0.5, "gate_rank": 2, "num_layers": 2},
    _x(2, 3, 2, scale=0.5),
    {
        **_enc(4),
        **_gla_layer("layers.0", 4, 2, 4, 1, 2, 10),
        **_gla_layer("layers.1", 4, 2, 4, 1, 2, 30),
        "final.weight": pattern((4,), 50, 0.1, 1.0),
    },
    LA_SOURCE,
    grad=True,
    note="fla layers/gla.py: g = logσ(W₂W₁x + b)/16 per key channel, output RMSNorm ⊙ swish gate",
)
MAMBA2 = Example(
    "mamba2-2layers",
    "mamba2",
    {"hidden_size": 2, "expand": 2, "headdim": 2, "d_state": 2, "d_conv": 3, "num_layers": 2},
    _x(2, 4, 2, scale=0.5),
    {
        **_enc(2),
        **_mamba2_layer("layers.0", 2, 4, 2, 1, 2, 3, 10),
        **_mamba2_layer("layers.1", 2, 4, 2, 1, 2, 3, 30),
        "final.weight": pattern((2,), 50, 0.1, 1.0),
    },
    LA_SOURCE,
    grad=True,
    note="mamba modules/mamba2.py's forward (rmsnorm, norm_before_gate=False, D per head) and its step()'s SSM update",
)
MAMBA2_NEG = Example(
    "mamba2-neg-eigval",
    "mamba2",
    {"hidden_size": 2, "expand": 2, "headdim": 2, "d_state": 2, "d_conv": 2, "neg_eigval": True},
    _x(2, 4, 2, seed=6, scale=0.5),
    {**_enc(2), **_mamba2_layer("layers.0", 2, 4, 2, 1, 2, 2, 60), "final.weight": pattern((2,), 70, 0.1, 1.0)},
    LA_SOURCE,
    grad=True,
    note="decay 2·exp(dt A) − 1 ∈ (−1, 1] (Grazzi et al. 2025)",
)
MLSTM = Example(  # D = 3: a LayerNorm over 2 channels would map every output to about ±(1, −1)
    "mlstm-2layers",
    "mlstm",
    {"hidden_size": 3, "num_heads": 2, "qkv_blocksize": 3, "conv_size": 3, "num_layers": 2},
    _x(2, 4, 2, scale=0.5),
    {
        **_enc(3),
        **_mlstm_layer("layers.0", 3, 6, 2, 3, 3, 10),
        **_mlstm_layer("layers.1", 3, 6, 2, 3, 3, 30),
        "final.weight": pattern((3,), 50, 0.1),
    },
    LA_SOURCE,
    grad=True,
    note="xlstm blocks/mlstm/layer.py and cell.py with backends.py::recurrent_step_stabilized_simple stepped from "
    "C = n = m = 0; xlstm's LayerNorms (weight 1 + w, no bias) around it",
)
RWKV7 = Example(
    "rwkv7-2layers",
    "rwkv7",
    {
        "hidden_size": 4,
        "head_size": 2,
        "decay_rank": 2,
        "a_rank": 2,
        "v_rank": 2,
        "gate_rank": 2,
        "ffn_ratio": 2,
        "num_layers": 2,
    },
    _x(2, 3, 2, scale=0.5),
    {
        **_enc(4),
        **_rwkv7_block("layers.0", 4, 2, 2, 2, True, 10),
        **_rwkv7_block("layers.1", 4, 2, 2, 2, False, 60),
        "final.weight": pattern((4,), 110, 0.1, 1.0),
        "final.bias": pattern((4,), 111, 0.1),
    },
    LA_SOURCE,
    grad=True,
    note="RWKV-LM RWKV-v7/rwkv_v7_numpy.py's time_mixing and channel_mixing per token, batched over 2 sequences; "
    "layer 1 reads layer 0's v (value residual). The output was also checked against the authors' own "
    "time_mixing and channel_mixing (BlinkDL/RWKV-LM @ 524481d5099b38d9bc8ef1e89209161b86c8011b, run from a "
    "scratch copy on these weights): equal to the last bit",
)
LINEAR_ATTENTION = [DELTANET, DELTANET_NEG, GATED_DELTANET, GLA, MAMBA2, MAMBA2_NEG, MLSTM, RWKV7]


# ---- the baselines: Transformer, sLSTM, Hawk (their numbers: baseline_equations.py) -----------------


def _transformer_block(prefix: str, D: int, r: int, seed: int, scale: float) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.norm1.weight": pattern((D,), seed, 0.1, 1.0),
        f"{prefix}.norm1.bias": pattern((D,), seed + 1, 0.1),
        f"{prefix}.attn.qkv.weight": pattern((3 * D, D), seed + 2, scale),
        f"{prefix}.attn.qkv.bias": pattern((3 * D,), seed + 3, 0.1),
        f"{prefix}.attn.proj.weight": pattern((D, D), seed + 4, scale),
        f"{prefix}.attn.proj.bias": pattern((D,), seed + 5, 0.1),
        f"{prefix}.norm2.weight": pattern((D,), seed + 6, 0.1, 1.0),
        f"{prefix}.norm2.bias": pattern((D,), seed + 7, 0.1),
        f"{prefix}.fc1.weight": pattern((r * D, D), seed + 8, scale),
        f"{prefix}.fc1.bias": pattern((r * D,), seed + 9, 0.1),
        f"{prefix}.fc2.weight": pattern((D, r * D), seed + 10, scale),
        f"{prefix}.fc2.bias": pattern((D,), seed + 11, 0.1),
    }


def _slstm_block(prefix: str, D: int, H: int, K: int, F: int, seed: int) -> dict[str, np.ndarray]:
    d = D // H
    bias = pattern((4, D), seed + 5, 0.3)
    bias[1] += 1.0  # forget gates mostly open, so the stabiliser takes both branches of its max
    return {
        f"{prefix}.norm.weight": pattern((D,), seed, 0.1, 1.0),
        f"{prefix}.conv.weight": pattern((D, 1, K), seed + 1, 0.15, 0.1),
        f"{prefix}.conv.bias": pattern((D,), seed + 2, 0.1),
        f"{prefix}.gate_weight": pattern((4, H, d, d), seed + 3, 0.3),
        f"{prefix}.recurrent_kernel": pattern((H, d, 4, d), seed + 4, 0.3),  # away from the init's zero
        f"{prefix}.bias": bias,
        f"{prefix}.group_norm": pattern((D,), seed + 6, 0.1, 1.0),
        f"{prefix}.ffn_norm.weight": pattern((D,), seed + 7, 0.1, 1.0),
        f"{prefix}.up.weight": pattern((2 * F, D), seed + 8, 0.1),
        f"{prefix}.down.weight": pattern((D, F), seed + 9, 0.05),
    }


def _hawk_layer(prefix: str, D: int, W: int, H: int, r: int, K: int, seed: int) -> dict[str, np.ndarray]:
    blk = W // H
    return {
        f"{prefix}.temporal_norm.scale": pattern((D,), seed, 0.1),
        f"{prefix}.linear_y.weight": pattern((W, D), seed + 1, 0.3),
        f"{prefix}.linear_y.bias": pattern((W,), seed + 2, 0.1),
        f"{prefix}.linear_x.weight": pattern((W, D), seed + 3, 0.12),
        f"{prefix}.linear_x.bias": pattern((W,), seed + 4, 0.1),
        f"{prefix}.conv_w": pattern((K, W), seed + 5, 0.08, 0.2),
        f"{prefix}.conv_b": pattern((W,), seed + 6, 0.1),
        # softplus(Λ) from 0.01 to 0.9: a = exp(−8 r softplus(Λ)) from about 0.03 to 0.95
        f"{prefix}.rg_lru.a_param": pattern((W,), seed + 7, 0.3, -2.0),
        f"{prefix}.rg_lru.input_gate.w": pattern((H, blk, blk), seed + 8, 0.2),
        f"{prefix}.rg_lru.input_gate.b": pattern((H, blk), seed + 9, 0.2),
        f"{prefix}.rg_lru.a_gate.w": pattern((H, blk, blk), seed + 10, 0.2),
        f"{prefix}.rg_lru.a_gate.b": pattern((H, blk), seed + 11, 0.2),
        f"{prefix}.linear_out.weight": pattern((D, W), seed + 12, 0.3),
        f"{prefix}.linear_out.bias": pattern((D,), seed + 13, 0.1),
        f"{prefix}.channel_norm.scale": pattern((D,), seed + 14, 0.1),
        f"{prefix}.ffw_up.weight": pattern((2 * r * D, D), seed + 15, 0.3),
        f"{prefix}.ffw_up.bias": pattern((2 * r * D,), seed + 16, 0.1),
        f"{prefix}.ffw_down.weight": pattern((D, r * D), seed + 17, 0.3),
        f"{prefix}.ffw_down.bias": pattern((D,), seed + 18, 0.1),
    }


BASELINE_SOURCE = "paper"  # the layers' equations in NumPy, one sequence and one step at a time (baseline_equations.py)
TRANSFORMER = Example(  # head size 4, so RoPE turns two pairs at two frequencies (1 and 10000^(−1/2))
    "transformer-2layers-rope",
    "transformer",
    {"hidden_size": 8, "num_heads": 2, "mlp_ratio": 2, "pos_encoding": "rope", "num_layers": 2},
    _x(2, 3, 2, scale=0.5),
    {
        "encoder.weight": pattern((8, 2), 3, 0.3),
        "encoder.bias": pattern((8,), 4, 0.1),
        **_transformer_block("layers.0", 8, 2, 10, 0.15),
        **_transformer_block("layers.1", 8, 2, 30, 0.15),
        "final.weight": pattern((8,), 50, 0.1, 1.0),
        "final.bias": pattern((8,), 51, 0.1),
    },
    BASELINE_SOURCE,
    grad=True,
    note="pre-norm GPT-2 blocks (LayerNorm ε 1e−5, exact GELU), softmax(q·k/√d) over the keys up to each step, "
    "RoPE θ_j = 10000^(−2j/d) on pairs (2j, 2j + 1)",
)
TRANSFORMER_CACHE = Example(
    "transformer-learned-cache",
    "transformer",
    {"hidden_size": 4, "num_heads": 2, "mlp_ratio": 2, "pos_encoding": "learned", "max_len": 5, "num_layers": 1},
    _x(2, 2, 2, seed=3, scale=0.5),
    {
        "encoder.weight": pattern((4, 2), 5, 0.3),
        "encoder.bias": pattern((4,), 6, 0.1),
        "positions": pattern((5, 4), 7, 0.2),
        **_transformer_block("layers.0", 4, 2, 60, 0.3),
        "final.weight": pattern((4,), 80, 0.1, 1.0),
        "final.bias": pattern((4,), 81, 0.1),
    },
    BASELINE_SOURCE,
    state0=((pattern((2, 2, 2, 2), 82, 0.2), pattern((2, 2, 2, 2), 83, 0.2)),),
    grad=True,
    note="a carried KV cache of 2 steps: the new steps are positions 2 and 3 (their rows of the learned table) "
    "and attend to the cached keys as well",
)
SLSTM = Example(  # the defaults conv_kernel = 4 and ffn_factor = 1.3 (a feed-forward of width 64, rounded up)
    "slstm-2layers",
    "slstm",
    {"hidden_size": 4, "num_heads": 2, "conv_kernel": 4, "ffn_factor": 1.3, "num_layers": 2},
    _x(2, 4, 2, scale=0.5),
    {
        "encoder.weight": pattern((4, 2), 3, 0.3),
        "encoder.bias": pattern((4,), 4, 0.1),
        **_slstm_block("layers.0", 4, 2, 4, 64, 10),
        **_slstm_block("layers.1", 4, 2, 4, 64, 30),
        "final.weight": pattern((4,), 50, 0.1, 1.0),
    },
    BASELINE_SOURCE,
    grad=True,
    note="xlstm sLSTMLayer (i, f from SiLU(conv(LN u)), z, o from LN u), slstm_forward_pointwise with its first-step "
    "rule m = ĩ, the per-head group norm, GatedFeedForward with exact GELU; T = 4 fills the conv window",
)
HAWK = Example(
    "hawk-2layers",
    "hawk",
    {"hidden_size": 4, "num_heads": 2, "mlp_ratio": 2, "conv_width": 3, "num_layers": 2},
    _x(2, 4, 2, scale=0.5),
    {
        "encoder.weight": pattern((4, 2), 3, 0.3),
        "encoder.bias": pattern((4,), 4, 0.1),
        **_hawk_layer("layers.0", 4, 4, 2, 2, 3, 10),
        **_hawk_layer("layers.1", 4, 4, 2, 2, 3, 40),
        "final.scale": pattern((4,), 70, 0.1),
    },
    BASELINE_SOURCE,
    grad=True,
    note="recurrentgemma ResidualBlock(RecurrentBlock, MLPBlock): the RG-LRU resets at the first step (h = i ⊙ x), "
    "GELU with the tanh approximation, RMSNorm ε 1e−6 with scale 1 + s",
)
HAWK_CARRIED = Example(
    "hawk-1layer-carried",
    "hawk",
    {"hidden_size": 4, "num_heads": 2, "mlp_ratio": 1, "conv_width": 3},
    _x(2, 3, 2, seed=4, scale=0.5),
    {
        "encoder.weight": pattern((4, 2), 5, 0.3),
        "encoder.bias": pattern((4,), 6, 0.1),
        **_hawk_layer("layers.0", 4, 4, 2, 1, 3, 80),
        "final.scale": pattern((4,), 110, 0.1),
    },
    BASELINE_SOURCE,
    state0=((pattern((2, 4, 2), 111, 0.2), pattern((2, 4), 112, 0.2)),),
    grad=True,
    note="a carried conv window and h: no reset, the first step decays h and scales by √(1 − a²)",
)
BASELINES = [TRANSFORMER, TRANSFORMER_CACHE, SLSTM, HAWK, HAWK_CARRIED]


EXAMPLES: list[Example] = [*CLASSIC, INDRNN, EXPRNN, MINGRU, MINLSTM, LRU, MAMBA, *LINEAR_ATTENTION, *BASELINES]
