"""The contract the length-generalisation tasks share: the length is an argument of sampling,
the blank layout, determinism from the generator alone, chance and input-blind baselines,
scoring, presets, bad lengths, and ``rnnbench sample`` for every task."""

import json
import math

import pytest
import torch

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.tasks import TASKS, make_task
from rnnbench.tasks.formal import FormalTask, position_majority

FORMAL = [name for name, cls in TASKS.items() if issubclass(cls, FormalTask)]


@pytest.mark.parametrize("name", FORMAL)
def test_same_generator_same_batch_and_no_global_rng(name):
    task = make_task(name)
    torch.manual_seed(0)
    a = task.sample_length(20, 8, torch.Generator().manual_seed(7))
    torch.manual_seed(99)
    b = task.sample_length(20, 8, torch.Generator().manual_seed(7))
    c = task.sample_length(20, 8, torch.Generator().manual_seed(8))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize("name", FORMAL)
def test_length_is_an_argument_of_sampling(name):
    task = make_task(name)
    assert task.length_param == "length" and task.params.length in (30, 40)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    via_sample = task.sample_length(13, 4, g1)
    via_task = make_task(name, None, {"length": 13}).sample(4, g2)
    assert torch.equal(via_sample.x, via_task.x) and torch.equal(via_sample.y, via_task.y)
    assert task.at_length(task.params.length) is task
    assert task.at_length(13).identity()["length"] == 13 and task.identity()["length"] == task.params.length


@pytest.mark.parametrize("name", FORMAL)
def test_spec_targets_and_one_hot_width(name):
    task = make_task(name)
    b = task.sample_length(15, 32, torch.Generator().manual_seed(2))
    assert b.x.dtype == torch.long and 0 <= int(b.x.min()) and int(b.x.max()) < task.spec.input_size
    assert int(b.y.max()) < task.spec.output_size == task.n_classes
    if task.blank is not None:
        assert task.spec.input_size == task.vocab + 1 == task.blank + 1, "one-hot with one blank channel"
        assert task.spec.encoder == {"kind": "one_hot", "dim": task.vocab + 1}


@pytest.mark.parametrize("name", FORMAL)
def test_perfect_outputs_score_one_and_solve(name):
    task = make_task(name)
    b = task.sample_length(12, 16, torch.Generator().manual_seed(4))
    logits = torch.nn.functional.one_hot(b.y, task.n_classes).float() * 30
    m = task.metrics(logits, b)
    assert m["acc"] == 1.0 and m["scaled_acc"] == pytest.approx(1.0) and m["ce"] < 1e-6
    assert task.solved(m, task.baselines(b)["baseline"])
    noise = logits.clone()
    scored = b.mask.nonzero()
    noise[scored[0, 0], scored[0, 1]] = noise[scored[0, 0], scored[0, 1]].roll(1)
    assert task.metrics(noise, b)["acc"] == pytest.approx(1 - 1 / int(b.mask.sum()))


@pytest.mark.parametrize("name", FORMAL)
def test_unscored_outputs_do_not_change_the_metrics(name):
    task = make_task(name)
    b = task.sample_length(12, 16, torch.Generator().manual_seed(4))
    logits = torch.randn(*b.y.shape, task.n_classes, generator=torch.Generator().manual_seed(0))
    other = logits.clone()
    other[~b.mask] = torch.randn(int((~b.mask).sum()), task.n_classes)
    assert task.metrics(other, b)["acc"] == task.metrics(logits, b)["acc"]


@pytest.mark.parametrize(
    "name, chance",
    [
        ("parity_check", 0.5),
        ("even_pairs", 0.5),
        ("cycle_navigation", 0.2),
        ("modular_arithmetic", 0.2),
        ("reverse_string", 0.5),
        ("stack_manipulation", 1 / 3),
        ("duplicate_string", 0.5),
        ("bucket_sort", 0.2),
        ("s5", 1 / 120),
        ("a5", 1 / 60),
        ("z60", 1 / 60),
        ("a4xz5", 1 / 60),
        ("induction_heads", 1 / 18),
    ],
)
def test_chance_levels(name, chance):
    task = make_task(name)
    assert task.chance == pytest.approx(chance) and task.describe()["chance"] == pytest.approx(chance)


@pytest.mark.parametrize("name", ["parity_check", "reverse_string", "duplicate_string", "s5", "a5"])
def test_balanced_tasks_report_chance_as_their_baseline(name):
    task = make_task(name)
    for seed in range(5):
        base = task.baselines(task.sample_length(60, 512, torch.Generator().manual_seed(seed)))
        assert base["baseline"] == base["chance"], "a noisy majority does not lift the baseline above chance"
        assert abs(base["majority"] - base["chance"]) < 0.1


def test_bucket_sort_position_only_guess_is_far_above_chance():
    """The i-th sorted token is best guessed from its position alone; the baseline finds that guess."""
    task = make_task("bucket_sort")
    b = task.sample_length(40, 4000, torch.Generator().manual_seed(0))
    base = task.baselines(b)
    out = b.y[:, 40:]
    guess = out.mode(0).values  # the most frequent value at each output position
    direct = float((out == guess).float().mean())
    assert base["baseline"] == base["majority"] == pytest.approx(direct, abs=0.01)
    assert 0.72 < base["baseline"] < 0.82 and base["chance"] == 0.2
    quantile = torch.div(5 * torch.arange(40) + 2, 40, rounding_mode="floor")  # ⌊5(i + 0.4)/ℓ⌋
    assert float((out == quantile).float().mean()) == pytest.approx(direct, abs=0.05)


def test_short_cycle_navigation_baseline_is_its_majority_class():
    task = make_task("cycle_navigation")
    base = task.baselines(task.sample_length(1, 4000, torch.Generator().manual_seed(0)))
    assert base["baseline"] == pytest.approx(1 / 3, abs=0.03), "ℓ = 1 ends at 4, 0 or 1, a third each"
    long = task.baselines(task.sample_length(200, 512, torch.Generator().manual_seed(0)))
    assert long["baseline"] == 0.2


def test_position_majority_is_cross_fitted():
    y = torch.tensor([[0], [0], [1], [1]])
    mask = torch.ones_like(y, dtype=torch.bool)
    # each half sees one class only and is scored on the other: an honest 0, not the in-sample 0.5
    assert position_majority(y, mask, 2) == (0.0, 4)
    assert math.isnan(position_majority(y[:1], mask[:1], 2)[0])


@pytest.mark.parametrize(
    "name, length, fragment",
    [
        ("parity_check", 0, "minimum 1"),
        ("induction_heads", 2, "minimum 3"),
        ("s5", -3, "minimum 1"),
    ],
)
def test_lengths_below_a_tasks_minimum_are_refused(name, length, fragment):
    with pytest.raises(UsageError, match=fragment):
        make_task(name).at_length(length)
    with pytest.raises(UsageError):
        make_task(name, None, {"length": length})


def test_tasks_of_fixed_length_have_no_length_to_set():
    with pytest.raises(UsageError, match="task copy has no length parameter"):
        make_task("copy").at_length(30)


def test_grazzi_presets():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    parity = make_task("parity_check", "grazzi2025").sample_length(9, 64, g())
    ours = make_task("parity_check").sample_length(9, 64, g())
    assert parity.x.shape == (64, 9) and torch.equal(parity.x, ours.x[:, :9]), "the same bits, no blank"
    assert torch.equal(parity.y[:, -1], ours.y[:, -1]) and parity.mask[:, -1].all() and parity.mask.sum() == 64
    assert make_task("parity_check", "grazzi2025").spec.input_size == 2
    mod = make_task("modular_arithmetic", "grazzi2025").sample_length(9, 64, g())
    assert torch.equal(mod.x, make_task("modular_arithmetic").sample_length(9, 64, g()).x)
    m = make_task("parity_check").metrics(torch.zeros(64, 10, 2), ours)  # a constant guess
    assert m["scaled_acc"] == pytest.approx((m["acc"] - 0.5) / 0.5)


@pytest.mark.parametrize("name", FORMAL)
def test_cli_sample_prints_input_blanks_targets_and_mask(name, capsys):
    assert main(["sample", "--task", name, "--set", "task.length=7", "-n", "2", "--seed", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    task = make_task(name, None, {"length": 7})
    assert len(out["x"]) == len(out["y"]) == len(out["mask"]) == 2
    assert out["blank"] == task.blank and out["task"]["params"]["length"] == 7
    if task.blank is not None:
        assert out["x"][0].count(task.blank) == len(out["x"][0]) - task.input_length(7)
    assert set(out["symbols"]) <= {str(i) for i in range(task.spec.input_size)}


def test_cli_sample_bad_length_is_one_line(capsys):
    assert main(["sample", "--task", "parity_check", "--set", "task.length=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task.length=0" in err[0]
