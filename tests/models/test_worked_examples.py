"""Every architecture's ``reference`` pinned to its paper (DESIGN.md section 10): tiny worked
examples whose outputs, final state and gradient are known without rnnbench's code, from the
paper's equations in plain NumPy (paper_equations.py) or from the authors' own reference code
(authors_numbers.py, with the repository, file and commit that printed them). The equivalence
test (tests/models/test_models.py) then carries each check to every fast path.

Negative controls plant a wrong constant in the equations that every implementation of an
architecture shares and see the worked example fail.
"""

from __future__ import annotations

import paper_equations
import pytest
import torch
from arch_examples import EXAMPLES, Example
from authors_numbers import NUMBERS
from pinning import assert_matches, build_reference, run_reference
from planting import Proxy

from rnnbench.models import MODELS

_EXPECTED: dict[str, dict] = {}  # the equations' numbers, computed once per example (the gradients take seconds)


def expected(example: Example) -> dict:
    if example.source == "paper":
        if example.id not in _EXPECTED:
            _EXPECTED[example.id] = paper_equations.expected(example)
        return _EXPECTED[example.id]
    return NUMBERS[example.id]


def check(example: Example) -> None:
    assert_matches(run_reference(example), expected(example), example)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_reference_reproduces_the_worked_example(example):
    check(example)


def test_every_registered_architecture_has_a_worked_example():
    covered = {e.model for e in EXAMPLES}
    missing = sorted(set(MODELS) - covered)
    assert not missing, f"no worked example for {missing}: add one to tests/models/arch_examples.py (docs/worked_examples.md)"


def test_every_example_from_authors_code_has_its_numbers_and_names_a_commit():
    for e in EXAMPLES:
        if e.source != "paper":
            assert e.id in NUMBERS, f"{e.id}: no numbers in authors_numbers.py"
            assert "@" in e.source and len(e.source.split("@")[-1].strip()) == 40, f"{e.id}: name the commit"
            want = NUMBERS[e.id]
            assert (e.grad and "grad" in want) or not e.grad, f"{e.id}: the example asks for a gradient"


def test_the_worked_examples_are_not_degenerate():
    """Each example moves its numbers: a state that stayed zero or an output that repeats would
    hide a missing term."""
    for e in EXAMPLES:
        want = expected(e)
        y = torch.tensor(want["output"])
        assert y.abs().max() > 1e-3 and y.std() > 1e-3, e.id
        assert not torch.allclose(y[0], y[1]), f"{e.id}: the two sequences give the same output"
        assert not torch.allclose(y[:, 0], y[:, -1]), f"{e.id}: first and last steps equal"


# ---- negative controls: a wrong constant in the equations every implementation shares ------------


def plant_g_shift(monkeypatch):
    """minGRU/minLSTM's g(v) = v + 0.5 for v ≥ 0 written with 0.4 (in g, in log g and in the fused
    chunk layer's g_fast: every path)."""
    import torch.nn.functional as F

    import rnnbench.models.architectures.minrnn as minrnn

    monkeypatch.setattr(minrnn, "g", lambda v: torch.where(v >= 0, v + 0.4, torch.sigmoid(v)))
    monkeypatch.setattr(minrnn, "log_g", lambda v: torch.where(v >= 0, (F.relu(v) + 0.4).log(), -F.softplus(-v)))
    monkeypatch.setattr(minrnn, "g_fast", lambda v, s: torch.where(v >= 0, v + 0.4, s))


def plant_delta_scale(monkeypatch):
    """Mamba's Δ = softplus(dt_proj(Δ_r)) scaled by 1.1."""
    import torch.nn.functional as F

    import rnnbench.models.architectures.mamba as mamba

    monkeypatch.setattr(mamba, "F", Proxy(F, softplus=lambda v: 1.1 * F.softplus(v)))


def plant_tanh_gelu(monkeypatch):
    """LRU's GELU computed with the tanh approximation (flax's default) instead of erf."""
    import torch.nn.functional as F

    import rnnbench.models.architectures.lru as lru

    monkeypatch.setattr(lru, "F", Proxy(F, gelu=lambda v: F.gelu(v, approximate="tanh")))


def plant_modrelu_sign(monkeypatch):
    """expRNN's modReLU with the bias subtracted: sign(z)·relu(|z| − b)."""
    import rnnbench.models.architectures.exprnn as exprnn

    monkeypatch.setattr(exprnn, "modrelu", lambda z, b: torch.sign(z) * torch.relu(z.abs() - b))


def plant_indrnn_dropped_bias(monkeypatch):
    """IndRNN's recurrence without b (the input projection's bias dropped)."""
    import rnnbench.models.architectures.indrnn as indrnn

    monkeypatch.setattr(indrnn.IndRNNLayer, "forward", lambda self, x, h=None: _indrnn_without_bias(self, x, h))


def _indrnn_without_bias(layer, x, h):
    from rnnbench.models.stack import step_loop

    h = x.new_zeros(x.shape[0], layer.hidden_size) if h is None else h
    return step_loop(lambda h, g: torch.relu(g + layer.weight_hh * h), h, x @ layer.weight_ih.T)


def plant_lstm_forget_bias(monkeypatch):
    """LSTM's forget gate shifted by +1 (a forget-bias constant that is not in the equations)."""
    import rnnbench.models.architectures.lstm as lstm

    def cell(gi, state, w_hh, b_hh):
        h, c = state
        i, f, g, o = (gi + h @ w_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    monkeypatch.setattr(lstm, "lstm_cell", cell)


def plant_l2norm_scale(monkeypatch):
    """DeltaNet's q and k normalised to length 1.1 instead of 1 (fla's l2norm with a stray factor)."""
    import rnnbench.models.architectures.linear_attention as la

    real = la.l2norm
    monkeypatch.setattr(la, "l2norm", lambda x, eps=1e-6: 1.1 * real(x, eps))


def plant_proxy(module_name, function, factor):
    """``function`` of torch.nn.functional as ``module_name`` calls it, times ``factor``."""

    def plant(monkeypatch):
        import importlib

        import torch.nn.functional as F

        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, "F", Proxy(F, **{function: lambda *a, **k: factor * getattr(F, function)(*a, **k)}))

    return plant


def plant_rwkv7_decay(monkeypatch):
    """RWKV-7's decay w = exp(−e^{−1/2}σ(·)) written with e^{−0.4}."""
    import math

    import rnnbench.models.architectures.rwkv7 as rwkv7

    monkeypatch.setattr(rwkv7, "DECAY_SCALE", math.exp(-0.4))


def plant_rope_timescale(monkeypatch):
    """RoPE's frequencies 1000^(−2j/d) instead of 10000^(−2j/d) (the Transformer's MAX_TIMESCALE)."""
    import rnnbench.models.architectures.transformer as transformer

    monkeypatch.setattr(transformer, "MAX_TIMESCALE", 1000.0)


PLANTS = {
    "transformer-2layers-rope": plant_rope_timescale,
    "slstm-2layers": plant_proxy("rnnbench.models.architectures.slstm", "logsigmoid", 1.1),  # m_{t−1} + logσ(f̃)
    "hawk-2layers": plant_proxy("rnnbench.models.architectures.hawk", "softplus", 1.1),  # log a = −8·r·softplus(Λ): c = 8.8
    "deltanet-2layers": plant_l2norm_scale,
    "gated_deltanet-2layers": plant_proxy("rnnbench.models.architectures.gated_deltanet", "softplus", 1.1),  # g's softplus
    "gla-2layers": plant_proxy("rnnbench.models.architectures.gla", "logsigmoid", 1.1),  # the gate's logσ(·)/16
    "mamba2-2layers": plant_proxy("rnnbench.models.architectures.mamba2", "softplus", 1.1),  # dt = softplus(·)
    "mlstm-2layers": plant_proxy("rnnbench.models.architectures.mlstm", "silu", 1.1),  # the output gate SiLU(z)
    "rwkv7-2layers": plant_rwkv7_decay,
    "mingru-2layers": plant_g_shift,
    "minlstm-2layers": plant_g_shift,
    "mamba-2layers": plant_delta_scale,
    "lru-2layers": plant_tanh_gelu,
    "exprnn-2layers": plant_modrelu_sign,
    "indrnn-2layers": plant_indrnn_dropped_bias,
    "lstm-1layer-h0c0": plant_lstm_forget_bias,
}


def implementations_agree(example: Example) -> None:
    """Every implementation of the example's architecture gives the reference's output."""
    ref = build_reference(example)
    x = torch.tensor(example.x)
    arch = MODELS.get(example.model)
    for impl in arch.implementations:
        if impl == "reference" or impl in arch.requires:  # the authors' kernels run on a GPU (tests/models/test_models.py)
            continue
        from rnnbench.models import build_core

        other = build_core(example.model, impl, input_size=example.input_size, **example.params).double()
        other.load_state_dict(ref.state_dict())
        torch.testing.assert_close(other(x)[0], ref(x)[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("example_id", list(PLANTS))
def test_a_wrong_constant_shared_by_every_implementation_fails_the_worked_example(example_id, monkeypatch):
    """The blind spot of the equivalence test: with the plant, the implementations still agree
    with each other (the LSTM's reference is planted alone, so fused would see it), but the
    worked example fails."""
    example = next(e for e in EXAMPLES if e.id == example_id)
    check(example)  # passes as written
    PLANTS[example_id](monkeypatch)
    if example.model != "lstm":
        implementations_agree(example)
    with pytest.raises(AssertionError, match="expected"):
        check(example)
