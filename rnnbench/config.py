"""Parameter dataclasses and ``--set section.name=value`` overrides."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from rnnbench.errors import UsageError, choices

P = TypeVar("P")

_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def coerce(value: Any, typ: Any, where: str) -> Any:
    """Convert a CLI string (or a TOML/JSON scalar) to the field's type."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        key = str(value).strip().lower()
        if key not in _BOOLS:
            raise UsageError(f"{where}={value!r} is not a boolean; use true or false")
        return _BOOLS[key]
    if typ in (int, float):
        kind = "an integer" if typ is int else "a number"
        if isinstance(value, bool) or (typ is int and isinstance(value, float) and not value.is_integer()):
            raise UsageError(f"{where}={value!r} is not {kind}")
        try:
            return typ(value)
        except (TypeError, ValueError):
            raise UsageError(f"{where}={value!r} is not {kind}") from None
    if typing.get_origin(typ) is typing.Literal:
        allowed = typing.get_args(typ)
        if value not in allowed:
            raise UsageError(f"{where}={value!r} is not allowed; choose one of: {choices(map(str, allowed))}")
        return value
    return str(value)


def override(params: P, values: Mapping[str, Any], section: str) -> P:
    """Return a copy of the frozen dataclass ``params`` with ``values`` applied.

    Unknown names and values of the wrong type raise :class:`UsageError`;
    the dataclass's own ``validate()`` (if any) then checks value ranges.
    """
    hints = typing.get_type_hints(type(params))
    names = [f.name for f in dataclasses.fields(params)]  # type: ignore[arg-type]
    changes = {}
    for key, value in values.items():
        if key not in names:
            raise UsageError(f"unknown parameter {section}.{key}; valid {section} parameters: {choices(names)}")
        changes[key] = coerce(value, hints[key], f"{section}.{key}")
    new = dataclasses.replace(params, **changes)  # type: ignore[type-var]
    validate = getattr(new, "validate", None)
    if validate is not None:
        validate()
    return new


def parse_sets(items: Iterable[str], sections: Iterable[str]) -> dict[str, dict[str, str]]:
    """Parse ``["task.T=50", "model.hidden_size=64"]`` into ``{"task": {"T": "50"}, ...}``."""
    sections = list(sections)
    out: dict[str, dict[str, str]] = {s: {} for s in sections}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise UsageError(f"--set {item!r} must look like SECTION.NAME=VALUE, e.g. task.T=50")
        if section not in out:
            raise UsageError(f"--set {item!r}: unknown section {section!r}; choose one of: {choices(sections)}")
        out[section][name] = value.strip()
    return out


def require(condition: bool, message: str) -> None:
    """Raise a UsageError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UsageError(message)
