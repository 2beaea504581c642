"""What the three baselines share through the contract: the declared state size is what forward
returns to carry over, `rnnbench check` passes every probe, and `rnnbench list` shows them, after
the modern recurrences, with their state."""

import re

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
    # h, c, n, m and 3 conv inputs × 64
    assert "[reference; default cpu: reference" in line["slstm"] and "state: 448" in line["slstm"]
    # 3 conv inputs and h × 64; native is "(not here)" without a C++ compiler
    assert re.search(r"\[reference, chunk, native( \(not here\))?; default cpu: chunk", line["hawk"]), line["hawk"]
    assert "state: 256" in line["hawk"]
    assert "state: 128·T" in line["transformer"]


def test_profiles_run_them_with_the_encoding_each_task_suits_and_the_slow_reference_at_fewer_lengths():
    from rnnbench.profiles import load_profile

    quick, modern = load_profile("quick"), load_profile("modern")
    retention_profile = load_profile("modern_retention")
    recall = [pc.cell for pc in quick.cells if pc.cell.model == "transformer"]
    assert {c.task for c in recall} == {"selective_copy", "mqar"}
    assert all(c.model_params == {"hidden_size": 64, "num_layers": 2, "pos_encoding": "learned"} for c in recall)
    retention = {
        c.task: c.model_params.get("pos_encoding")
        for pc in retention_profile.cells
        if (c := pc.cell).model == "transformer" and pc.section == "retention"
    }
    assert retention == {"adding": "none", "copy": "learned"}
    lengths = {
        impl: {
            pc.cell.shape.seq_len
            for pc in modern.cells
            if pc.section == "throughput" and pc.cell.model == "transformer" and pc.cell.impl == impl
        }
        for impl in ("fused", "reference")
    }
    assert lengths == {"fused": {64, 256, 1024, 4096}, "reference": {64, 256, 1024}}


def test_a_profile_may_hold_several_throughput_grids(tmp_path):
    from rnnbench.errors import UsageError
    from rnnbench.profiles import load_profile

    path = tmp_path / "grids.toml"
    path.write_text(
        '[[throughput]]\nmodels = ["lstm"]\nimpl = "fused"\nseq_len = [8, 16]\n'
        '[[throughput]]\nmodels = ["gru"]\nimpl = "reference"\nseq_len = 8\n'
    )
    cells = [(pc.cell.model, pc.cell.impl, pc.cell.shape.seq_len) for pc in load_profile(str(path)).cells]
    assert cells == [("lstm", "fused", 8), ("lstm", "fused", 16), ("gru", "reference", 8)]
    path.write_text('[[throughput]]\nmodels = ["lstm"]\n[[throughput]]\nmodels = ["gru"]\nbatchsize = 3\n')
    with pytest.raises(UsageError, match="throughput grid 2: unknown key 'batchsize'"):
        load_profile(str(path))
