"""Length specifications: ``"41:500:10"``, ``"1:40"``, ``"7"``, ``"41,50,100"`` or a list of ints.

Ranges are inclusive at both ends, as the papers write them ("train on 1..40, test on
41..500"): ``"A:B"`` is every length from A to B, ``"A:B:K"`` every K-th from A (A, A+K,
... up to B). Commas join several parts (``"41:100,200,500"``). Used for a training
curriculum (``train.lengths``: one length drawn uniformly per batch) and for the lengths a
trained model is evaluated at (``eval_lengths`` in a profile, ``rnnbench evaluate --lengths``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rnnbench.errors import UsageError

EXAMPLE = 'e.g. "41:500" (every length from 41 to 500), "41:500:10" (every 10th) or "41,100,500"'


def parse_lengths(spec: Any, where: str = "lengths") -> tuple[int, ...]:
    """The sorted distinct lengths a spec names; an empty, malformed or non-positive spec raises
    UsageError naming ``where`` and the value."""
    if isinstance(spec, bool):
        raise UsageError(f"{where}={spec!r} is not a length specification; {EXAMPLE}")
    if isinstance(spec, int):
        parts: Sequence[Any] = [spec]
    elif isinstance(spec, (list, tuple)):
        parts = list(spec)
    elif isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")] if spec.strip() else []
    else:
        raise UsageError(f"{where}={spec!r} is not a length specification; {EXAMPLE}")
    out: set[int] = set()
    for part in parts:
        out |= set(_part(part, spec, where))
    if not out:
        raise UsageError(f"{where}={_show(spec)} names no length (an empty range); {EXAMPLE}")
    if min(out) < 1:
        raise UsageError(f"{where}={_show(spec)} includes length {min(out)}; lengths are 1 or more")
    return tuple(sorted(out))


def _part(part: Any, spec: Any, where: str) -> range | list[int]:
    if isinstance(part, int) and not isinstance(part, bool):
        return [part]
    fields = str(part).split(":")
    try:
        numbers = [int(f) for f in fields]
    except ValueError:
        raise UsageError(f"{where}={_show(spec)}: {part!r} is not a length or a range A:B[:K]; {EXAMPLE}") from None
    if len(numbers) == 1:
        return numbers
    if len(numbers) not in (2, 3):
        raise UsageError(f"{where}={_show(spec)}: {part!r} has {len(numbers)} fields; a range is A:B or A:B:K")
    start, stop, step = numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1
    if step < 1:
        raise UsageError(f"{where}={_show(spec)}: the step {step} in {part!r} must be 1 or more")
    if stop < start:
        raise UsageError(
            f"{where}={_show(spec)}: {part!r} is an empty range (it ends before it starts); "
            f"write the smaller length first, {EXAMPLE}"
        )
    return range(start, stop + 1, step)


def _show(spec: Any) -> str:
    return repr(spec) if not isinstance(spec, str) else f'"{spec}"'


def describe_lengths(lengths: Sequence[int]) -> str:
    """A short text for tables: ``41..500 (every 10, 46 lengths)``, ``1..40``, ``7``, ``41, 100, 500``."""
    xs = sorted(set(int(v) for v in lengths))
    if not xs:
        return "none"
    if len(xs) <= 3:
        return ", ".join(map(str, xs))
    steps = {b - a for a, b in zip(xs, xs[1:])}
    if len(steps) == 1:
        step = steps.pop()
        return f"{xs[0]}..{xs[-1]}" + (f" (every {step}, {len(xs)} lengths)" if step > 1 else "")
    if len(xs) <= 5:
        return ", ".join(map(str, xs))
    return f"{xs[0]}..{xs[-1]} ({len(xs)} lengths)"
