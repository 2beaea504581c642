"""The linear-attention family as architectures (deltanet, gated_deltanet, gla, mamba2, mlstm,
rwkv7) beyond the registry-driven tests (tests/models/test_models.py, tests/models/test_check.py,
tests/models/): the negative-eigenvalue options and their ranges, the authors' kernels as
implementations (one-line errors where their package or a CUDA device is missing; their
argument mapping checked with stand-in kernels written to the authors' documented
signatures), the parameters in a run's record, FLOPs and state sizes."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.models import MODELS, build_core
from rnnbench.models.architectures import linear_attention as la
from rnnbench.ops import delta_rule, dplr, gated_delta_rule, gla, selective_scan, ssd

NEW = ["deltanet", "gated_deltanet", "gla", "mamba2", "mlstm", "rwkv7"]
KERNELS = [(n, i) for n in [*NEW, "mamba"] for i in MODELS.get(n).requires]


def perturbed(name, impl="chunk", scale=1.0, seed=0, **params):
    core = build_core(name, impl, input_size=3, generator=torch.Generator().manual_seed(seed), **params).double()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in core.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return core


def x_in(T=20, B=4, seed=2):
    return torch.randn(B, T, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- negative eigenvalues ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["deltanet", "gated_deltanet"])
def test_allow_neg_eigval_doubles_beta_into_zero_to_two(name, monkeypatch):
    """β = σ(W_β x) ∈ (0, 1) without the option, 2σ(W_β x) ∈ (0, 2) with it (fla's ×2), so the
    transition's eigenvalue along k, 1 − β‖k‖² (‖k‖ ≈ 1), reaches below 0 only with it."""
    seen = {}
    for neg in (False, True):
        core = perturbed(name, hidden_size=8, allow_neg_eigval=neg, scale=2.0)
        for layer in core.layers:
            rule = layer.mixer.rule

            def spy(*args, rule=rule, neg=neg):
                beta = args[3] if name == "deltanet" else args[4]
                seen.setdefault(neg, []).append(beta.detach())
                return rule(*args)

            layer.mixer.rule = spy
        core(x_in())
    off, on = torch.cat(seen[False]), torch.cat(seen[True])
    assert 0 < off.min() and off.max() < 1
    assert 0 < on.min() and 1.5 < on.max() < 2
    torch.testing.assert_close(on, 2 * off)  # the same weights: exactly twice


@pytest.mark.parametrize("name, op", [("mamba", "selective_scan"), ("mamba2", "ssd")])
def test_neg_eigval_reaches_the_scan_and_its_decays_go_negative(name, op, monkeypatch):
    """model.neg_eigval is passed to the op, whose decay 2·exp(ΔA) − 1 is then negative at steps
    with ΔA < −ln 2 (the ops' own tests check the range and both forms against each other)."""
    import importlib

    module = importlib.import_module(f"rnnbench.models.architectures.{name}")
    real = getattr(module, op)
    calls = []

    def spy(*args, **kw):
        calls.append(kw.get("neg_eigval"))
        delta, A = (args[1], args[2])
        dA = (delta.unsqueeze(-1) * A) if op == "selective_scan" else delta * A
        calls.append(float((2 * dA.exp() - 1).min()))
        return real(*args, **kw)

    monkeypatch.setattr(module, op, spy)
    outputs = {}
    for neg in (False, True):
        calls.clear()
        outputs[neg] = perturbed(name, hidden_size=8, neg_eigval=neg, seed=3)(x_in())[0]
        assert calls[0] is neg and calls[1] < 0  # these weights have steps with ΔA < −ln 2
    assert not torch.allclose(outputs[True], outputs[False])


@pytest.mark.parametrize(
    "name, field",
    [("deltanet", "allow_neg_eigval"), ("gated_deltanet", "allow_neg_eigval"), ("mamba", "neg_eigval"), ("mamba2", "neg_eigval")],
)
def test_neg_eigval_options_are_booleans_off_by_default(name, field):
    arch = MODELS.get(name)
    assert getattr(arch.params(), field) is False
    assert arch.params_dict(arch.params({field: True}))[field] is True
    with pytest.raises(UsageError, match=f"model.{field}=2 is not a boolean; use true or false"):
        arch.params({field: 2})


def test_a_parity_like_sign_flip_needs_negative_eigenvalues():
    """The mechanism, on the op DeltaNet's layer calls: with one key k (‖k‖ = 1) and β = 2 the
    transition I − 2kkᵀ reflects S along k, so S flips sign at every step, which no β ∈ [0, 1]
    can do (the eigenvalue 1 − β stays ≥ 0)."""
    K = 2
    k = torch.tensor([1.0, 0.0], dtype=torch.float64).expand(1, 4, 1, K)
    v = torch.zeros(1, 4, 1, K, dtype=torch.float64)
    S0 = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]], dtype=torch.float64)
    for form in ("recurrent", "chunk"):
        o, S = delta_rule(k, k, v, torch.full((1, 4, 1), 2.0, dtype=torch.float64), initial_state=S0, form=form, scale=1.0)
        torch.testing.assert_close(
            o[0, :, 0], torch.tensor([[-1.0, -0.5], [1.0, 0.5], [-1.0, -0.5], [1.0, 0.5]], dtype=torch.float64)
        )
        o1, _ = delta_rule(k, k, v, torch.full((1, 4, 1), 1.0, dtype=torch.float64), initial_state=S0, form=form, scale=1.0)
        assert (o1[0, :, 0] * o[0, :, 0]).sum() <= 0  # β = 1 erases, never flips


# ---- the authors' kernels: one-line errors --------------------------------------------------------


@pytest.mark.parametrize("name, impl", KERNELS)
def test_a_missing_package_or_device_is_one_line(name, impl, capsys, tmp_path):
    arch = MODELS.get(name)
    why = arch.unavailable(impl)
    if why is None:
        pytest.skip(f"{name} {impl} can run here")
    package = "fla" if impl == "fla" else "mamba_ssm"
    assert package in why and ("not installed" in why or "CUDA device" in why)
    with pytest.raises(UsageError, match=f"model '{name}' implementation '{impl}' cannot run here: "):
        build_core(name, impl, input_size=3)
    out = tmp_path / "r.jsonl"
    out.write_text('{"kept": true}\n')
    assert (
        main(
            [
                "run",
                "--task",
                "mqar",
                "--model",
                name,
                "--impl",
                impl,
                "--steps",
                "1",
                "--set",
                "model.hidden_size=8",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and why in err
    assert out.read_text() == '{"kept": true}\n'  # nothing written is lost
    assert main(["throughput", "--model", name, "--impl", impl, "--seq-len", "16", "--batch", "2", "--hidden", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and why in err


def test_the_requirement_names_the_device_when_the_package_is_there(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n in ("fla", "mamba_ssm") else real(n, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "need a CUDA device and this machine has none (fla is installed)" in la.fla_requirement()
    assert "(mamba_ssm is installed)" in la.mamba_requirement()
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "fla" else real(n, *a))
    assert "pip install 'rnnbench[fla]'" in la.fla_requirement()


def test_kernels_refuse_cpu_and_float64_tensors_in_one_line():
    with pytest.raises(UsageError, match="runs on CUDA tensors; this input is on cpu: run with --device cuda"):
        la.on_cuda(torch.zeros(1), "fla's chunk_gla")
    if torch.cuda.is_available():
        with pytest.raises(UsageError, match="not float64"):
            la.on_cuda(torch.zeros(1, dtype=torch.float64, device="cuda"), "fla's chunk_gla")


@pytest.mark.parametrize("name", ["mamba", "mamba2"])
def test_the_cuda_kernels_refuse_negative_eigenvalues(name, monkeypatch):
    arch = MODELS.get(name)
    monkeypatch.setitem(arch.requires, "cuda", lambda: None)  # as if mamba_ssm and a GPU were here
    with pytest.raises(UsageError, match="has no negative eigenvalues; use --impl chunk"):
        build_core(name, "cuda", input_size=3, hidden_size=8, neg_eigval=True)


# ---- the authors' kernels: the argument mapping, with stand-ins -----------------------------------
# Each stand-in has the authors' documented signature and layout (fla 0.6.0's ops/*/chunk.py
# docstrings; mamba_ssm 2.3's selective_scan_interface.py and ssd_combined.py) and computes with
# rnnbench's recurrent op; selective_scan_fn, as the real one, takes no initial state. A swapped
# argument (g and β, w and k, channels-first layouts) or a lost initial state fails the comparison.


def fake_fla(monkeypatch):
    def chunk_delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False, **kw):
        o, S = delta_rule(q, k, v, beta, scale=scale, initial_state=initial_state, form="recurrent")
        return o, (S if output_final_state else None)

    def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, **kw):
        o, S = gated_delta_rule(q, k, v, g, beta, scale=scale, initial_state=initial_state, form="recurrent")
        return o, (S if output_final_state else None)

    def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False, **kw):
        o, S = gla(q, k, v, g, scale=scale, initial_state=initial_state, form="recurrent")
        return o, (S if output_final_state else None)

    def chunk_rwkv7(r, w, k, v, a, b, scale=1.0, initial_state=None, output_final_state=False, **kw):
        # fla: S_t = S_{t−1}(diag(exp(w_t)) + a_t b_tᵀ) + v_t k_tᵀ in V×K, i.e. dplr with α = a, β = b, g = w
        o, S = dplr(r, k, v, a, b, w, scale=scale, initial_state=initial_state, form="recurrent")
        return o, (S if output_final_state else None)

    modules = {
        "fla": {},
        "fla.ops": {},
        "fla.ops.delta_rule": {"chunk_delta_rule": chunk_delta_rule},
        "fla.ops.gated_delta_rule": {"chunk_gated_delta_rule": chunk_gated_delta_rule},
        "fla.ops.gla": {"chunk_gla": chunk_gla},
        "fla.ops.rwkv7": {"chunk_rwkv7": chunk_rwkv7},
    }
    install(monkeypatch, modules)


def fake_mamba(monkeypatch):
    def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
        assert D is None and z is None and delta_bias is None and not delta_softplus
        assert u.shape[1] == A.shape[0] and B.shape[1] == A.shape[1], "channels first: u (B, D, L), B (B, N, L)"
        y, last = selective_scan(
            u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2), form="recurrent"
        )
        return (y.transpose(1, 2), last) if return_last_state else y.transpose(1, 2)

    def mamba_chunk_scan_combined(
        x,
        dt,
        A,
        B,
        C,
        chunk_size,
        D=None,
        z=None,
        dt_bias=None,
        initial_states=None,
        seq_idx=None,
        cu_seqlens=None,
        dt_softplus=False,
        return_final_states=False,
        **kw,
    ):
        assert D is None and z is None and dt_bias is None and not dt_softplus and chunk_size >= 1
        y, h = ssd(x, dt, A, B, C, initial_state=initial_states, form="recurrent")
        return (y, h) if return_final_states else y

    install(
        monkeypatch,
        {
            "mamba_ssm": {},
            "mamba_ssm.ops": {},
            "mamba_ssm.ops.selective_scan_interface": {"selective_scan_fn": selective_scan_fn},
            "mamba_ssm.ops.triton": {},
            "mamba_ssm.ops.triton.ssd_combined": {"mamba_chunk_scan_combined": mamba_chunk_scan_combined},
        },
    )


def install(monkeypatch, modules):
    for name, attrs in modules.items():
        m = types.ModuleType(name)
        m.__path__ = []
        for k, v in attrs.items():
            setattr(m, k, v)
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.setattr(la, "on_cuda", lambda x, kernel: None)


@pytest.mark.parametrize("name, impl", KERNELS)
def test_the_kernel_implementations_map_their_arguments_as_the_authors_document(name, impl, monkeypatch):
    (fake_fla if impl == "fla" else fake_mamba)(monkeypatch)
    arch = MODELS.get(name)
    monkeypatch.setitem(arch.requires, impl, lambda: None)
    ref = perturbed(name, "reference", scale=0.3, hidden_size=8, num_layers=2)
    other = build_core(name, impl, input_size=3, hidden_size=8, num_layers=2).double()
    other.load_state_dict(ref.state_dict())
    x = x_in(T=13)
    y_ref, s_ref = ref(x)
    y, s = other(x)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    # the state carried across pieces (mamba's kernel takes none: rnnbench adds h_0's part by linearity)
    y1, s1 = other(x[:, :5])
    y2, s2 = other(x[:, 5:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y_ref, rtol=1e-10, atol=1e-12)
    flat = lambda s: [t for part in s for t in (flat(part) if isinstance(part, tuple) else [part])]  # noqa: E731
    for a, b in zip(flat(s2), flat(s_ref)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ---- records, FLOPs, state sizes ------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW)
def test_flops_count_the_matrix_state_and_state_size_is_h_k_v_plus_windows(name):
    arch = MODELS.get(name)
    p = arch.params({"hidden_size": 64})
    wide = arch.params({"hidden_size": 128})
    f, f2 = arch.forward_flops(p, 1, 100, 64), arch.forward_flops(wide, 1, 100, 64)
    assert f > 100 * 64 * 64 and 1.5 < f2 / f < 5  # the projections grow with D (Gated DeltaNet's heads are fixed)
    core = arch.build("chunk", 3, p)
    _, state = core(torch.zeros(1, 2, 3))
    numbers = sum(t.numel() for t in flat_tensors(state))
    assert arch.state_numbers(p, 2) == numbers, (arch.state_numbers(p, 2), numbers)
    assert arch.state_numbers(p, 1000) == numbers  # a recurrence: the state does not grow with T
    two = arch.params({"hidden_size": 64, "num_layers": 2})
    assert arch.state_numbers(two, 2) == 2 * numbers


def flat_tensors(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in flat_tensors(s)]


def test_a_run_records_every_parameter(tmp_path):
    from rnnbench.train import Cell, fit

    r = fit(
        Cell(
            "mqar",
            "gated_deltanet",
            task_params={"T": 16, "num_kv_pairs": 2, "V": 16},
            model_params={"hidden_size": 16, "allow_neg_eigval": True},
            train={"steps": 2, "eval_size": 8, "batch_size": 4},
        ),
        "cpu",
    )
    params = r["model"]["params"]
    assert params["allow_neg_eigval"] is True
    assert {"num_heads", "head_dim", "expand_v", "conv_size", "hidden_size", "num_layers"} <= set(params)
    assert r["model"]["default_implementation"] == "chunk"


def test_a_profile_wide_model_table_applies_to_the_entries_that_run_that_model(tmp_path):
    """modern.toml's [model.lru] beside MQAR entries that do not run the LRU; a typo still fails."""
    from rnnbench.profiles import load_profile

    text = (
        'models = ["lru", "gla"]\n[model.lru]\nnum_layers = 2\n[model.gla]\nnum_heads = 1\n'
        '[[accuracy]]\ntask = "copy"\nparams = { T = 5 }\n'
        '[[accuracy]]\ntask = "copy"\nparams = { T = 6 }\nmodels = ["gla"]\n'
    )
    path = tmp_path / "p.toml"
    path.write_text(text)
    cells = {(pc.cell.model, pc.cell.task_params["T"]): pc.cell.model_params for pc in load_profile(str(path)).cells}
    assert cells == {("lru", 5): {"num_layers": 2}, ("gla", 5): {"num_heads": 1}, ("gla", 6): {"num_heads": 1}}
    path.write_text(text.replace("[model.gla]", "[model.glaa]"))
    with pytest.raises(UsageError, match=r"\[model.glaa\] names a model the entry does not run"):
        load_profile(str(path))
