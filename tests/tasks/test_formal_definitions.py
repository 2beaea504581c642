"""Every length-generalisation task against its definition (tests/tasks/formal_oracles.py, written
independently of the generators): the worked example in its docstring, and random batches at
short, training and long lengths, including the pitfalls (even lengths in modular arithmetic, the
degenerate short lengths of their code, the terminator-masked outputs)."""

import importlib
import re

import pytest
import torch
from formal_oracles import expected

from rnnbench.tasks import TASKS, make_task
from rnnbench.tasks.formal import FormalTask

FORMAL = [name for name, cls in TASKS.items() if issubclass(cls, FormalTask)]
SLOW = {"modular_arithmetic_brackets", "solve_equation"}  # grammar-built in Python


def test_the_formal_tasks_are_all_registered():
    assert set(FORMAL) == {
        "parity_check",
        "even_pairs",
        "cycle_navigation",
        "modular_arithmetic",
        "reverse_string",
        "stack_manipulation",
        "modular_arithmetic_brackets",
        "solve_equation",
        "duplicate_string",
        "missing_duplicate_string",
        "odds_first",
        "binary_addition",
        "binary_multiplication",
        "compute_sqrt",
        "bucket_sort",
        "s5",
        "a5",
        "z60",
        "a4xz5",
        "induction_heads",
    }


def worked_example(name):
    """The x, y and mask rows of the first worked example in the task module's docstring."""
    doc = importlib.import_module(TASKS.get(name).__module__).__doc__
    block = doc[doc.index("Worked example") :]
    rows = {}
    for key in ("x", "y", "mask"):
        m = re.search(rf"^\s*{key}\s*=\s*(\[[^\]]*\])", block, re.M)
        rows[key] = eval(m.group(1))
    return rows


@pytest.mark.parametrize("name", FORMAL)
def test_worked_example_follows_the_definition(name):
    ex = worked_example(name)
    assert len(ex["x"]) == len(ex["y"]) == len(ex["mask"])
    y, mask = expected(name, ex["x"])
    assert ex["y"] == y and ex["mask"] == mask


@pytest.mark.parametrize("name", FORMAL)
def test_worked_example_has_the_generators_layout(name):
    """Same length, blank and scored positions as a generated batch of that length."""
    ex = worked_example(name)
    task = make_task(name)
    blank = task.blank
    n_in = ex["x"].index(blank) if blank is not None else len(ex["x"])
    if name == "induction_heads":
        n_in = len(ex["x"]) - 1 + 1 - task.params.induction_len  # the body: x minus the trigger and the recalled
    batch = task.sample_length(n_in, 3, torch.Generator().manual_seed(0))
    assert batch.x.shape[1] == len(ex["x"])
    if name == "modular_arithmetic":
        assert n_in % 2 == 1


@pytest.mark.parametrize("name", FORMAL)
def test_batches_follow_the_definition(name):
    task = make_task(name)
    g = torch.Generator().manual_seed(3)
    lengths = [task.min_length, task.min_length + 1, 7, 8, 40] + ([] if name in SLOW else [123])
    for length in lengths:
        batch = task.sample_length(length, 64 if name not in SLOW else 24, g)
        loss_mask = batch.loss_mask if batch.loss_mask is not None else batch.mask
        for x, y, m, lm in zip(batch.x.tolist(), batch.y.tolist(), batch.mask.long().tolist(), loss_mask.long().tolist()):
            want_y, want_mask = expected(name, x)
            assert y == want_y and m == want_mask, (name, length, x)
            assert all(a <= b for a, b in zip(m, lm)), "every scored position is in the loss"
            if task.blank is not None:
                assert lm == [int(v == task.blank) for v in x], "the loss reads every blank, only blanks"


@pytest.mark.parametrize(
    "name, length, n_inputs, n_outputs",
    [
        ("parity_check", 9, 9, 1),
        ("modular_arithmetic", 8, 7, 1),
        ("modular_arithmetic", 2, 1, 1),
        ("reverse_string", 5, 5, 5),
        ("stack_manipulation", 5, 5, 6),
        ("duplicate_string", 5, 5, 10),
        ("binary_addition", 5, 5, 6),
        ("binary_multiplication", 5, 5, 5),
        ("compute_sqrt", 7, 7, 4),
        ("bucket_sort", 4, 4, 4),
        ("s5", 6, 6, 0),
        ("induction_heads", 9, 9, 1),
    ],
)
def test_input_and_output_lengths(name, length, n_inputs, n_outputs):
    task = make_task(name)
    batch = task.sample_length(length, 4, torch.Generator().manual_seed(0))
    assert batch.x.shape == (4, n_inputs + n_outputs) or name == "induction_heads" and batch.x.shape == (4, 10)
    if task.blank is not None:
        assert (batch.x[:, n_inputs:] == task.blank).all() and (batch.x[:, :n_inputs] != task.blank).all()


def test_modular_arithmetic_even_length_becomes_odd_and_matches_the_odd_one():
    task = make_task("modular_arithmetic")
    even = task.sample_length(40, 8, torch.Generator().manual_seed(5))
    odd = task.sample_length(39, 8, torch.Generator().manual_seed(5))
    assert even.x.shape == (8, 40) and torch.equal(even.x, odd.x), "ℓ = 40 draws exactly what ℓ = 39 draws"


def test_modular_arithmetic_operators_and_digits_are_uniform():
    b = make_task("modular_arithmetic").sample_length(41, 4000, torch.Generator().manual_seed(0))
    ops = torch.bincount(b.x[:, 1:41:2].flatten(), minlength=10)[5:8].double()
    digits = torch.bincount(b.x[:, 0:41:2].flatten(), minlength=10)[:5].double()
    assert (ops / ops.sum() - 1 / 3).abs().max() < 0.01 and (digits / digits.sum() - 0.2).abs().max() < 0.01
    assert (b.x[:, :41] != 8).all(), "their padding symbol is never drawn"


def test_stack_manipulation_layout():
    """A stack of s ~ U{1..ℓ-1} bits then actions: bits only before the first action, s covers 1..ℓ-1."""
    b = make_task("stack_manipulation").sample_length(10, 4000, torch.Generator().manual_seed(0))
    x = b.x[:, :10]
    is_bit = x <= 1
    s = is_bit.long().cumprod(1).sum(1)  # length of the leading run of bits
    assert (is_bit.sum(1) == s).all(), "no bit after the first action"
    assert s.min() >= 1 and s.max() <= 9 and set(s.tolist()) == set(range(1, 10))
    counts = torch.bincount(x[~is_bit], minlength=5)[2:].double()
    assert (counts / counts.sum() - 1 / 3).abs().max() < 0.02, "POP, PUSH0, PUSH1 uniform"


def test_terminator_masks_score_up_to_the_terminator_and_train_on_all_outputs():
    for name, terminator in (("stack_manipulation", 2), ("binary_addition", 2), ("binary_multiplication", 2)):
        task = make_task(name)
        b = task.sample_length(12, 200, torch.Generator().manual_seed(1))
        assert b.loss_mask is not None and (b.loss_mask >= b.mask).all() and (b.loss_mask != b.mask).any()
        last = b.mask.long().cumsum(1).argmax(1)  # the last scored position
        assert (b.y[torch.arange(200), last] == terminator).all(), name
        logits = torch.nn.functional.one_hot(b.y, 3).float() * 20
        wrong_padding = logits.clone()
        wrong_padding[b.loss_mask & ~b.mask] = torch.tensor([0.0, 20.0, 0.0])  # padding answered 1, not 0
        assert task.metrics(wrong_padding, b)["acc"] == 1.0, "the padding after the terminator is not scored"
        assert task.loss(wrong_padding, b) > task.loss(logits, b) + 1, "but it is trained on"


def test_odds_first_follows_their_code_not_their_docstring():
    b = make_task("odds_first").sample_length(8, 1, torch.Generator().manual_seed(0))
    s = b.x[0, :8].tolist()
    assert b.y[0, 8:].tolist() == s[1::2] + s[0::2]
    assert s[1::2] + s[0::2] != s[0::2] + s[1::2] or s[1::2] == s[0::2]


def test_binary_operands_are_uniform_over_their_widths():
    """|n| uniform in 1..ℓ-2, and n uniform among the non-zero numbers of its width."""
    task = make_task("binary_addition")
    b = task.sample_length(6, 6000, torch.Generator().manual_seed(0))
    sep = (b.x[:, :6] == 2).long().argmax(1)
    assert set(sep.tolist()) == {1, 2, 3, 4}
    share = torch.bincount(sep, minlength=5)[1:].double() / 6000
    assert (share - 0.25).abs().max() < 0.03
    ones = b.x[sep == 2][:, :2]  # 2-bit n: 1, 2, 3 each a third
    values = (ones[:, 0] + 2 * ones[:, 1]).tolist()
    assert set(values) == {1, 2, 3} and abs(values.count(3) / len(values) - 1 / 3) < 0.05


def test_word_problem_elements_are_uniform_and_tagged():
    b = make_task("s5").sample_length(30, 2000, torch.Generator().manual_seed(0))
    counts = torch.bincount(b.x.flatten(), minlength=120).double()
    assert counts.min() > 0 and (counts / counts.sum() - 1 / 120).abs().max() < 0.003
    assert b.mask.all() and b.loss_mask is None and make_task("s5").blank is None


def test_induction_heads_triggers_and_copy():
    task = make_task("induction_heads", None, {"num_triggers": 3, "length": 40})
    b = task.sample_length(40, 3000, torch.Generator().manual_seed(0))
    body = b.x[:, :40]
    triggers = (body == 18).sum(1)
    assert triggers.min() >= 1 and triggers.max() <= 3
    assert 0.45 < float((triggers == 1).float().mean()) < 0.65, "one trigger with probability 1/2 (or a clash)"
    for row in range(200):
        x = b.x[row].tolist()
        for q in [i for i, v in enumerate(x[:40]) if v == 18]:
            assert x[q + 1] == b.y[row, -1], "every trigger is followed by the recalled token"
    assert (body[:, -1] != 18).all() and (body != 19).all(), "no trigger in the last place, the no-op never drawn"
    assert task.chance == pytest.approx(1 / 18)
