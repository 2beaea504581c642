"""Width-preserving blocks, as the ecosystem writes them (fla, zoology, mamba_ssm, minGRU...).

A *block* maps ``(B, T, width)`` to ``(B, T, width)``; its constructor takes the width
(``dim``, ``d_model``, ``hidden_size``, ``n_embd``, or the name given with
``--set model.width_arg=NAME``) and no ``input_size``. The harness wraps it as a core,
:class:`BlockCore`: an input encoder in front (a ``Linear`` from the task's features to
the width, or the task's embedding built at the width), ``num_layers`` blocks with
pre-norm residual connections, ``x + block(RMSNorm(x))``, and a final RMSNorm (the
arrangement of fla's, zoology's and mamba's models), unless the block's own constructor
takes the depth (``num_layers``, ``depth``, ``n_layer``), in which case it is the whole
stack and nothing is added around it.

The block's state and return conventions are read from its ``forward``'s signature and
from what it returns: a state keyword (``state``, ``prev_state``, ``prev_states``,
``past_key_values``, ``inference_params``, ``cache``, ``hidden``, ``prev_hidden``), the
flags that ask for the state back (``use_cache``, ``output_final_state``,
``return_*state*``/``return_*hidden*``), and a return of ``y``, ``(y, state)`` or
``(y, *extras, state)``. Anything else is one :class:`ConventionError` line.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnbench.errors import UsageError
from rnnbench.models.stack import RMSNorm

WIDTH_ARGS = ("dim", "d_model", "hidden_size", "n_embd")
DEPTH_ARGS = ("num_layers", "depth", "n_layer")
STATE_KEYWORDS = ("state", "prev_state", "prev_states", "past_key_values", "inference_params", "cache", "hidden", "prev_hidden")
STATE_FLAGS = ("use_cache", "output_final_state")
_RETURN_FLAG = re.compile(r"return_\w*(state|states|hidden|cache)")  # return_state, return_next_prev_hidden, ...
HARNESS_GIVEN = ("layer_idx",)  # filled in by the harness: the block's index in the stack
# constructor arguments that make a class a whole model (its own readout), never a block
OUTPUT_ARGS = ("output_size", "num_classes", "n_classes", "num_outputs", "output_dim", "out_features", "n_outputs")
DEFAULT_WIDTH = 64
AT_WIDTH = 0  # input_size 0: the features arrive at the block's width already (the task's embedding was built at it)
ARRANGEMENT = "pre-norm residual: x + block(RMSNorm(x)) per layer, then a final RMSNorm"
# libraries whose layers keep their state in a cache object that the caller creates
# (fla's layers return past_key_values as given, None when given None)
CACHES = {("fla", "past_key_values"): ("fla.models.utils", "Cache")}


class ConventionError(UsageError):
    """A block returned something rnnbench does not recognise (one line)."""


class NeedsCUDA(UsageError):
    """A layer's forward needs a CUDA device that the run does not have (one line)."""


@dataclass(frozen=True)
class Layout:
    """How a block's constructor is called: which argument is its width, which its depth."""

    width_arg: str
    depth_arg: str | None  # the block's own depth argument; None: rnnbench stacks num_layers of it
    takes_layer_idx: bool
    given_width_arg: bool  # named with --set model.width_arg=NAME


def _parameters(factory: Callable[..., Any]) -> Mapping[str, inspect.Parameter] | None:
    try:
        return inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None


def layout(name: str, factory: Callable[..., Any], width_arg: str | None = None) -> Layout | None:
    """The block layout of ``factory``, or None when it is a core or a whole model (it takes
    ``input_size`` or an output size, or no width argument)."""
    parameters = _parameters(factory)
    if parameters is None:
        return None
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    given = width_arg is not None
    if given:
        if "input_size" in parameters:
            raise UsageError(
                f"model {name!r} takes input_size, so it is a core, fed the task's features; "
                "model.width_arg names the width of a block, which takes none"
            )
        if width_arg not in parameters and not var_kw:
            raise UsageError(
                f"model.width_arg={width_arg}: model {name!r} takes no argument {width_arg!r}; "
                f"it takes: {', '.join(parameters) or 'none'}"
            )
    else:
        if "input_size" in parameters or any(k in parameters for k in OUTPUT_ARGS):
            return None
        width_arg = next((k for k in WIDTH_ARGS if k in parameters), None)
        if width_arg is None:
            return None
    depth = next((k for k in DEPTH_ARGS if k in parameters), None)
    return Layout(width_arg, depth, "layer_idx" in parameters, given)


def block_fields(
    name: str, lay: Layout, fields: dict[str, tuple[Any, Any]], values: dict[str, Any]
) -> tuple[dict[str, tuple[Any, Any]], dict[str, Any]]:
    """A block's parameters: its constructor's, with the width (default 64) and the depth
    (rnnbench's ``num_layers``, default 1, unless the block takes its own); ``hidden_size``
    and ``num_layers`` are rnnbench's names for them and are accepted for the block's own."""
    fields = {k: v for k, v in fields.items() if k not in HARNESS_GIVEN}
    values = dict(values)
    for key in HARNESS_GIVEN:
        if key in values:
            raise UsageError(f"model {name!r}: model.{key} is given by rnnbench (each block's index in the stack); leave it out")
    for alias, own in (("hidden_size", lay.width_arg), ("num_layers", lay.depth_arg)):
        if own is not None and own != alias and alias in values:
            if own in values:
                raise UsageError(
                    f"model {name!r}: model.{alias} and model.{own} both given; they are the same "
                    f"argument of this block ({own}): give one"
                )
            values[own] = values.pop(alias)
    width_type, width_default = fields.get(lay.width_arg, (int, dataclasses.MISSING))
    fields[lay.width_arg] = (width_type or int, DEFAULT_WIDTH if width_default is dataclasses.MISSING else width_default)
    if lay.depth_arg is None:
        fields["num_layers"] = (int, 1)
    elif fields[lay.depth_arg][1] is dataclasses.MISSING:
        fields[lay.depth_arg] = (fields[lay.depth_arg][0] or int, 1)
    if "width_arg" in values:
        fields["width_arg"] = (str, lay.width_arg)
    return fields, values


def check_values(name: str, lay: Layout, out: Mapping[str, Any]) -> None:
    for key in (lay.width_arg, lay.depth_arg or "num_layers"):
        value = out[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"model.{key}={value!r} is impossible for model {name!r}; use an integer, 1 or more")


def constructor_kwargs(lay: Layout, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the block's constructor is given: its own arguments, not rnnbench's."""
    drop = {"width_arg"} | ({"num_layers"} if lay.depth_arg is None else set())
    return {k: v for k, v in params.items() if k not in drop}


def width_of(lay: Layout, params: Mapping[str, Any]) -> int:
    return int(params[lay.width_arg])


def depth_of(lay: Layout, params: Mapping[str, Any]) -> int:
    return int(params[lay.depth_arg or "num_layers"])


@dataclass(frozen=True)
class Convention:
    """How a block's forward is called: its state keyword (None: it takes none), the flags
    that ask for its state back, and the cache it needs created for it (fla's layers)."""

    state_keyword: str | None
    flags: tuple[str, ...]
    cache: tuple[str, str] | None

    @classmethod
    def of(cls, block: nn.Module) -> Convention:
        parameters = _parameters(block.forward) or {}
        names = [
            n for n, p in parameters.items() if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ][1:]  # not x
        keyword = next((k for k in STATE_KEYWORDS if k in names), None)
        flags = tuple(n for n in names if n in STATE_FLAGS or _RETURN_FLAG.fullmatch(n))
        package = type(block).__module__.split(".")[0]
        return cls(keyword, flags, CACHES.get((package, keyword or "")))


def describe_value(value: Any) -> str:
    """What a forward returned, in a few words: ``a tuple (tensor (3, 7, 8), None, dict)``."""

    def short(v: Any) -> str:
        if isinstance(v, torch.Tensor):
            return f"tensor {tuple(v.shape)}"
        return "None" if v is None else type(v).__name__

    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} ({', '.join(short(v) for v in value)})"
    if isinstance(value, Mapping):
        return f"a {type(value).__name__} with keys {', '.join(map(str, list(value)[:6]))}"
    return f"a {short(value)}"


class BlockCore(nn.Module):
    """Encoder -> ``num_layers`` blocks (pre-norm residual, final RMSNorm) -> ``(B, T, width)``,
    behind the core contract ``forward(x, state=None) -> (y, state)``; the state is a tuple
    with each block's own (None for a block that returns none)."""

    def __init__(
        self, name: str, blocks: list[nn.Module], width: int, encoder: nn.Module | None, residual: bool, lay: Layout, depth: int
    ) -> None:
        super().__init__()
        self.model_name = name
        self.width = width
        self.depth = depth  # layers: the blocks rnnbench stacks, or the block's own depth argument
        self.layout = lay
        self.residual = residual
        self.encoder = encoder
        self.blocks = nn.ModuleList(blocks)
        self.norms = nn.ModuleList(RMSNorm(width) for _ in blocks) if residual else None
        self.final = RMSNorm(width) if residual else None
        self.convention = Convention.of(blocks[0])
        # the contract asks a core for these only when it has them: so only when the block declares them
        if callable(getattr(blocks[0], "flops", None)):
            self.flops = self._flops
        if callable(getattr(blocks[0], "state_size", None)) and self.takes_state:
            self.state_size = self._state_size

    @property
    def takes_state(self) -> bool:
        return self.convention.state_keyword is not None

    def describe(self) -> str:
        """``block of width 64; encoder Linear(5, 64) added``."""
        input_size = self.encoder.in_features if self.encoder is not None else AT_WIDTH
        return describe(self.layout, self.width, self.depth, input_size)

    def forward(self, x: torch.Tensor, state: tuple[Any, ...] | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        if self.encoder is not None:
            x = self.encoder(x)  # (B, T, W)
        states = state if state is not None else (None,) * len(self.blocks)
        finals = []
        for i, (block, s) in enumerate(zip(self.blocks, states)):
            h = self.norms[i](x) if self.norms is not None else x  # (B, T, W)
            y, s = self.call(block, h, s)  # (B, T, W)
            x = x + y if self.residual else y
            finals.append(s)
        return (self.final(x) if self.final is not None else x), tuple(finals)

    def call(self, block: nn.Module, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One block on ``x``, its state handed over by its own keyword; returns ``(y, state)``."""
        c = self.convention
        kwargs: dict[str, Any] = {flag: True for flag in c.flags}
        if c.state_keyword is not None:
            if state is None and c.cache is not None:
                state = getattr(importlib.import_module(c.cache[0]), c.cache[1])()
            if state is not None:
                kwargs[c.state_keyword] = state
        try:
            out = block(x, **kwargs)
        except UsageError:
            raise
        except Exception as exc:
            reason = cuda_requirement(exc)
            if reason is not None and x.device.type != "cuda":
                raise NeedsCUDA(needs_cuda_message(self.model_name, reason)) from exc
            raise
        return self.unpack(out, x)

    def unpack(self, out: Any, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if isinstance(out, torch.Tensor):
            y, state = out, None
        elif isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
            y, state = out[0], (out[-1] if len(out) > 1 else None)
        else:
            raise ConventionError(
                f"model {self.model_name!r}: the block returned {describe_value(out)}; rnnbench "
                f"expected y, (y, state) or (y, *extras, state) with y of shape (B, T, {self.width})"
            )
        if y.shape != x.shape:
            raise ConventionError(
                f"model {self.model_name!r}: the block of width {self.width} "
                f"({self.layout.width_arg}={self.width}) returned y of shape {tuple(y.shape)} for "
                f"input {tuple(x.shape)}; rnnbench expected y of the input's shape, (B, T, {self.width})"
            )
        return y, (state if self.takes_state else None)

    def encoder_flops(self, batch: int, length: int, input_size: int) -> int:
        return 2 * batch * length * input_size * self.width if self.encoder is not None else 0

    def _flops(self, batch: int, length: int, input_size: int) -> int:
        """Forward FLOPs (``flops``, when the block declares ``flops(batch, length, width)``): the
        encoder's (2·B·T·I·W), the blocks' own count, and the norms' and residuals' (5·B·T·W per
        layer, 4 for the final norm)."""
        blocks = sum(int(b.flops(batch, length, self.width)) for b in self.blocks)
        norms = (5 * len(self.blocks) + 4) * batch * length * self.width if self.residual else 0
        return self.encoder_flops(batch, length, input_size) + blocks + norms

    def _state_size(self, *args: Any) -> int:
        """Numbers per sequence (``state_size``, when the block declares it): the blocks' sum."""
        return sum(int(b.state_size(*args)) for b in self.blocks)

    def counts(self) -> dict[str, int]:
        """Trainable parameters of the encoder, the blocks and the norms, apart."""

        def n(m: nn.Module | None) -> int:
            return 0 if m is None else sum(p.numel() for p in m.parameters() if p.requires_grad)

        return {"encoder": n(self.encoder), "blocks": n(self.blocks), "norms": n(self.norms) + n(self.final)}


def build(name: str, factory: Callable[..., Any], lay: Layout, input_size: int, params: Mapping[str, Any]) -> BlockCore:
    """The block(s) behind an encoder from ``input_size`` features (none for ``AT_WIDTH``)."""
    width = width_of(lay, params)
    own_stack = lay.depth_arg is not None
    n = 1 if own_stack else depth_of(lay, params)
    encoder = nn.Linear(input_size, width) if input_size != AT_WIDTH else None
    kwargs = constructor_kwargs(lay, params)
    blocks = []
    for i in range(n):
        block = factory(**kwargs, **({"layer_idx": i} if lay.takes_layer_idx else {}))
        if not isinstance(block, nn.Module):
            raise UsageError(f"model {name!r} built a {type(block).__name__}, not a torch.nn.Module")
        blocks.append(block)
    return BlockCore(name, blocks, width, encoder, not own_stack, lay, depth_of(lay, params))


def encoder_text(input_size: int, width: int) -> str:
    return f"Linear({input_size}, {width})"


def describe(lay: Layout, width: int, depth: int, input_size: int | None) -> str:
    """``block of width 64; encoder Linear(5, 64) added`` (and the stack, when more than one
    layer); ``input_size`` None: the task's, not known yet."""
    text = f"block of width {width}"
    if lay.depth_arg is not None:
        text += f" (its own stack: {lay.depth_arg}={depth})"
    elif depth > 1:
        text += f", {depth} layers stacked pre-norm residual"
    if input_size is None:
        return text + f"; the task's encoder added in front (Linear from its features to {width}, or its embedding at {width})"
    if input_size == AT_WIDTH:
        return text + f"; the task's embedding built at width {width} in front"
    return text + f"; encoder {encoder_text(input_size, width)} added"


def record(lay: Layout, params: Mapping[str, Any], encoder: Mapping[str, Any]) -> dict[str, Any]:
    """The record's ``model.encoder`` and ``model.stack`` for a block behind the task's ``encoder``
    (``kind`` one_hot, identity or embedding, as :attr:`IOSpec.encoder`): the added encoder with its
    parameters and forward FLOPs per token apart from the blocks'."""
    width = width_of(lay, params)
    if encoder["kind"] == "embedding":
        enc = {
            "kind": "embedding",
            "vocab": encoder["vocab"],
            "dim": width,
            "module": f"Embedding({encoder['vocab']}, {width})",
            "n_params": encoder["vocab"] * width,
            "flops_per_token": 0,
            "note": f"the task's embedding, built at the block's width {width}",
        }
    else:
        i = encoder["dim"]
        enc = {
            "kind": "linear",
            "input": dict(encoder),
            "dim": width,
            "module": encoder_text(i, width),
            "n_params": i * width + width,
            "flops_per_token": 2 * i * width,
        }
    if lay.depth_arg is not None:
        stack = {"num_layers": depth_of(lay, params), "by": f"the block ({lay.depth_arg})", "arrangement": "the block's own"}
    else:
        stack = {"num_layers": depth_of(lay, params), "by": "rnnbench", "arrangement": ARRANGEMENT}
    return {"encoder": enc, "stack": {"width": width, "width_arg": lay.width_arg, **stack}}


# -- layers that need a GPU -------------------------------------------------------------

_CUDA_TEXT = re.compile(
    r"Torch not compiled with CUDA|active drivers|No CUDA GPUs are available|Found no NVIDIA driver|"
    r"CUDA driver|is_cuda\(\)|must be (a )?CUDA tensor|must be on CUDA|requires a CUDA|"
    r"selective_scan_cuda|causal_conv1d_cuda",
    re.I,
)
CUDA_EXTENSIONS = {
    "selective_scan_cuda": "mamba-ssm",
    "causal_conv1d_cuda": "causal-conv1d",
    "mamba_ssm": "mamba-ssm",
    "causal_conv1d": "causal-conv1d",
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def cuda_requirement(exc: BaseException) -> str | None:
    """Why ``exc`` says that the code needs a CUDA device (a Triton kernel launched without
    one, PyTorch built without CUDA, a CUDA extension's check), or None."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        frames = traceback.extract_tb(e.__traceback__)
        triton = type(e).__module__.split(".")[0] == "triton" or any(f"{os.sep}triton{os.sep}" in f.filename for f in frames)
        if triton:
            return f"its forward runs Triton kernels ({type(e).__name__}: {_first_line(e)})"
        if isinstance(e, ImportError) and (e.name or "").split(".")[0] in CUDA_EXTENSIONS:
            return f"it imports {e.name}, a CUDA extension ({type(e).__name__}: {_first_line(e)})"
        if _CUDA_TEXT.search(str(e)):
            return f"{type(e).__name__}: {_first_line(e)}"
        e = e.__cause__ or e.__context__
    return None


def needs_cuda_message(name: str, reason: str) -> str:
    where = "this machine has none" if not torch.cuda.is_available() else "run it with --device cuda"
    return f"model {name!r} needs a CUDA device: {reason}; {where}"


# -- installing what a model imports ------------------------------------------------------

# top-level package -> what to install (the name on PyPI, or how when it is not there)
PIP_NAMES = {
    "fla": "pip install flash-linear-attention",
    "mamba_ssm": "pip install mamba-ssm (it builds CUDA kernels: on a machine with CUDA)",
    "causal_conv1d": "pip install causal-conv1d (it builds CUDA kernels: on a machine with CUDA)",
    "xlstm": "pip install xlstm",
    "zoology": "zoology is not on PyPI: pip install git+https://github.com/HazyResearch/zoology",
    "minGRU_pytorch": "pip install minGRU-pytorch",
    "einops": "pip install einops",
    "triton": "pip install triton (Triton kernels run on a CUDA, ROCm or XPU device only)",
    "transformers": "pip install transformers",
    "selective_scan_cuda": "mamba-ssm's CUDA extension: pip install mamba-ssm on a machine with CUDA",
    "causal_conv1d_cuda": "causal-conv1d's CUDA extension: pip install causal-conv1d on a machine with CUDA",
}


def install_hint(target: str, exc: ImportError) -> str | None:
    """``fla is not installed; pip install flash-linear-attention`` for a known missing package
    (the one imported or one it needs), or None."""
    missing = (exc.name or "").split(".")[0]
    if missing not in PIP_NAMES:
        return None
    top = target.split(".")[0]
    if missing == top:
        return f"{missing} is not installed; {PIP_NAMES[missing]}"
    return f"it needs {missing}, which is not installed; {PIP_NAMES[missing]}"
