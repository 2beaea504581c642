"""The groups of the word problems: jopetty/word-problem's element order and product, and the
group structure itself (identity, closure, associativity, inverses; S5 and A5 non-abelian and A5
perfect, Z60 and A4×Z5 solvable)."""

import itertools

import pytest
import torch

from rnnbench.tasks.word_problems.groups import alternating, cyclic, direct_product, symmetric

GROUPS = {"S5": symmetric(5), "A5": alternating(5), "Z60": cyclic(60), "A4xZ5": direct_product(alternating(4), cyclic(5))}


@pytest.mark.parametrize("name, order", [("S5", 120), ("A5", 60), ("Z60", 60), ("A4xZ5", 60)])
def test_group_axioms(name, order):
    G = GROUPS[name]
    t = G.table
    assert G.order == order and t.shape == (order, order)
    e = torch.arange(order)
    assert torch.equal(t[0], e) and torch.equal(t[:, 0], e), "index 0 is the identity"
    for row in t:  # a Latin square: every product once per row and column (closure and inverses)
        assert sorted(row.tolist()) == list(range(order))
    assert all(sorted(col.tolist()) == list(range(order)) for col in t.T)
    a, b, c = torch.randint(0, order, (3, 2000), generator=torch.Generator().manual_seed(0))
    assert torch.equal(t[t[a, b], c], t[a, t[b, c]]), "associative"


def test_symmetric_group_is_lexicographic_and_composes_right_to_left():
    perms = list(itertools.permutations(range(5)))
    S5 = symmetric(5)
    assert S5.elements[0] == "(0 1 2 3 4)" and S5.elements[1] == "(0 1 2 4 3)" and S5.elements[6] == "(0 2 1 3 4)"
    g = torch.Generator().manual_seed(0)
    for a, b in torch.randint(0, 120, (200, 2), generator=g).tolist():
        composed = tuple(perms[a][perms[b][i]] for i in range(5))  # (a·b)(i) = a(b(i))
        assert perms[int(S5.table[a, b])] == composed
    assert not torch.equal(S5.table, S5.table.T), "non-abelian: the order of the product matters"


def test_alternating_group_is_the_even_permutations_in_their_s5_order():
    perms = list(itertools.permutations(range(5)))
    even = [p for p in perms if sum(p[i] > p[j] for i in range(5) for j in range(i + 1, 5)) % 2 == 0]
    A5 = alternating(5)
    assert [tuple(int(v) for v in s.strip("()").split()) for s in A5.elements] == even
    assert sorted(even, key=perms.index) == even


def test_a5_is_perfect_and_the_others_are_not():
    """A5 equals its commutator subgroup (non-solvable); A4×Z5 and Z60 do not."""

    def commutator_subgroup(G):
        t = G.table
        inv = t.argmin(1) * 0 + (t == 0).nonzero()[:, 1]  # inverse of each element
        comms = {int(t[t[t[a, b], inv[a]], inv[b]]) for a in range(G.order) for b in range(G.order)}
        closure = set(comms)
        while True:
            new = {int(t[x, y]) for x in closure for y in closure} | closure
            if new == closure:
                return closure
            closure = new

    assert len(commutator_subgroup(GROUPS["A5"])) == 60
    assert len(commutator_subgroup(GROUPS["A4xZ5"])) == 4  # A4's derived subgroup is the Klein four-group
    assert len(commutator_subgroup(GROUPS["Z60"])) == 1


def test_running_product_starts_from_the_identity():
    S5 = symmetric(5)
    x = torch.tensor([[1, 1, 6], [0, 0, 0]])
    assert S5.running_product(x).tolist() == [[1, 0, 6], [0, 0, 0]]
    Z = cyclic(60)
    assert Z.running_product(torch.tensor([[50, 7, 3]])).tolist() == [[50, 57, 0]]
