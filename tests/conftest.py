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
