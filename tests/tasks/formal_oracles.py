"""Each length-generalisation task's definition written out again, plainly and independently of
rnnbench's generators (from the task definitions of Delétang et al.'s code, jopetty/word-problem
and HazyResearch/safari): given a full input row (the ℓ inputs, then the blanks), the targets
and the scored positions it must have."""

from __future__ import annotations

import itertools
import math

BLANKS = {
    "parity_check": 2,
    "even_pairs": 2,
    "cycle_navigation": 3,
    "modular_arithmetic": 9,
    "reverse_string": 2,
    "stack_manipulation": 5,
    "modular_arithmetic_brackets": 11,
    "solve_equation": 11,
    "duplicate_string": 2,
    "missing_duplicate_string": 4,
    "odds_first": 2,
    "binary_addition": 3,
    "binary_multiplication": 3,
    "compute_sqrt": 2,
    "bucket_sort": 5,
}


def split(name: str, x: list[int]) -> tuple[list[int], int]:
    """The inputs before the first blank, and how many blanks follow."""
    blank = BLANKS[name]
    n = x.index(blank)
    assert all(v == blank for v in x[n:]), "after the inputs come only blanks"
    return x[:n], len(x) - n


def expression_value(tokens: list[int], symbols: dict[int, str]) -> int:
    text = "".join(symbols.get(t, str(t)) for t in tokens)
    return eval(text) % 5  # Python's precedence: × before + and −, unary minus, brackets


def little(bits: list[int]) -> int:
    return sum(b << i for i, b in enumerate(bits))


def bits_of(value: int) -> list[int]:
    return [int(c) for c in reversed(f"{value:b}")]


def outputs(name: str, x: list[int]) -> tuple[list[int], list[bool]]:
    """(targets at the blanks, scored) for one row of a blank-layout task."""
    s, n_out = split(name, x)
    L = len(s)
    if name == "parity_check":
        return [sum(s) % 2], [True]
    if name == "even_pairs":
        return [sum(a != b for a, b in zip(s, s[1:])) % 2], [True]
    if name == "cycle_navigation":
        return [sum(a - 1 for a in s) % 5], [True]
    if name == "modular_arithmetic":
        assert L % 2 == 1 and all(t < 5 for t in s[0::2]) and all(t in (5, 6, 7) for t in s[1::2])
        return [expression_value(s, {5: "+", 6: "-", 7: "*"})], [True]
    if name == "reverse_string":
        return s[::-1], [True] * L
    if name == "stack_manipulation":
        stack: list[int] = []
        for t in s:
            if t in (0, 1):
                stack.append(t)
            elif t == 2:
                if stack:
                    stack.pop()
            else:
                stack.append(t - 3)
        out = stack[::-1] + [2]
        return out + [0] * (L + 1 - len(out)), [True] * len(out) + [False] * (L + 1 - len(out))
    if name == "modular_arithmetic_brackets":
        return [expression_value(s, {5: "+", 6: "-", 7: "*", 8: "(", 9: ")"})], [True]
    if name == "solve_equation":
        if L < 3:
            assert s == [0] * L
            return [0], [True]
        assert s[-2] == 10 and s.count(9) == 1
        expr, rhs = s[:-2], s[-1]
        symbols = {5: "+", 6: "-", 7: "(", 8: ")"}
        answers = [d for d in range(5) if expression_value([d if t == 9 else t for t in expr], symbols) == rhs]
        assert len(answers) == 1, "a +/- equation mod 5 has one solution"
        return answers, [True]
    if name == "duplicate_string":
        return s + s, [True] * (2 * L)
    if name == "missing_duplicate_string":
        if L == 1:
            return [1], [True]
        k = L // 2
        body = s[: 2 * k]
        assert s[2 * k :] == [3] * (L % 2) and body.count(2) == 1
        i = body.index(2)
        return [body[i + k] if i < k else body[i - k]], [True]
    if name == "odds_first":
        return s[1::2] + s[0::2], [True] * L
    if name in ("binary_addition", "binary_multiplication"):
        width = L + 1 if name == "binary_addition" else L
        if L <= 2:
            assert 2 not in s
            res = bits_of(little(s)) if name == "binary_addition" else [0] * (L - 1)
        else:
            assert s.count(2) == 1
            i = s.index(2)
            n, m = s[:i], s[i + 1 :]
            assert n and m and any(n) and any(m), "both numbers are non-zero"
            res = bits_of(little(n) + little(m) if name == "binary_addition" else little(n) * little(m))
        out = res + [2]
        return out + [0] * (width - len(out)), [True] * len(out) + [False] * (width - len(out))
    if name == "compute_sqrt":
        value = int("".join(map(str, s)), 2)
        assert value >= 1
        width = math.ceil(L / 2)
        return [int(c) for c in f"{math.isqrt(value):b}".zfill(width)], [True] * width
    if name == "bucket_sort":
        return sorted(s), [True] * L
    raise KeyError(name)


def expected(name: str, x: list[int]) -> tuple[list[int], list[int]]:
    """The whole target row and mask row for ``x`` (word problems and induction heads included)."""
    if name in ("s5", "a5", "z60", "a4xz5"):
        return running_product(name, x), [1] * len(x)
    if name == "induction_heads":
        trigger = 18  # V = 20
        first = x.index(trigger)
        assert x[-1] == trigger and first < len(x) - 2
        return [0] * (len(x) - 1) + [x[first + 1]], [0] * (len(x) - 1) + [1]
    targets, scored = outputs(name, x)
    n_in = len(x) - len(targets)
    return [0] * n_in + targets, [0] * n_in + [int(v) for v in scored]


def _perms(n: int, even: bool = False) -> list[tuple[int, ...]]:
    out = list(itertools.permutations(range(n)))
    if even:
        out = [p for p in out if sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n)) % 2 == 0]
    return out


def running_product(name: str, x: list[int]) -> list[int]:
    """p_t = p_{t-1}·x_t from the identity, composing permutations as a(b(i))."""
    if name == "z60":
        return list(itertools.accumulate(x, lambda a, b: (a + b) % 60))
    if name in ("s5", "a5"):
        perms = _perms(5, even=name == "a5")
        index = {p: i for i, p in enumerate(perms)}
        compose = lambda a, b: index[tuple(perms[a][perms[b][i]] for i in range(5))]  # noqa: E731
    else:  # a4xz5: (g, h) at 5g + h
        a4 = _perms(4, even=True)
        index = {p: i for i, p in enumerate(a4)}

        def compose(a: int, b: int) -> int:
            g = index[tuple(a4[a // 5][a4[b // 5][i]] for i in range(4))]
            return 5 * g + (a % 5 + b % 5) % 5

    out, p = [], 0
    for v in x:
        p = compose(p, v)
        out.append(p)
    return out
