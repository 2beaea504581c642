"""Errors that the CLI turns into one readable line and exit status 2."""

from __future__ import annotations

from collections.abc import Iterable


class UsageError(ValueError):
    """Bad user input: an unknown name, an impossible value, a corrupt file.

    The message is one line that names the bad value and what to do instead.
    """


def choices(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def unknown(kind: str, name: str, valid: Iterable[str]) -> UsageError:
    return UsageError(f"unknown {kind} {name!r}; choose one of: {choices(valid)}")
