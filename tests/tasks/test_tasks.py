import math

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.tasks import TASKS, make_task
from rnnbench.tasks.copy import BLANK, DELIMITER

# ---- copy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, x_tail",
    [
        ("arjovsky2016", [0, 0, 9, 0, 0]),  # T-1 blanks, delimiter, K blanks
        ("bai2018", [0, 0, 9, 9, 9]),  # the last K+1 inputs are delimiters
        ("exprnn2019", [0, 0, 0, 9, 0]),  # T blanks, delimiter, K-1 blanks
    ],
)
def test_copy_worked_example(preset, x_tail, gen):
    task = make_task("copy", preset, {"T": 3, "K": 2})
    b = task.sample(5, gen)
    assert b.x.shape == b.y.shape == (5, 7) and b.x.dtype == torch.long
    for x, y in zip(b.x.tolist(), b.y.tolist()):
        symbols = x[:2]
        assert all(1 <= s <= 8 for s in symbols)
        assert x[2:] == x_tail
        assert y == [0, 0, 0, 0, 0] + symbols


@pytest.mark.parametrize("preset", ["arjovsky2016", "bai2018", "exprnn2019"])
def test_copy_layout_at_scale(preset, gen):
    T, K = 100, 10
    task = make_task("copy", preset, {"T": T})
    b = task.sample(64, gen)
    assert b.x.shape == (64, T + 20)
    assert ((b.x[:, :K] >= 1) & (b.x[:, :K] <= 8)).all()
    assert (b.y[:, : T + K] == BLANK).all() and torch.equal(b.y[:, -K:], b.x[:, :K])
    delimiter_positions = (b.x[0] == DELIMITER).nonzero().flatten().tolist()
    expected = {"arjovsky2016": [K + T - 1], "bai2018": list(range(K + T - 1, T + 2 * K)), "exprnn2019": [K + T]}
    assert delimiter_positions == expected[preset]
    # every symbol value shows up: the draw covers 1..8
    assert set(b.x[:, :K].unique().tolist()) == set(range(1, 9))


@pytest.mark.parametrize("T", [10, 100])
def test_copy_memoryless_baseline_holds_empirically(T, gen):
    task = make_task("copy", None, {"T": T})
    b = task.sample(4000, gen)
    # blanks until the recall steps, then the uniform distribution over the 8 symbols
    logits = torch.full((4000, T + 20, 9), -1e9)
    logits[:, : T + 10, BLANK] = 0.0
    logits[:, T + 10 :, 1:] = 0.0
    ce = task.metrics(logits, b)["ce"]
    assert ce == pytest.approx(10 * math.log(8) / (T + 20), rel=0.02)
    assert task.baselines(b)["baseline"] == pytest.approx(10 * math.log(8) / (T + 20))


def test_copy_solved_rule(gen):
    task = make_task("copy", None, {"T": 5})
    b = task.sample(100, gen)
    perfect = torch.nn.functional.one_hot(b.y, 9).float() * 50
    m = task.metrics(perfect, b)
    assert m["recall_acc"] == 1.0 and m["ce"] < 1e-6
    assert task.solved(m, task.baselines(b)["baseline"])
    wrong = perfect.clone()
    wrong[:5, -1] = perfect[:5, -1].roll(1, dims=-1)  # 5 of 1000 recall symbols wrong -> 99.5%
    assert task.solved(task.metrics(wrong, b), 1.0)
    wrong[:20, -1] = perfect[:20, -1].roll(1, dims=-1)  # 2% wrong
    assert not task.solved(task.metrics(wrong, b), 1.0)


# ---- adding -----------------------------------------------------------------


def test_adding_arjovsky_markers_and_target(gen):
    T = 50
    b = make_task("adding", None, {"T": T}).sample(2000, gen)
    assert b.x.shape == (2000, T, 2) and b.y.shape == (2000, 1) and b.lengths is None
    values, markers = b.x[..., 0], b.x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers.sum(1) == 2).all() and set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers[:, : T // 2].sum(1) == 1).all() and (markers[:, T // 2 :].sum(1) == 1).all()
    assert torch.allclose((values * markers).sum(1, keepdim=True), b.y)


def test_adding_bai_markers_anywhere_and_distinct(gen):
    T = 20
    b = make_task("adding", "bai2018", {"T": T}).sample(4000, gen)
    markers = b.x[..., 1]
    assert (markers.sum(1) == 2).all()  # two distinct positions
    both_in_first_half = (markers[:, : T // 2].sum(1) == 2).float().mean()
    assert 0.15 < float(both_in_first_half) < 0.35  # ≈ C(10,2)/C(20,2) = 0.237; impossible for arjovsky2016
    assert torch.allclose((b.x[..., 0] * markers).sum(1, keepdim=True), b.y)


def test_adding_hochreiter_definition(gen):
    T = 100
    task = make_task("adding", "hochreiter1997", {"T": T})
    b = task.sample(3000, gen)
    L = T + T // 10
    assert b.x.shape == (3000, L, 2) and b.lengths is not None
    assert int(b.lengths.min()) == T and int(b.lengths.max()) == L
    values, markers = b.x[..., 0], b.x[..., 1]
    assert ((values >= -1) & (values <= 1)).all() and float(values.min()) < -0.9
    first_marked = markers[:, 0] == 1
    assert 0.05 < float(first_marked.float().mean()) < 0.16  # P(first pair marked) = 0.1 + 0.9/49
    for i in range(200):
        n = int(b.lengths[i])
        m = markers[i].tolist()
        ones = [t for t, v in enumerate(m) if v == 1.0]
        assert len(ones) == 2 and ones[0] < 10 and ones[1] < T // 2
        assert m[n - 1] == -1.0 and (m[0] == -1.0 or ones[0] == 0)
        assert all(v == 0.0 for v in m[n:]) and all(v == 0.0 for v in values[i, n:].tolist())
        x1, x2 = values[i, ones[0]], values[i, ones[1]]
        assert float(b.y[i]) == pytest.approx(0.5 + float(x1 + x2) / 4, abs=1e-6)
        if ones[0] == 0 and ones[1] >= 10:  # then the first pair is the one chosen first (X1)
            assert float(x1) == 0.0


def test_adding_constant_predictor_baselines(gen):
    for preset, constant, expected in [("arjovsky2016", 1.0, 1 / 6), ("bai2018", 1.0, 1 / 6), ("hochreiter1997", 0.5, 19 / 480)]:
        task = make_task("adding", preset, {"T": 40})
        b = task.sample(20000, gen)
        out = torch.full((*b.x.shape[:2], 1), constant)
        mse = task.metrics(out, b)["mse"]
        assert mse == pytest.approx(expected, rel=0.03), preset
        assert task.baselines(b)["baseline"] == pytest.approx(expected)


def test_adding_reads_each_sequence_at_its_own_last_step(gen):
    task = make_task("adding", "hochreiter1997", {"T": 40})
    b = task.sample(32, gen)
    out = torch.zeros(32, b.x.shape[1], 1)
    out[torch.arange(32), b.lengths - 1, 0] = b.y[:, 0]  # right only at the real last step
    m = task.metrics(out, b)
    assert m["mse"] == 0.0 and m["frac_within_0.04"] == 1.0


# ---- sine -------------------------------------------------------------------


def test_sine_pytorch_examples_formula(gen):
    task = make_task("sine", "pytorch_examples", {"T": 30})
    assert task.params.T == 30 and make_task("sine", "pytorch_examples").params.T == 999
    b = task.sample(8, gen)
    assert b.x.shape == b.y.shape == (8, 30, 1)
    # recover the integer shift from the first value and check the whole sequence
    t = torch.arange(31)
    for x, y in zip(b.x[..., 0], b.y[..., 0]):
        full = torch.cat([x, y[-1:]])
        shifts = torch.arange(-80, 80)
        candidates = torch.sin((t.unsqueeze(0) + shifts.unsqueeze(1)) / 20.0)  # (160, 31)
        err = (candidates - full).abs().max(1).values
        assert float(err.min()) < 1e-5
        assert torch.allclose(y[:-1], x[1:])  # target is the next value


def test_sine_multisine_worked_example_and_baselines(gen):
    task = make_task("sine", None, {"T": 40, "H": 5, "noise": 0.0})
    b = task.sample(20000, gen)
    assert b.x.shape == (20000, 40, 1) and b.y.shape == (20000, 1)
    # the mean forecast (0) scores NMSE 1 against the analytic variance
    assert task.metrics(torch.zeros(20000, 40, 1), b)["nmse"] == pytest.approx(1.0, rel=0.03)
    base = task.baselines(b)
    assert base["mean"] == pytest.approx(1.0, rel=0.03)
    assert base["baseline"] == min(base["persistence"], base["mean"])
    one = make_task("sine", None, {"T": 3, "H": 2, "n_sines": 1, "min_period": 4, "max_period": 4, "noise": 0})
    x = one.sample(1000, gen)
    # one sine of period 4: the value 4 steps after x_0 equals x_0
    assert torch.allclose(x.y[:, 0], x.x[:, 0, 0], atol=1e-5)


def test_sine_noise_is_applied_to_inputs_only(gen):
    clean = make_task("sine", None, {"noise": 0.0}).sample(4, torch.Generator().manual_seed(0))
    noisy = make_task("sine", None, {"noise": 0.5}).sample(4, torch.Generator().manual_seed(0))
    assert torch.equal(clean.y, noisy.y)
    assert 0.3 < float((noisy.x - clean.x).std()) < 0.7


# ---- all tasks --------------------------------------------------------------

SMALL = {"mqar": {"T": 30, "V": 64, "num_kv_pairs": 4}, "sdigits": {}, "pdigits": {}}


@pytest.mark.parametrize("name", list(TASKS))
def test_same_generator_seed_same_batch_and_no_global_rng(name, mnist_dir):
    length = TASKS.get(name).length_param or "T"  # the length-generalisation tasks call it "length"
    params = {"path": str(mnist_dir)} if name in ("smnist", "pmnist") else SMALL.get(name, {length: 30})
    task = make_task(name, None, params)
    torch.manual_seed(0)
    a = task.sample(16, torch.Generator().manual_seed(7))
    torch.manual_seed(999)
    b = task.sample(16, torch.Generator().manual_seed(7))
    c = task.sample(16, torch.Generator().manual_seed(8))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize(
    "name, preset, params, fragment",
    [
        ("copy", None, {"T": 0}, "task.T=0"),
        ("copy", None, {"K": -1}, "task.K=-1"),
        ("adding", None, {"T": 1}, "task.T=1"),
        ("adding", "hochreiter1997", {"T": 10}, "hochreiter1997"),
        ("sine", None, {"H": 0}, "task.H=0"),
        ("sine", None, {"min_period": 50}, "min_period"),
        ("copy", "nosuch", {}, "arjovsky2016"),
        ("copy", None, {"X": 1}, "valid task parameters: K, T"),
        ("copy", None, {"T": "ten"}, "not an integer"),
    ],
)
def test_bad_task_parameters_are_named(name, preset, params, fragment):
    with pytest.raises(UsageError, match=fragment):
        make_task(name, preset, params)
