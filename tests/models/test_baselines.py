"""What the three baselines share through the contract: the declared state size is what forward
returns to carry over, `rnnbench check` passes every probe, and `rnnbench list` shows them, after
the modern recurrences, with their state."""

import pytest
import torch

from rnnbench.cli import main
from rnnbench.models import model_order, resolve_model

BASELINES = ["transformer", "slstm", "hawk"]


def numbers(state):
    if isinstance(state, torch.Tensor):
        return state.numel()
    return sum(numbers(s) for s in state)


@pytest.mark.parametrize("name", BASELINES)
def test_the_declared_state_size_is_what_forward_returns(name):
    arch = resolve_model(name)
    p = arch.params({"hidden_size": 8, "num_layers": 2})
    for impl in arch.implementations:
        core = arch.build(impl, 3, p)
        for T in (1, 6):
            _, state = core(torch.zeros(4, T, 3))
            assert numbers(state) == 4 * arch.state_numbers(p, T), (impl, T)


@pytest.mark.parametrize("name", ["slstm", "hawk"])
def test_check_passes_every_probe(capsys, name):
    assert main(["check", name]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "n/a" not in out and "pass  state carry-over" in out and "pass  causality" in out


def test_list_shows_them_after_the_modern_recurrences_with_their_state(capsys):
    order = model_order()
    assert order.index("mamba") < order.index("slstm") < order.index("hawk") < order.index("transformer")
    assert main(["list", "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = {name: next(l for l in lines if l.strip().startswith(name + " ")) for name in BASELINES}
    assert "[reference]" in line["slstm"] and "state: 448" in line["slstm"]  # h, c, n, m and 3 conv inputs × 64
    assert "[reference, chunk]" in line["hawk"] and "state: 256" in line["hawk"]  # 3 conv inputs and h × 64
    assert "state: 128·T" in line["transformer"]
