import os

import numpy as np
import pytest
import torch
from mnist_files import write_idx

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `nox -s tests` runs one pytest-xdist worker per core: each gets one intra-op thread (and so do
    # the processes it starts), or the workers' thread pools spin against each other at every op
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _threads_put_back():
    """A test that changes torch's intra-op thread count (main([... "--threads", "2"]), an
    import that sets it) gets it put back, so the tests after it on this worker keep one thread."""
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture
def gen():
    """A fresh explicit generator; tests never touch the global RNG for data."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.RandomState(0)
    for stem, n, gz in (("train", 12, True), ("t10k", 5, False)):
        suffix = ".gz" if gz else ""
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte{suffix}", rng.randint(0, 256, (n, 28, 28)), 2051, gz)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte{suffix}", rng.randint(0, 10, n), 2049, gz)
    return tmp_path


def pytest_addoption(parser):
    parser.addoption(
        "--serial",
        choices=["run", "skip", "only"],
        default="run",
        help="tests marked serial (timing-sensitive): run them with the rest (default), skip them, or run only them; "
        "nox -s tests runs the rest in parallel with --serial=skip, then these alone with --serial=only",
    )


def pytest_collection_modifyitems(config, items):
    phase = config.getoption("serial")
    if phase == "run":
        return
    keep = [item for item in items if (item.get_closest_marker("serial") is not None) == (phase == "only")]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
