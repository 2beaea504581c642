"""Each task's docstring worked example, read from the docstring and checked against the
generator: the example's numbers and parameters are parsed out of the text (so a docstring
that drifts from the generator fails), the generator is run with those parameters, and a
generated sequence whose random draws are the example's must be the example exactly; the
other sequences must be the example with their own draws put in its place."""

from __future__ import annotations

import ast
import math
import re

import numpy as np
import pytest
import torch

from rnnbench.tasks import adding, copy, mackey_glass, make_task, mqar, pixels, selective_copy, sine


def paragraph(module, start: str) -> str:
    """The docstring paragraph (blank-line separated, a ``::`` block joined to the text before
    it) that contains ``start``."""
    doc = module.__doc__
    blocks, current = [], []
    for line in doc.splitlines():
        if not line.strip() and current and not current[-1].rstrip().endswith("::"):
            blocks.append("\n".join(current))
            current = []
        elif line.strip() or current:
            current.append(line)
    blocks.append("\n".join(current))
    found = [b for b in blocks if start in b]
    assert found, f"{module.__name__}'s docstring has no paragraph with {start!r}"
    return found[0]


def literals(text: str) -> dict[str, object]:
    """Every ``name = [...]`` (a Python list literal, brackets balanced) in ``text``; a later one
    with the same name is kept as ``name#2``."""
    out: dict[str, object] = {}
    for m in re.finditer(r"\b(\w+)\s*=\s*\[", text):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"[": 1, "]": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        key = m.group(1)
        while key in out:
            key += "#2"
        out[key] = ast.literal_eval(text[m.end() - 1 : i + 1])
    return out


def ints(text: str) -> dict[str, int]:
    """``NAME=number`` settings in ``text`` (T=3, K=2, ...)."""
    return {k: int(v) for k, v in re.findall(r"\b([A-Za-z]\w*)=(\d+)\b", text)}


def tuple_after(text: str, word: str) -> tuple[int, ...]:
    """The numbers of ``word (a, b)`` or ``word {a, b}`` in ``text``."""
    m = re.search(rf"{word}\s*[({{]([\d,\s]+)[)}}]", text)
    assert m, f"no '{word} (...)' in: {text}"
    return tuple(int(v) for v in m.group(1).split(","))


def generated(name: str, preset: str | None, params: dict, n: int = 2000, seed: int = 0):
    return make_task(name, preset, params).sample(n, torch.Generator().manual_seed(seed))


# ---- copy ------------------------------------------------------------------------------------------


def copy_examples() -> list[tuple[str, list[int], list[int], dict]]:
    first = paragraph(copy, "Worked example")
    params = {k: v for k, v in ints(first).items() if k in ("T", "K")}
    base = literals(first)
    bai = literals(paragraph(copy, "``bai2018``"))
    exp = literals(paragraph(copy, "``exprnn2019``"))
    return [
        ("arjovsky2016", base["x"], base["y"], params),
        ("bai2018", bai["x"], base["y"], params),
        ("exprnn2019", exp["x"], exp["y"], params),
    ]


@pytest.mark.parametrize("preset, x_doc, y_doc, params", copy_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_copy_docstring_example_is_what_the_generator_makes(preset, x_doc, y_doc, params):
    assert params == {"T": 3, "K": 2}
    K = params["K"]
    b = generated("copy", preset, params)
    doc_symbols = x_doc[:K]
    matched = 0
    for x, y in zip(b.x.tolist(), b.y.tolist()):
        mapping = dict(zip(doc_symbols, x[:K]))  # the example with this sequence's symbols put in
        assert x == [mapping.get(v, v) for v in x_doc] and y == [mapping.get(v, v) for v in y_doc], (x, y)
        matched += x[:K] == doc_symbols
    assert matched > 0, "no generated sequence drew the example's symbols"  # 1/64 of them do


# ---- adding ----------------------------------------------------------------------------------------


def test_adding_docstring_example_is_what_the_generator_makes():
    text = paragraph(adding, "Worked example")
    T = ints(text)["T"]
    doc = literals(text)["x"]
    y_doc = float(re.search(r"\by\s*=\s*([\d.]+)", text).group(1))
    assert len(doc) == T == 4
    marked = [t for t, (_, m) in enumerate(doc) if m == 1]
    assert y_doc == pytest.approx(sum(doc[t][0] for t in marked)), "the example's target is its marked values' sum"
    b = generated("adding", "arjovsky2016", {"T": T})
    matched = 0
    for x, y in zip(b.x.tolist(), b.y[:, 0].tolist()):
        values = [v for v, _ in x]
        if [m for _, m in x] == [m for _, m in doc]:
            matched += 1
            assert y == pytest.approx(sum(values[t] for t in marked), abs=1e-6)
        assert all(0 <= v < 1 for v in values)
    assert matched > 0, "no generated sequence had the example's markers"  # 1/4 of them do


# ---- MQAR ------------------------------------------------------------------------------------------


def test_mqar_docstring_example_is_what_the_generator_makes():
    text = paragraph(mqar, "Worked example")
    p = ints(text)
    V, T, P = p["V"], p["T"], p["P"]
    keys, values, gaps = tuple_after(text, "keys"), tuple_after(text, "values"), tuple_after(text, "gaps")
    doc = literals(text)
    x_doc, y_doc, mask_doc = doc["x"], doc["y"], doc["mask"]
    # the example as the docstring states its draws
    assert x_doc[0 : 2 * P : 2] == list(keys) and x_doc[1 : 2 * P : 2] == list(values)
    queries = [2 * P + 2 * g for g in gaps]
    assert [i for i, m in enumerate(mask_doc) if m] == sorted(queries)
    assert [x_doc[q] for q in queries] == list(keys) and [y_doc[q] for q in queries] == list(values)
    fill = [i for i in range(T) if i >= 2 * P and i not in queries]
    b = generated("mqar", None, {"V": V, "T": T, "num_kv_pairs": P}, n=3000)
    matched = 0
    for x, y, mask in zip(b.x.tolist(), b.y.tolist(), b.mask.int().tolist()):
        if mask != mask_doc or [x[q] for q in queries] != x[0 : 2 * P : 2]:
            continue  # other gaps, or the keys queried in the other order
        matched += 1
        swap = dict(zip(keys, x[0 : 2 * P : 2])) | dict(zip(values, x[1 : 2 * P : 2]))
        expect_x = [x[i] if i in fill else swap[v] for i, v in enumerate(x_doc)]
        expect_y = [swap.get(v, v) if i in queries else v for i, v in enumerate(y_doc)]
        assert x == expect_x and y == expect_y
    assert matched > 50, f"only {matched} generated sequences had the example's gaps"


# ---- selective copy --------------------------------------------------------------------------------


def test_selective_copy_docstring_example_is_what_the_generator_makes():
    text = paragraph(selective_copy, "Worked example")
    p = ints(text)
    T, K, A = p["T"], p["K"], p["A"]
    positions, tokens = tuple_after(text, "positions"), tuple_after(text, "tokens")
    doc = literals(text)
    x_doc, y_doc, mask_doc = doc["x"], doc["y"], doc["mask"]
    assert [x_doc[i] for i in positions] == list(tokens) and x_doc[T + K :] == [A - 1] * K
    b = generated("selective_copy", None, {"T": T, "K": K, "A": A})
    matched = 0
    for x, y, mask in zip(b.x.tolist(), b.y.tolist(), b.mask.int().tolist()):
        assert mask == mask_doc
        drawn = tuple(i for i, v in enumerate(x[: T + K]) if v != 0)
        if drawn != positions:
            continue
        matched += 1
        mine = [x[i] for i in positions]
        swap = lambda seq: [mine[tokens.index(v)] if v in tokens and 0 < v < A - 1 else v for v in seq]  # noqa: E731
        if len(set(tokens)) == len(tokens):
            assert x == swap(x_doc) and y == swap(y_doc)
    assert matched > 50, f"only {matched} generated sequences had the example's positions"  # 1/15 of them


# ---- sine ------------------------------------------------------------------------------------------


def test_sine_docstring_example_is_the_generators_formula():
    text = paragraph(sine, "Worked example")
    p = ints(text)
    period = int(re.search(r"period (\d+)", text).group(1))
    amplitude = float(re.search(r"amplitude ([\d.]+)", text).group(1))
    phase = float(re.search(r"phase ([\d.]+)", text).group(1))
    x_doc = literals(text)["x"]
    y_doc = float(re.search(r"\by = .*= ([-\d.]+)``", text).group(1))
    T, H = p["T"], p["H"]
    formula = lambda a, phi, t: a * math.sin(2 * math.pi * t / period + phi)  # noqa: E731
    assert [formula(amplitude, phase, t) for t in range(T)] == pytest.approx(x_doc, abs=1e-12)
    assert formula(amplitude, phase, T - 1 + H) == pytest.approx(y_doc, abs=1e-12)
    b = generated("sine", None, {"T": T, "H": H, "n_sines": 1, "min_period": period, "max_period": period, "noise": 0.0})
    for x, y in zip(b.x[..., 0].double().tolist(), b.y[:, 0].double().tolist()):
        a, phi = math.hypot(x[0], x[1]), math.atan2(x[0], x[1])  # x_0 = a sin φ, x_1 = a cos φ
        assert x == pytest.approx([formula(a, phi, t) for t in range(T)], abs=1e-5)
        assert y == pytest.approx(formula(a, phi, T - 1 + H), abs=1e-5)
        assert 0.5 - 1e-5 <= a <= 1 + 1e-5


# ---- Mackey-Glass ----------------------------------------------------------------------------------


def test_mackey_glass_docstring_windows_are_what_the_generator_cuts():
    text = paragraph(mackey_glass, "Worked example")
    x_expr = re.search(r"``x = (s\[[^`]+\])``", text).group(1)
    y_expr = re.search(r"``y = (s\[[^`]+\])``", text).group(1)
    T, H = 5, 3
    task = make_task("mackey_glass", None, {"T": T, "H": H, "n_train": 200, "n_test": 100})
    s = task.stretches[0]  # the training stretch, standardised
    b = task.sample(64, torch.Generator().manual_seed(0))
    for x, y in zip(b.x[..., 0], b.y[:, 0]):
        i = int((s == x[0]).nonzero()[0])
        assert torch.equal(x, eval(x_expr, {"s": s, "i": i, "T": T, "H": H}))  # noqa: S307 (the docstring's formula)
        assert torch.equal(y, eval(y_expr, {"s": s, "i": i, "T": T, "H": H}))  # noqa: S307


# ---- pixel digits ------------------------------------------------------------------------------------


def test_digits_docstring_example_is_what_the_generator_feeds():
    intro = pixels.__doc__
    split_call = re.search(r"``(train_test_split\([^`]+\))``", intro).group(1)
    perm_expr = re.search(r"``(numpy\.random\.RandomState\(\d+\)\.permutation\(64\))``", intro).group(1)
    text = paragraph(pixels, "Worked example")
    x_expr = re.search(r"``x = ([^`]+)``", text).group(1)
    step = int(re.search(r"read at step (\d+)", text).group(1))
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split  # noqa: F401 (named in the docstring's call)

    images, labels = load_digits(return_X_y=True)
    call = split_call.replace("train_test_split(", "train_test_split(images, labels, ")
    xtr, _, ytr, _ = eval(call, {"train_test_split": train_test_split, "images": images, "labels": labels})  # noqa: S307
    perm = eval(perm_expr, {"numpy": np})  # noqa: S307
    expected = np.stack([eval(x_expr, {"pixels_i": img}) for img in xtr])  # noqa: S307 (x = pixels_i.flatten() / 16)
    for name, order in (("sdigits", np.arange(64)), ("pdigits", perm)):
        b = make_task(name).sample(32, torch.Generator().manual_seed(0))
        assert b.x.shape[1] == step == 64
        for x, y in zip(b.x[..., 0].double().numpy(), b.y.tolist()):
            rows = np.nonzero(np.abs(expected[:, order] - x).max(1) < 1e-6)[0]
            assert len(rows) and y in ytr[rows], f"{name}: a generated sequence is no training image read as documented"


def test_negative_control_a_docstring_that_drifts_from_the_generator_fails(monkeypatch):
    """The copy example with the delimiter one step early, and MQAR's with a gap it did not draw."""
    monkeypatch.setattr(copy, "__doc__", copy.__doc__.replace("x = [5, 2, 0, 0, 9, 0, 0]", "x = [5, 2, 0, 9, 0, 0, 0]"))
    with pytest.raises(AssertionError):
        test_copy_docstring_example_is_what_the_generator_makes(*copy_examples()[0])
    monkeypatch.setattr(mqar, "__doc__", mqar.__doc__.replace("gaps (0, 3)", "gaps (1, 3)"))
    with pytest.raises(AssertionError):
        test_mqar_docstring_example_is_what_the_generator_makes()
