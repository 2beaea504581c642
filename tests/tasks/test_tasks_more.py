"""Selective copy, MQAR, Mackey-Glass and the pixel-by-pixel datasets, each generator
checked against its definition (DESIGN.md 5c), and the contract they grew: masks,
metric direction, solved rules as data, embeddings, finite datasets."""

import gzip
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from mnist_files import write_idx

from rnnbench.errors import UsageError
from rnnbench.models import build_model
from rnnbench.tasks import TASKS, make_task
from rnnbench.tasks.base import SolvedRule, higher_is_better
from rnnbench.tasks.mackey_glass import BETA, GAMMA, N_EXP, TAU, mackey_glass_series
from rnnbench.train import Cell, evaluate_in_chunks, fit


def perfect(batch, classes):
    """Logits that put all their weight on the target everywhere."""
    return torch.nn.functional.one_hot(batch.y, classes).float() * 20


# ---- selective copy ----------------------------------------------------------


def test_selective_copy_definition(gen):
    T, K, A = 30, 5, 8
    task = make_task("selective_copy", None, {"T": T, "K": K, "A": A})
    b = task.sample(500, gen)
    assert b.x.shape == b.y.shape == b.mask.shape == (500, T + 2 * K)
    assert (b.x[:, T + K :] == A - 1).all(), "the last K inputs are markers"
    head = b.x[:, : T + K]
    assert ((head == 0) | ((head >= 1) & (head <= A - 2))).all()
    for x, y in zip(head.tolist(), b.y.tolist()):
        tokens = [v for v in x if v != 0]
        assert len(tokens) == K, "exactly K data tokens among the first T+K positions"
        assert y[T + K :] == tokens, "targets: the tokens in the order they appeared"
        assert y[: T + K] == [0] * (T + K)
    assert b.mask[:, T + K :].all() and not b.mask[:, : T + K].any()
    # positions are uniform among the first T+K: each is occupied with probability K/(T+K)
    occupancy = (head != 0).float().mean(0)
    assert (occupancy - K / (T + K)).abs().max() < 0.08
    # tokens uniform in 1..A-2
    counts = torch.bincount(b.y[:, T + K :].flatten(), minlength=A)[1 : A - 1].float()
    assert (counts / counts.sum() - 1 / (A - 2)).abs().max() < 0.03


def test_selective_copy_only_recall_positions_count(gen):
    task = make_task("selective_copy", None, {"T": 12, "K": 3, "A": 6})
    b = task.sample(64, gen)
    out = perfect(b, 6)
    m = task.metrics(out, b)
    assert m["acc"] == 1.0 and task.solved(m, task.baselines(b)["baseline"])
    scrambled = out.clone()
    scrambled[:, : 12 + 3] = torch.randn(64, 15, 6)  # garbage where the mask is 0
    assert task.metrics(scrambled, b) == m
    assert task.loss(scrambled, b) == task.loss(out, b)
    wrong = out.clone()
    wrong[:, -1] = torch.roll(wrong[:, -1], 1, dims=-1)  # the last recall position now wrong
    assert task.metrics(wrong, b)["acc"] == pytest.approx(2 / 3)


def test_selective_copy_memoryless_baseline_holds_empirically(gen):
    A = 10
    task = make_task("selective_copy", None, {"T": 20, "K": 4, "A": A})
    b = task.sample(20000, gen)
    constant = torch.zeros(20000, b.x.shape[1], A)
    constant[..., 3] = 1.0  # always guess token 3: the best a memoryless model can do
    assert task.metrics(constant, b)["acc"] == pytest.approx(task.baselines(b)["baseline"], abs=0.01)
    assert task.baselines(b)["baseline"] == 1 / (A - 2)
    uniform = torch.zeros(20000, b.x.shape[1], A)
    uniform[..., 0] = uniform[..., A - 1] = -1e9  # uniform over the data tokens
    assert task.metrics(uniform, b)["ce"] == pytest.approx(math.log(A - 2), rel=1e-5)


def test_selective_copy_preset_is_the_mamba_papers():
    task = make_task("selective_copy")
    assert (task.params.T, task.params.K, task.params.A) == (4096, 16, 16)
    assert task.sample(2, torch.Generator().manual_seed(0)).x.shape == (2, 4096 + 32)


# ---- MQAR ----------------------------------------------------------------------


def test_mqar_definition(gen):
    T, P, V = 64, 6, 64
    task = make_task("mqar", None, {"T": T, "num_kv_pairs": P, "V": V})
    b = task.sample(300, gen)
    assert b.x.shape == b.y.shape == b.mask.shape == (300, T)
    for x, y, mask in zip(b.x.tolist(), b.y.tolist(), b.mask.tolist()):
        keys, values = x[0 : 2 * P : 2], x[1 : 2 * P : 2]
        assert len(set(keys)) == P and all(1 <= k < V // 2 for k in keys)
        assert len(set(values)) == P and all(V // 2 <= v < V for v in values)
        queries = [i for i, m in enumerate(mask) if m]
        assert len(queries) == P
        assert all(q >= 2 * P and (q - 2 * P) % 2 == 0 for q in queries), "queries at 2P + 2g"
        answer = dict(zip(keys, values))
        assert sorted(x[q] for q in queries) == sorted(keys), "each key queried once"
        assert all(y[q] == answer[x[q]] for q in queries), "the target at a query is its key's value"
        assert all(v < V for v in x) and all(y[i] == 0 for i in range(T) if not mask[i])
    assert task.spec.encoder == {"kind": "embedding", "vocab": V, "dim": 64}


def test_mqar_gaps_follow_the_power_law(gen):
    """With one pair, the gap's distribution is the power law itself."""
    T, a = 40, 0.3
    task = make_task("mqar", None, {"T": T, "num_kv_pairs": 1, "V": 64, "power_a": a})
    b = task.sample(40000, gen)
    gaps = (b.mask.float().argmax(1) - 2) // 2
    space = (T - 2) // 2
    expected = a * torch.arange(1, space + 1, dtype=torch.float64) ** (a - 1)
    expected /= expected.sum()
    observed = torch.bincount(gaps, minlength=space).double() / len(gaps)
    assert (observed - expected).abs().max() < 0.01
    assert observed[0] > 3 * observed[-1], "short gaps are likelier"


def test_mqar_memoryless_baseline_holds_empirically(gen):
    V = 16
    task = make_task("mqar", None, {"T": 32, "num_kv_pairs": 4, "V": V})
    b = task.sample(20000, gen)
    guess = torch.zeros(20000, 32, V)
    guess[..., V // 2 + 1] = 1.0  # always the same value token
    assert task.metrics(guess, b)["acc"] == pytest.approx(2 / V, abs=0.01)
    assert task.baselines(b)["baseline"] == 2 / V
    assert task.metrics(perfect(b, V), b)["acc"] == 1.0


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"T": 63}, "even length"),
        ({"V": 7}, "even vocabulary"),
        ({"T": 16, "num_kv_pairs": 5}, "T >= 4"),
        ({"V": 8, "num_kv_pairs": 4, "T": 64}, "distinct keys"),
        ({"power_a": 0}, "power_a"),
    ],
)
def test_mqar_impossible_parameters(params, fragment):
    with pytest.raises(UsageError, match=fragment):
        make_task("mqar", None, params)


def test_embedding_encoder_is_built_and_recorded():
    task = make_task("mqar", None, {"T": 16, "num_kv_pairs": 2, "V": 32, "embed_dim": 8})
    model = build_model(
        "gru",
        None,
        task.spec,
        __import__("rnnbench.models", fromlist=["x"]).resolve_model("gru").params({"hidden_size": 8}),
        torch.Generator().manual_seed(0),
    )
    assert model.embedding.weight.shape == (32, 8) and model.core.input_size == 8
    record = fit(
        Cell(
            "mqar",
            "gru",
            task_params={"T": 16, "num_kv_pairs": 2, "V": 32, "embed_dim": 8},
            model_params={"hidden_size": 8},
            train={"steps": 2, "eval_size": 8},
        ),
        "cpu",
    )
    assert record["model"]["encoder"] == {"kind": "embedding", "vocab": 32, "dim": 8}
    copy = fit(
        Cell("copy", "gru", task_params={"T": 3, "K": 2}, model_params={"hidden_size": 8}, train={"steps": 1, "eval_size": 4}),
        "cpu",
    )
    assert copy["model"]["encoder"] == {"kind": "one_hot", "dim": 10}


# ---- Mackey-Glass ----------------------------------------------------------------


def test_mackey_glass_series_solves_the_delay_equation():
    s = mackey_glass_series(600).numpy()
    assert 0.2 < s.min() and s.max() < 1.45, "the tau=17 attractor's range"
    t = np.arange(TAU + 1, 598)
    derivative = (s[t + 1] - s[t - 1]) / 2  # central difference, one time unit apart
    delayed = s[t - TAU]
    rhs = BETA * delayed / (1 + delayed**N_EXP) - GAMMA * s[t]
    assert np.abs(derivative - rhs).mean() < 0.005
    assert np.corrcoef(derivative, rhs)[0, 1] > 0.99
    finer = mackey_glass_series(600, dt=0.05).numpy()
    assert np.abs(finer[:100] - s[:100]).max() < 0.01, "the integration step is small enough"


def test_mackey_glass_windows_and_disjoint_stretches(gen):
    task = make_task("mackey_glass", None, {"T": 10, "H": 3, "n_train": 200, "n_test": 100})
    train, test, var = task.stretches
    assert len(train) == 200 and len(test) == 100
    assert abs(float(train.mean())) < 1e-5 and float(train.std()) == pytest.approx(1, abs=1e-4)
    for split, stretch in (("train", train), ("test", test)):
        b = task.sample(50, gen, split=split)
        assert b.x.shape == (50, 10, 1) and b.y.shape == (50, 1)
        for x, y in zip(b.x[..., 0], b.y[:, 0]):
            starts = [i for i in range(len(stretch) - 12) if torch.equal(stretch[i : i + 10], x)]
            assert len(starts) == 1, "each window lies inside its own stretch"
            assert y == stretch[starts[0] + 10 - 1 + 3], "target: the reading H steps after the last"
    assert var == pytest.approx(float(test.var()))


def test_mackey_glass_baselines(gen):
    task = make_task("mackey_glass", None, {"T": 20, "H": 1})
    b = task.evaluation(2000, gen)
    base = task.baselines(b)
    persistence = float(((b.x[:, -1] - b.y) ** 2).mean()) / task.stretches[2]
    assert base["persistence"] == pytest.approx(persistence)
    assert base["mean"] == pytest.approx(1.0, abs=0.15)
    assert base["baseline"] == min(base["persistence"], base["mean"])
    assert base["persistence"] < 0.1, "one step ahead the series barely moves"
    far = make_task("mackey_glass", None, {"T": 20, "H": 84})
    assert far.baselines(far.evaluation(2000, gen))["persistence"] > 0.5


# ---- digits and MNIST -------------------------------------------------------------


def test_digits_split_is_fixed_stratified_and_scaled(gen):
    task = make_task("sdigits")
    train, test = task._data["train"], task._data["test"]
    assert len(train.labels) == 1437 and len(test.labels) == 360
    tr, te = torch.bincount(train.labels, minlength=10), torch.bincount(test.labels, minlength=10)
    assert ((tr.float() / 1437 - te.float() / 360).abs() < 0.01).all(), "stratified"
    b = task.sample(64, gen)
    assert b.x.shape == (64, 64, 1) and 0 <= b.x.min() and b.x.max() <= 1 and b.x.max() == 1
    whole = task.evaluation(10_000, gen)
    assert len(whole) == 360 and torch.equal(whole.y, test.labels)
    assert task.evaluation_note(10_000) == "the whole test split (360 images)"
    sub1, sub2 = task.evaluation(100, gen), task.evaluation(100, torch.Generator().manual_seed(5))
    assert len(sub1) == 100 and torch.equal(sub1.x, sub2.x), "a fixed subset, whatever the generator"
    base = task.baselines(whole)["baseline"]
    assert base == pytest.approx(float(te.max()) / 360)
    majority = torch.zeros(360, 64, 10)
    majority[..., int(te.argmax())] = 1.0
    assert task.metrics(majority, whole)["acc"] == pytest.approx(base)


def test_pdigits_is_sdigits_under_the_exprnn_permutation():
    s, p = make_task("sdigits")._data, make_task("pdigits")._data
    perm = torch.from_numpy(np.random.RandomState(92916).permutation(64))
    assert torch.equal(p["train"].images, s["train"].images[:, perm])
    assert torch.equal(p["test"].labels, s["test"].labels)
    assert not torch.equal(p["train"].images, s["train"].images)


def test_a_gru_learns_sdigits_well_above_the_majority_baseline():
    record = fit(
        Cell("sdigits", "gru", model_params={"hidden_size": 32}, train={"steps": 300, "lr": 1e-2, "eval_every": 300}), "cpu"
    )
    m = record["metrics"]
    assert m["baseline"] < 0.11 and m["acc"] > 0.5
    assert record["evaluated_on"] == "the whole test split (360 images)"


def test_mnist_reads_idx_files_gzipped_or_not(mnist_dir, gen):
    task = make_task("smnist", None, {"path": str(mnist_dir)})
    train, test = task._data["train"], task._data["test"]
    assert train.images.shape == (12, 784) and test.images.shape == (5, 784)
    raw = np.frombuffer(gzip.open(mnist_dir / "train-images-idx3-ubyte.gz").read()[16:], dtype=np.uint8)
    assert torch.equal(train.images.flatten(), torch.from_numpy(raw.copy()))
    b = task.sample(4, gen)
    assert b.x.shape == (4, 784, 1) and b.x.max() <= 1
    assert len(task.evaluation(1000, gen)) == 5
    permuted = make_task("pmnist", None, {"path": str(mnist_dir)})._data["test"].images
    assert torch.equal(permuted, test.images[:, torch.from_numpy(np.random.RandomState(92916).permutation(784))])


def test_mnist_cell_key_names_the_data_not_its_path(mnist_dir, tmp_path_factory):
    import shutil

    other = tmp_path_factory.mktemp("elsewhere") / "mnist"
    shutil.copytree(mnist_dir, other)
    key = lambda d: Cell("smnist", "rnn", task_params={"path": str(d)}).key()  # noqa: E731
    assert key(mnist_dir) == key(other)
    (other / "t10k-labels-idx1-ubyte").write_bytes((2049).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(5))
    from rnnbench.tasks.pixels import mnist_sha256, mnist_splits

    mnist_splits.cache_clear(), mnist_sha256.cache_clear()
    assert key(mnist_dir) != key(other)


@pytest.mark.parametrize(
    "damage, fragment",
    [
        ("missing", "not found"),
        ("magic", "expected magic number 2051"),
        ("truncated", "truncated"),
        ("count", "disagree"),
    ],
)
def test_malformed_mnist_files_are_named(mnist_dir, damage, fragment):
    from rnnbench.tasks.pixels import mnist_splits

    mnist_splits.cache_clear()
    images = mnist_dir / "t10k-images-idx3-ubyte"
    if damage == "missing":
        images.unlink()
    elif damage == "magic":
        images.write_bytes((2049).to_bytes(4, "big") + images.read_bytes()[4:])
    elif damage == "truncated":
        images.write_bytes(images.read_bytes()[:-10])
    else:
        write_idx(mnist_dir / "t10k-labels-idx1-ubyte", np.zeros(4), 2049, False)
    with pytest.raises(UsageError, match=fragment) as exc:
        _ = make_task("smnist", None, {"path": str(mnist_dir)})._data  # the files are read on first use
    assert "t10k" in str(exc.value)


def test_cli_smnist_without_its_files_is_one_line_and_exit_2():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnbench",
            "run",
            "--task",
            "smnist",
            "--model",
            "rnn",
            "--set",
            "task.path=/nonexistent",
            "--steps",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent/train-images-idx3-ubyte" in lines[0]


# ---- the contract ----------------------------------------------------------------------


def test_chunked_evaluation_equals_one_pass(monkeypatch):
    import rnnbench.train as train

    for name, params in (
        ("mqar", {"T": 16, "num_kv_pairs": 3, "V": 32}),
        ("sdigits", {}),
        ("selective_copy", {"T": 10, "K": 3, "A": 6}),
    ):
        task = make_task(name, None, params)
        from rnnbench.models import resolve_model

        model = build_model(
            "gru", None, task.spec, resolve_model("gru").params({"hidden_size": 8}), torch.Generator().manual_seed(0)
        )
        batch = task.evaluation(300, torch.Generator().manual_seed(1))
        with torch.no_grad():
            whole = evaluate_in_chunks(model, task, batch)
            monkeypatch.setattr(train, "EVAL_CHUNK_NUMBERS", batch.x.shape[1] * 32 * 7)  # 7 rows per chunk
            chunked = evaluate_in_chunks(model, task, batch)
            monkeypatch.undo()
        assert whole.keys() == chunked.keys()
        for k in whole:
            assert chunked[k] == pytest.approx(whole[k], rel=1e-5), (name, k)


def test_solved_rule_edges():
    at_least = SolvedRule("acc", ">=", 0.99)
    assert at_least.check({"acc": 0.99}, 0.1) and not at_least.check({"acc": 0.9899}, 0.1)
    below = SolvedRule("mse", "<", 0.01, relative=True)
    assert not below.check({"mse": 0.01 * 0.5}, 0.5) and below.check({"mse": 0.0049}, 0.5)
    assert str(below) == "mse < 0.01 * baseline" and str(at_least) == "acc >= 0.99"


def test_every_task_states_its_rule_and_direction_from_one_definition():
    out = subprocess.run([sys.executable, "-m", "rnnbench", "list", "tasks"], capture_output=True, text=True).stdout
    for name, cls in TASKS.items():
        line = next(l for l in out.splitlines() if l.strip().startswith(name + " "))
        assert f"solved when {cls.rule}" in line
        assert ("higher is better" in line) == higher_is_better(cls.primary_metric)
        assert cls.rule.metric in {cls.primary_metric, "recall_acc"}
    assert higher_is_better("acc") and not higher_is_better("nmse")
