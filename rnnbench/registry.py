"""A typed name -> object registry that refuses duplicate names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from rnnbench.errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one kind (task classes, model specs, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise KeyError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise unknown(self.kind, name, self._items) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        """Names in registration order (the order tables and figures use)."""
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())
