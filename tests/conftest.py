import pytest
import torch


@pytest.fixture
def gen():
    """A fresh explicit generator; tests never touch the global RNG for data."""
    return torch.Generator().manual_seed(1234)
