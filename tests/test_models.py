import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models import MODELS, build_model, model_params
from rnnbench.tasks import make_task

SHAPES = [(1, 1), (1, 7), (2, 1), (2, 7)]  # (num_layers, T)


def pair(name, layers, nonlinearity="tanh", hidden=8, inputs=5):
    """A fused core and a reference core holding the same weights."""
    spec = MODELS.get(name)
    params = model_params({"hidden_size": hidden, "num_layers": layers, "nonlinearity": nonlinearity})
    torch.manual_seed(0)
    fused = spec.build_core("fused", inputs, params)
    ref = spec.build_core("reference", inputs, params)
    ref.load_state_dict(fused.state_dict())  # same parameter names and shapes
    return fused, ref


def initial_state(name, fused, B, g):
    D = 2 if fused.bidirectional else 1
    shape = (fused.num_layers * D, B, fused.hidden_size)
    h = torch.randn(shape, generator=g)
    return (h, torch.randn(shape, generator=g)) if "lstm" in name else h


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("layers, T", SHAPES)
@pytest.mark.parametrize("name, act", [(n, "tanh") for n in MODELS] + [("rnn", "relu"), ("birnn", "relu")])
def test_reference_matches_fused_outputs_states_and_gradients(name, act, layers, T):
    g = torch.Generator().manual_seed(1)
    fused, ref = pair(name, layers, act)
    x = torch.randn(3, T, 5, generator=g)
    h0 = initial_state(name, fused, 3, g)
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    yf, sf = fused(xf, h0)
    yr, sr = ref(xr, h0)
    D = 2 if fused.bidirectional else 1
    assert yf.shape == yr.shape == (3, T, 8 * D)  # batch-first out
    torch.testing.assert_close(yr, yf, atol=1e-5, rtol=0)
    for a, b in zip(flat(sr), flat(sf)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # a loss that reads every output and the final state
    w = torch.randn(yf.shape, generator=g)
    (lambda y, s: ((y * w).sum() + sum(t.sum() for t in flat(s))))(yf, sf).backward()
    (lambda y, s: ((y * w).sum() + sum(t.sum() for t in flat(s))))(yr, sr).backward()
    torch.testing.assert_close(xr.grad, xf.grad, atol=1e-4, rtol=0)
    grads_f = dict(fused.named_parameters())
    for pname, p in ref.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, pname
        torch.testing.assert_close(p.grad, grads_f[pname].grad, atol=1e-4, rtol=0, msg=pname)


def test_reference_detects_a_wrong_weight():
    """The comparison above can fail: perturb one weight and it does."""
    fused, ref = pair("lstm", 1)
    with torch.no_grad():
        ref.weight_hh_l0[0, 0] += 0.1
    x = torch.randn(2, 6, 5)
    assert (ref(x)[0] - fused(x)[0]).abs().max() > 1e-4


@pytest.mark.parametrize("name", list(MODELS))
def test_build_model_is_seeded_and_same_for_both_implementations(name):
    task = make_task("copy", None, {"T": 5})
    params = model_params({"hidden_size": 16})
    a = build_model(name, "fused", task.spec, params, torch.Generator().manual_seed(3))
    b = build_model(name, "reference", task.spec, params, torch.Generator().manual_seed(3))
    c = build_model(name, "fused", task.spec, params, torch.Generator().manual_seed(4))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    x = task.sample(4, torch.Generator().manual_seed(0)).x
    torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=0)
    assert a(x).shape == (4, 25, 9)


def test_model_names_and_errors():
    assert set(MODELS) == {"rnn", "lstm", "gru", "birnn", "bilstm", "bigru"}
    with pytest.raises(UsageError, match="choose one of: bigru, bilstm"):
        MODELS.get("transformer")
    with pytest.raises(UsageError, match="hidden_size=0"):
        model_params({"hidden_size": 0})
    with pytest.raises(UsageError, match="Elman RNN only"):
        MODELS.get("lstm").build_core("fused", 3, model_params({"nonlinearity": "relu"}))
    with pytest.raises(UsageError, match="choose one of: relu, tanh"):
        model_params({"nonlinearity": "gelu"})
    with pytest.raises(UsageError, match="implementation"):
        MODELS.get("gru").build_core("cuda_magic", 3, model_params())
