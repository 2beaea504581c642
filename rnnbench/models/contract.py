"""The model contract: one :class:`Architecture` declares everything about a recurrent core.

An architecture is a recurrent *core*: ``forward(x, state=None) -> (y, state)`` with
batch-first ``x`` ``(B, T, I)`` and ``y`` ``(B, T, F)``. It declares, in one place:

- its name, title and citation;
- a frozen parameter dataclass (``hidden_size``, ``num_layers`` and its own fields),
  validated with one-line errors;
- its implementations by name: ``reference`` always (one time step at a time, as the
  paper writes the recurrence), plus fast ones (``fused``, ``chunk``, ...), which share
  parameter names so ``load_state_dict`` works between them, and the default one per
  device type (``defaults``: the CPU's and CUDA's may differ); an implementation that needs
  an optional package or a device (the authors' kernels: ``fla``, ``cuda``) says so in
  ``requires``, and building it where that is missing is one line saying what is missing;
- its initialisation from a ``torch.Generator`` (never the global RNG);
- its forward FLOPs for (batch, length, input size) and its state size per sequence after
  ``length`` steps (constant for a recurrence, growing with T for a KV cache);
- optional training rules: parameter groups with their own learning rate, and a
  projection applied after every optimiser step.

The registry :data:`MODELS` is the only list of architectures; everything else asks it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rnnbench.config import override, require
from rnnbench.errors import UsageError
from rnnbench.registry import Registry

Factory = Callable[[int, Any], nn.Module]  # (input_size, params) -> core
Init = Callable[[nn.Module, Any, torch.Generator], None]
Flops = Callable[[Any, int, int, int], int]  # (params, batch, length, input_size) -> forward FLOPs
Groups = Callable[[nn.Module, Any, float], list[dict[str, Any]]]  # (core, params, lr) -> named groups
AfterStep = Callable[[nn.Module, Any], None]
MatmulShape = Callable[[Any, int, int, int], tuple[int, int, int]]
StateSize = Callable[[Any, int], int]  # (params, length) -> numbers per sequence after `length` steps
Requirement = Callable[[], str | None]  # why an implementation cannot be built here, or None when it can


@dataclass(frozen=True)
class ArchParams:
    """Parameters every built-in architecture has; subclasses add their own fields.

    Attributes:
        hidden_size: features per step of each layer's output (the state's width).
        num_layers: layers stacked, each reading the one below.
    """

    hidden_size: int = 64
    num_layers: int = 1

    def validate(self) -> None:
        """Raise a one-line UsageError naming an impossible value (subclasses call ``super()`` first)."""
        require(self.hidden_size >= 1, f"model.hidden_size={self.hidden_size} is impossible; use 1 or more")
        require(self.num_layers >= 1, f"model.num_layers={self.num_layers} is impossible; use 1 or more")


@dataclass(frozen=True)
class Architecture:
    """A recurrent architecture and everything the harness needs to know about it.

    Attributes:
        name: the registry name (``rnnbench run --model NAME``).
        title: the architecture's name in words, for tables and ``rnnbench list``.
        citation: the paper, in one line.
        Params: the frozen parameter dataclass (an ``ArchParams`` subclass for built-ins).
        implementations: implementation name -> factory ``(input_size, params) -> core``;
            ``reference`` (one step at a time, as the paper writes it) is required.
        defaults: device type (``"cpu"``, ``"cuda"``) -> the implementation used when none is
            named; a device type not listed gets the first implementation.
        init: draws the weights from a ``torch.Generator``; None: the factory's own init, run
            under a global RNG seeded from the generator.
        flops: forward FLOPs ``(params, batch, length, input_size) -> int``.
        state_size: numbers of state per sequence, ``params -> int``.
        output_size: features per step of the core's output, ``params -> int`` (None: probed).
        bidirectional: whether the core reads the sequence in both directions.
        param_groups: ``(core, params, lr) -> optimiser parameter groups`` with their own learning
            rates (expRNN).
        after_step: ``(core, params) -> None``, applied after every optimiser step (IndRNN's clip).
        matmul_shape: the roofline's reference matrix product ``(M, K, N)``.
        step_seconds: the cost model's seconds per recurrent step (``rnnbench sweep --dry-run``).
        equations: one line, shown by ``rnnbench list``.
        rank: the position in tables and figures (then registration order).
        user: whether this is a user's model (from a file, a module or an entry point).
        source_files: a user's model's files, hashed into its records.
    """

    name: str
    title: str
    citation: str
    Params: type
    implementations: Mapping[str, Factory]
    defaults: Mapping[str, str] = field(default_factory=dict)  # device type -> implementation; else the first
    requires: Mapping[str, Requirement] = field(default_factory=dict)  # implementation -> what it needs, if anything
    init: Init | None = None  # None: the factory's own init, under a global RNG seeded from the generator
    flops: Flops | None = None
    state_size: StateSize | None = None
    output_size: Callable[[Any], int] | None = None  # features per step; None: probed with one step
    bidirectional: bool = False
    param_groups: Groups | None = None
    after_step: AfterStep | None = None
    matmul_shape: MatmulShape | None = None  # the roofline reference (M, K, N); default (B·T, I+H, H)
    step_seconds: float = 1.5e-4  # cost model: one recurrent step, forward+backward, 2-core CPU, fastest impl
    equations: str = ""  # one line, shown by `rnnbench list`
    rank: int = 1000  # position in tables and figures (then registration order)
    user: bool = False  # a user's core (from a file, module or entry point)
    source_files: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if "reference" not in self.implementations and not self.user:
            raise ValueError(f"architecture {self.name!r} declares no 'reference' implementation")
        for device, impl in self.defaults.items():
            if impl not in self.implementations:
                raise ValueError(f"architecture {self.name!r}: default {impl!r} for {device} is not an implementation")

    def default_for(self, device: str | torch.device = "cpu") -> str:
        """The implementation used on ``device`` when none is named: the declared default for its
        type (``cpu``, ``cuda``), else the first implementation."""
        kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
        return self.defaults.get(kind) or next(iter(self.implementations))

    @property
    def default_impl(self) -> str:
        """The CPU's default implementation (what tables label as a model's plain column)."""
        return self.default_for("cpu")

    def params(self, values: Mapping[str, Any] | None = None) -> Any:
        """The validated parameter dataclass; unknown names and bad values raise UsageError."""
        return override(self.Params(), dict(values or {}), "model")

    def params_dict(self, params: Any) -> dict[str, Any]:
        """The parameters as a plain dict, as records store them."""
        return dataclasses.asdict(params)

    def check_impl(self, impl: str) -> str:
        """``impl`` if the architecture has it; else a UsageError listing those it has."""
        if impl not in self.implementations:
            raise UsageError(
                f"model {self.name!r} has no implementation {impl!r}; choose one of: {', '.join(self.implementations)}"
            )
        return impl

    def unavailable(self, impl: str) -> str | None:
        """Why ``impl`` cannot be built on this machine (a missing optional package or device),
        or None when it can."""
        need = self.requires.get(impl)
        return need() if need is not None else None

    def available_implementations(self) -> list[str]:
        """The implementations this machine can build, in declaration order."""
        return [i for i in self.implementations if self.unavailable(i) is None]

    def build(
        self,
        impl: str | None,
        input_size: int,
        params: Any,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ) -> nn.Module:
        """The core, its weights drawn from ``generator`` (seed 0 when none is given); without
        ``impl``, the default implementation for ``device``."""
        impl = self.check_impl(impl or self.default_for(device))
        if (why := self.unavailable(impl)) is not None:
            raise UsageError(f"model {self.name!r} implementation {impl!r} cannot run here: {why}")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        with torch.random.fork_rng(devices=[]):  # nothing here touches the caller's global RNG
            if self.init is None:
                torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            core = self.implementations[impl](input_size, params)
        if self.init is not None:
            self.init(core, params, generator)
        return core

    def core_output_size(self, core: nn.Module, params: Any, input_size: int) -> int:
        """Features per step of ``core``'s output: declared by ``output_size``, else probed with one
        step (a core that breaks the contract is a UsageError)."""
        if self.output_size is not None:
            return self.output_size(params)
        with torch.no_grad():
            out = core(torch.zeros(1, 1, input_size))
        if not isinstance(out, tuple) or not isinstance(out[0], torch.Tensor) or out[0].dim() != 3:
            raise UsageError(
                f"model {self.name!r} does not follow the core contract forward(x, state=None) -> "
                f"(y, state) with y of shape (B, T, F); check it with: rnnbench check {self.name}"
            )
        return out[0].shape[-1]

    def forward_flops(self, params: Any, batch: int, length: int, input_size: int, core: nn.Module | None = None) -> int | None:
        """Forward FLOPs, or None when the architecture (or a user's core) declares none."""
        if self.flops is not None:
            return int(self.flops(params, batch, length, input_size))
        declared = getattr(core, "flops", None)
        return int(declared(batch, length, input_size)) if callable(declared) else None

    def state_numbers(self, params: Any, length: int, core: nn.Module | None = None) -> int | None:
        """Numbers of state per sequence after ``length`` steps (what ``forward`` returns to be
        carried over), or None when a user's core declares none."""
        if self.state_size is not None:
            fn = self.state_size
            return int(fn(params, length) if _required_args(fn) >= 2 else fn(params))  # (params) alone: a plugin's older form
        declared = getattr(core, "state_size", None)
        if not callable(declared):
            return None
        return int(declared(length) if _required_args(declared) >= 1 else declared())

    def state_formula(self, params: Any) -> str | None:
        """The state size as ``rnnbench list`` shows it: a number, or ``a·T + b`` when it grows with T."""
        if self.state_size is None:
            return None
        one, two, three = (self.state_numbers(params, t) for t in (1, 2, 3))
        if one == two == three:
            return f"{one:,}"
        slope, start = two - one, one - (two - one)
        if three - two == slope:
            return f"{slope:,}·T" + (f" + {start:,}" if start else "")
        return f"{self.state_numbers(params, 1024):,} at T=1024"

    def roofline_shape(self, params: Any, batch: int, length: int, input_size: int) -> tuple[int, int, int]:
        """The matrix product ``(M, K, N)`` the roofline compares with: ``matmul_shape``, else
        ``(B·T, I+H, H)``."""
        if self.matmul_shape is not None:
            return self.matmul_shape(params, batch, length, input_size)
        hidden = getattr(params, "hidden_size", input_size)
        return batch * length, input_size + hidden, hidden

    def describe(self) -> str:
        """The parameters with their defaults, ``name=value, ...``, as ``rnnbench list`` prints them."""
        fields = ", ".join(
            f"{f.name}={f.default!r}" for f in dataclasses.fields(self.Params) if f.default is not dataclasses.MISSING
        )
        return fields


def _required_args(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` requires (those without a default)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in parameters)


MODELS: Registry[Architecture] = Registry("model")


def model_order() -> list[str]:
    """Registered names in the order tables, figures and reports use."""
    names = list(MODELS)
    return sorted(names, key=lambda n: (MODELS.get(n).rank, names.index(n)))


def model_rank(name: str) -> int:
    """A model's position in tables and figures; users' models come after every built-in."""
    order = model_order()
    return order.index(name) if name in order else len(order)


def register(arch: Architecture) -> Architecture:
    """Add a built-in architecture to the registry (duplicate names are an error)."""
    return MODELS.add(arch.name, arch)


def uniform_init(core: nn.Module, params: Any, generator: torch.Generator) -> None:
    """PyTorch's default init for recurrent layers, U(-1/√H, 1/√H) for every parameter,
    drawn from ``generator`` in parameter order."""
    bound = 1.0 / math.sqrt(params.hidden_size)
    with torch.no_grad():
        for p in core.parameters():
            p.copy_(torch.empty(p.shape, dtype=p.dtype).uniform_(-bound, bound, generator=generator))


def draw(
    shape: tuple[int, ...] | torch.Size, generator: torch.Generator, kind: str = "uniform", a: float = 0.0, b: float = 1.0
) -> torch.Tensor:
    """A float32 tensor from ``generator``: U(a, b) or N(a, b²)."""
    t = torch.empty(tuple(shape))
    return t.uniform_(a, b, generator=generator) if kind == "uniform" else t.normal_(a, b, generator=generator)


def linear_init(layer: nn.Linear, generator: torch.Generator) -> None:
    """``nn.Linear``'s default init (U(±1/√fan_in) for weight and bias) from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.copy_(draw(layer.weight.shape, generator, "uniform", -bound, bound))
        if layer.bias is not None:
            layer.bias.copy_(draw(layer.bias.shape, generator, "uniform", -bound, bound))
