"""Finite groups as multiplication tables, element order as in jopetty/word-problem.

That code builds its groups with jopetty/abstract_algebra: S_n is the permutations of
(1..n) in ``itertools.permutations`` (lexicographic) order, composed as (a·b)(i) = a(b(i));
A_n is S_n's commutator subgroup, its elements in their order within S_n (the even
permutations, lexicographic); Z_n is addition mod n; a direct product G×H lists the pairs
(g, h) in ``itertools.product`` order, index g·|H| + h, multiplied componentwise. Index 0 is
the identity in every one of them.

The tables are built in plain Python and become a tensor on first use: a torch op at import
starts torch's thread pool in every process that imports rnnbench, and a process forked from
one (asv's forkserver) then hangs on its first parallel op.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Group:
    name: str
    elements: tuple[str, ...]  # labels, in index order
    rows: tuple[tuple[int, ...], ...]  # rows[a][b] is the index of a·b

    @property
    def order(self) -> int:
        return len(self.elements)

    @functools.cached_property
    def table(self) -> torch.Tensor:
        """``(n, n)`` long: table[a, b] is the index of a·b."""
        return torch.tensor(self.rows, dtype=torch.long)

    def running_product(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` element indices -> ``(B, T)``: p_t = p_{t-1}·x_t from the identity (p_1 = x_1)."""
        out = torch.empty_like(x)
        p = torch.zeros(x.shape[0], dtype=torch.long)  # the identity
        for t in range(x.shape[1]):
            p = self.table[p, x[:, t]]
            out[:, t] = p
        return out


def _parity(perm: tuple[int, ...]) -> int:
    return sum(1 for i in range(len(perm)) for j in range(i + 1, len(perm)) if perm[i] > perm[j]) % 2


def _permutation_group(name: str, perms: list[tuple[int, ...]]) -> Group:
    index = {p: i for i, p in enumerate(perms)}
    n = len(perms[0])
    rows = tuple(tuple(index[tuple(a[b[i]] for i in range(n))] for b in perms) for a in perms)
    labels = tuple("(" + " ".join(str(v) for v in p) + ")" for p in perms)
    return Group(name, labels, rows)


@functools.cache
def symmetric(n: int) -> Group:
    """S_n: the permutations of (0..n-1) in lexicographic order; index 0 the identity."""
    return _permutation_group(f"S{n}", list(itertools.permutations(range(n))))


@functools.cache
def alternating(n: int) -> Group:
    """A_n: the even permutations, in their lexicographic order within S_n."""
    return _permutation_group(f"A{n}", [p for p in itertools.permutations(range(n)) if _parity(p) == 0])


@functools.cache
def cyclic(n: int) -> Group:
    """Z_n: addition mod n; element i is a^i."""
    return Group(f"Z{n}", tuple(f"a^{k}" for k in range(n)), tuple(tuple((a + b) % n for b in range(n)) for a in range(n)))


def direct_product(g: Group, h: Group) -> Group:
    """G×H: pairs (g, h) in product order, index g·|H| + h, multiplied componentwise."""
    m, n = h.order, g.order * h.order
    rows = tuple(tuple(g.rows[a // m][b // m] * m + h.rows[a % m][b % m] for b in range(n)) for a in range(n))
    labels = tuple(f"{x}:{y}" for x, y in itertools.product(g.elements, h.elements))
    return Group(f"{g.name}_x_{h.name}", labels, rows)
