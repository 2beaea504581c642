"""Helpers for negative controls: a planted mistake that a test must catch."""

from __future__ import annotations


class Proxy:
    """A module namespace (torch, torch.nn.functional) with one function replaced."""

    def __init__(self, module, **replaced):
        self._module, self._replaced = module, replaced

    def __getattr__(self, name):
        return self._replaced.get(name) or getattr(self._module, name)
