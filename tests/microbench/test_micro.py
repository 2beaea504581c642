"""pytest-benchmark micro-benchmarks: one training step of each cell, and batch generation.

Disabled in ``nox -s tests`` (each body runs once, as a smoke test);
``nox -s microbench`` times them (``--benchmark-only --benchmark-enable``).
"""

import pytest
import torch

from rnnbench.models import MODELS, build_model, model_order
from rnnbench.tasks import TASKS, make_task


@pytest.mark.parametrize(
    "model, impl", [(m, i) for m in model_order() for i in MODELS.get(m).implementations if i not in MODELS.get(m).requires]
)  # the authors' GPU kernels: gpu profile
def test_train_step(benchmark, model, impl):
    task = make_task("adding", None, {"T": 30})
    params = MODELS.get(model).params({"hidden_size": 64})
    net = build_model(model, impl, task.spec, params, torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = task.sample(64, torch.Generator().manual_seed(0))

    def step():
        loss = task.loss(net(batch.x), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    loss = benchmark(step)
    assert torch.isfinite(loss)


SIZES = {
    "copy": {"T": 100},
    "adding": {"T": 100},
    "sine": {"T": 100},
    "selective_copy": {"T": 100},
    "mqar": {"T": 128, "num_kv_pairs": 8},
    "mackey_glass": {"T": 100},
    "sdigits": {},
    "pdigits": {},
}
FORMAL = [
    "even_pairs",
    "modular_arithmetic",
    "parity_check",
    "cycle_navigation",  # regular
    "stack_manipulation",
    "reverse_string",
    "modular_arithmetic_brackets",
    "solve_equation",  # context-free
    "duplicate_string",
    "missing_duplicate_string",
    "odds_first",
    "binary_addition",
    "binary_multiplication",
    "compute_sqrt",
    "bucket_sort",  # context-sensitive
    "a4xz5",
    "a5",
    "s5",
    "z60",
    "induction_heads",
]  # word problems, recall
SIZES |= {name: {} for name in FORMAL}  # their default length, 40 (the training range's end)
NEEDS_FILES = {"smnist", "pmnist"}  # read from the user's IDX files (tests/tasks/test_tasks_more.py writes small ones)


def test_every_task_has_a_batch_benchmark():
    assert set(TASKS) == set(SIZES) | NEEDS_FILES


@pytest.mark.parametrize("name", list(SIZES))
def test_batch_generation(benchmark, name):
    task = make_task(name, None, SIZES[name])
    g = torch.Generator().manual_seed(0)
    batch = benchmark(task.sample, 64, g)
    assert batch.x.shape[0] == 64
