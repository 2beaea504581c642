"""One equivalence test for every registered architecture × implementation against its
``reference``: outputs, final state and every gradient, float64 tight and float32 within
the tolerance table, T = 1, odd T and T = 256, 1 and 2 layers, and state carried across
pieces equal to one pass. A negative control plants a one-character bug and sees it fail."""

import copy
import functools

import pytest
import torch
from planting import Proxy

from rnnbench.errors import UsageError
from rnnbench.models import MODELS, build_core, build_model, model_order, resolve_model
from rnnbench.tasks import make_task

# relative error ‖a - b‖ / ‖b‖ (as in mamba's and flash-linear-attention's kernel tests)
TOLERANCE = {
    torch.float64: {"output": 1e-10, "state": 1e-10, "grad": 1e-9},
    torch.float32: {"output": 1e-5, "state": 1e-5, "grad": 1e-4},
}
# the log-space scan's cumulative sums lose digits with T in float32 (Heinsen 2023); at T = 256
# its parameter gradients differ from the loop's by up to ~6e-4 relative
LOOSER = {("log_scan", torch.float32): {"grad": 2e-3}}
# measured: Mamba-2's chunk form, 2 layers, T = 7, the second layer's D gradient on an AMD EPYC:
# 1.0e-4 from the float32 reference, 1.3e-4 from float64, the float32 reference 3.2e-5 from it
FLOAT32_SLACK = 5.0
# the authors' kernels (fla's Triton, mamba_ssm's CUDA; an implementation with a `requires`) run on
# a GPU in float32, their matrix products in TF32 (10-bit mantissa), against the CPU reference in
# float64: the TF32 tolerance of tests/models/test_cuda.py
KERNEL_TOL = {"output": 2e-3, "state": 2e-3, "grad": 1e-2}
CASES = [(name, impl) for name in model_order() for impl in MODELS.get(name).implementations]
B, I, H = 3, 5, 8


CPU_KERNELS = {"native"}  # rnnbench's own C++ kernel (it needs a compiler): tested on the CPU like the other forms


def kernel(name, impl):
    """True for the authors' GPU kernels; skips the test where what an implementation needs is missing."""
    arch = MODELS.get(name)
    if (why := arch.unavailable(impl)) is not None:
        pytest.skip(f"{name} {impl}: {why}")
    return impl in arch.requires and impl not in CPU_KERNELS


def leaves(state):
    """The tensors of a (nested tuple) state, in order."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in leaves(s)] if isinstance(state, (tuple, list)) else []


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def assert_close(a, b, tol, what, truth=None):
    """``a`` within ``tol`` of ``b``; where it is not and ``truth`` (a thunk giving the float64
    value of ``b``) is given, ``a`` may still be no further from the truth than FLOAT32_SLACK × ``b``
    is: a float32 sum that cancels (a scalar gradient such as Mamba-2's D) cannot be resolved
    to ``tol`` by either form, and which one rounds closer varies with the CPU's vector width."""
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    err = rel_err(a, b)
    if err <= tol:
        return
    assert truth is not None, f"{what}: relative error {err:.3g} > {tol:.1g}"
    exact = truth()
    from_truth, reference_from_truth = rel_err(a.to(exact.dtype), exact), rel_err(b.to(exact.dtype), exact)
    assert from_truth <= max(tol, FLOAT32_SLACK * reference_from_truth), (
        f"{what}: relative error {err:.3g} > {tol:.1g}, and {from_truth:.3g} from the float64 result,"
        f" where the float32 reference is {reference_from_truth:.3g} from it"
    )


def pair(name, impl, layers, dtype):
    """The reference core (weights perturbed away from any special init value) and the
    ``impl`` core holding the same weights through load_state_dict."""
    g = torch.Generator().manual_seed(7)
    ref = build_core(name, "reference", input_size=I, generator=g, hidden_size=H, num_layers=layers)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    other = build_core(name, impl, input_size=I, generator=torch.Generator().manual_seed(8), hidden_size=H, num_layers=layers)
    other.load_state_dict(ref.state_dict())
    return ref.to(dtype), other.to(dtype)


def compare(name, impl, layers, T, dtype, device="cpu"):
    """``impl`` against the reference; on ``device`` "cuda" (an authors' kernel) ``impl`` runs there in
    float32 against the reference in float64 on the CPU."""
    on_gpu = device != "cpu"
    tol = KERNEL_TOL if on_gpu else TOLERANCE[dtype] | LOOSER.get((impl, dtype), {})
    ref, other = pair(name, impl, layers, torch.float64 if on_gpu else dtype)
    if on_gpu:
        other = other.float().to(device)
    x = torch.randn(B, T, I, generator=torch.Generator().manual_seed(9), dtype=torch.float64 if on_gpu else dtype)
    results = []
    for core in (ref, other):
        xi = (x.float().to(device) if on_gpu and core is other else x.clone()).requires_grad_()
        y, state = core(xi)
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(10), dtype=dtype)
        # reads every output and the final state (a complex state through its real and imaginary parts)
        loss = (y * w.to(y)).sum() + sum((torch.view_as_real(s) if s.is_complex() else s).sum() for s in leaves(state))
        grads = torch.autograd.grad(loss, [xi, *core.parameters()])
        if on_gpu and core is other:  # back on the CPU in float64, for the comparison
            y, grads = y.double().cpu(), [g.double().cpu() for g in grads]
            state = [s.double().cpu() for s in leaves(state)]
        results.append((y, leaves(state), grads))
    (y_r, s_r, g_r), (y_o, s_o, g_o) = results

    @functools.cache  # the float64 run of the float32 reference's weights, made only if a comparison needs it
    def run_exact():
        core, xi = copy.deepcopy(ref).double(), x.double().requires_grad_()
        y, state = core(xi)
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(10), dtype=dtype).double()
        loss = (y * w).sum() + sum((torch.view_as_real(s) if s.is_complex() else s).sum() for s in leaves(state))
        return [y, *leaves(state), *torch.autograd.grad(loss, [xi, *core.parameters()])]

    def truth(i):
        if on_gpu or dtype != torch.float32:
            return None  # float64 (and the GPU's comparison with float64) has no truth beyond itself
        return lambda: run_exact()[i].detach()

    assert_close(y_o, y_r, tol["output"], "output", truth(0))
    assert len(s_o) == len(s_r) > 0
    for i, (a, b) in enumerate(zip(s_o, s_r)):
        assert_close(a, b, tol["state"], "final state", truth(1 + i))
    names = ["input", *(n for n, _ in ref.named_parameters())]
    for i, (n, a, b) in enumerate(zip(names, g_o, g_r)):
        if T > 1:  # at T = 1 from a zero state the recurrent weights get no gradient, rightly
            assert b.abs().sum() > 0, f"gradient of {n} is zero: the comparison would be vacuous"
        assert_close(a, b, tol["grad"], f"gradient of {n}", truth(1 + len(s_r) + i))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("T", [1, 7, 256])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("name, impl", CASES)
def test_implementation_matches_reference(name, impl, layers, T, dtype):
    if kernel(name, impl):  # the authors' kernels: on the GPU, in float32, against the float64 reference
        if dtype == torch.float64:
            pytest.skip(f"{name} {impl}: the authors' kernels compute in float32 and below")
        compare(name, impl, layers, T, dtype, device="cuda")
        return
    compare(name, impl, layers, T, dtype)


@pytest.mark.parametrize("name, impl", [c for c in CASES if not MODELS.get(c[0]).bidirectional])
def test_state_carried_across_pieces_equals_one_pass(name, impl):
    on_gpu = kernel(name, impl)
    dtype, device, tol = (torch.float32, "cuda", 1e-5) if on_gpu else (torch.float64, "cpu", 1e-12)
    core = build_core(name, impl, input_size=I, generator=torch.Generator().manual_seed(3), hidden_size=H, num_layers=2).to(
        device, dtype
    )
    x = torch.randn(B, 11, I, generator=torch.Generator().manual_seed(4), dtype=dtype).to(device)
    y, final = core(x)
    state, pieces = None, []
    for part in (x[:, :1], x[:, 1:6], x[:, 6:]):  # pieces shorter than the conv windows and the chunks
        y_part, state = core(part, state) if state is not None else core(part)
        pieces.append(y_part)
    assert_close(torch.cat(pieces, 1), y, tol, "outputs")
    for a, b in zip(leaves(state), leaves(final)):
        assert_close(a, b, tol, "final state")


def test_a_planted_one_character_bug_fails_the_comparison(monkeypatch):
    """Negative control: the LSTM reference with f and i swapped in c_t = f⊙c + i⊙g."""
    import rnnbench.models.architectures.lstm as lstm

    def buggy(gi, state, w_hh, b_hh):
        h, c = state
        i, f, g, o = (gi + h @ w_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(i) * c + torch.sigmoid(i) * torch.tanh(g)  # f -> i
        return torch.sigmoid(o) * torch.tanh(c), c

    compare("lstm", "fused", 1, 7, torch.float64)  # passes as written
    monkeypatch.setattr(lstm, "lstm_cell", buggy)
    with pytest.raises(AssertionError, match="relative error"):
        compare("lstm", "fused", 1, 7, torch.float64)


@pytest.mark.parametrize(
    "dtype, message",
    # in float32 the comparison falls back to the float64 result, which must not excuse a mistake
    [(torch.float64, "relative error"), (torch.float32, "from the float64 result")],
    ids=["f64", "f32"],
)
def test_the_lrus_real_arithmetic_layer_with_a_sign_flipped_fails_the_comparison(monkeypatch, dtype, message):
    """Negative control for :class:`RealLRULayer`: Re(C x) read as Re x · C_re + Im x · C_im (the
    sign of the imaginary part dropped), a mistake the complex reference layer cannot make."""
    import rnnbench.models.architectures.lru as lru

    compare("lru", "chunk", 1, 7, dtype)  # passes as written
    real_stack = torch.stack

    def dropped_sign(tensors, dim=0):
        if len(tensors) == 2 and dim == -1:  # the readout's [C_re, −C_im]
            tensors = [tensors[0], -tensors[1]]
        return real_stack(tensors, dim)

    monkeypatch.setattr(lru, "torch", Proxy(torch, stack=dropped_sign))
    with pytest.raises(AssertionError, match=message):
        compare("lru", "chunk", 1, 7, dtype)


def test_the_float32_fallback_to_float64_accepts_only_what_the_reference_itself_misses():
    exact = torch.linspace(1, 2, 50, dtype=torch.float64)
    noise = torch.randn(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reference = (exact * (1 + 3e-4 * noise)).float()  # a float32 reference that cannot resolve 1e-4
    close = (exact * (1 - 4e-4 * noise)).float()  # 7e-4 from it, 4e-4 from the truth: within 5 × 3e-4
    assert_close(close, reference, 1e-4, "x", lambda: exact)
    with pytest.raises(AssertionError, match="relative error"):
        assert_close(close, reference, 1e-4, "x")  # without a truth the tolerance stands
    far = (exact * (1 + 2e-3 * noise.flip(0))).float()
    with pytest.raises(AssertionError, match="from the float64 result"):
        assert_close(far, reference, 1e-4, "x", lambda: exact)


@pytest.mark.parametrize("name", model_order())
def test_build_model_is_seeded_and_the_same_for_every_implementation(name):
    task = make_task("copy", None, {"T": 5})
    arch = resolve_model(name)
    params = arch.params({"hidden_size": 16})
    a, *others = [
        build_model(name, impl, task.spec, params, torch.Generator().manual_seed(3))
        for impl in arch.implementations
        if impl not in arch.requires
    ]  # the kernels run on a GPU only
    c = build_model(name, None, task.spec, params, torch.Generator().manual_seed(4))
    x = task.sample(4, torch.Generator().manual_seed(0)).x
    for b in others:
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
        torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=0)
    assert not all(torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())
    assert a(x).shape == (4, 25, 9)


def test_registry_lists_the_architectures_and_refuses_duplicates():
    from rnnbench.models import register

    assert {"rnn", "lstm", "gru", "birnn", "bilstm", "bigru", "irnn", "indrnn", "exprnn"} <= set(MODELS)
    assert all("reference" in MODELS.get(n).implementations for n in MODELS)
    with pytest.raises(KeyError, match="already registered"):
        register(MODELS.get("lstm"))


def test_parameter_errors_are_one_line_and_name_what_is_valid():
    with pytest.raises(UsageError, match="choose one of: bigru, bilstm"):
        MODELS.get("neural_turing_machine")
    with pytest.raises(UsageError, match="hidden_size=0"):
        resolve_model("lstm").params({"hidden_size": 0})
    with pytest.raises(UsageError, match="unknown parameter model.nonlinearity; valid model parameters: hidden_size"):
        resolve_model("lstm").params({"nonlinearity": "relu"})
    with pytest.raises(UsageError, match="choose one of: relu, tanh"):
        resolve_model("rnn").params({"nonlinearity": "gelu"})
    with pytest.raises(UsageError, match="model 'gru' has no implementation 'cuda_magic'; choose one of: fused, ref"):
        build_core("gru", "cuda_magic", input_size=3)
    with pytest.raises(UsageError, match="model.mag=1.0 is impossible"):
        resolve_model("indrnn").params({"mag": 1})
    with pytest.raises(UsageError, match="choose one of: cayley, henaff"):
        resolve_model("exprnn").params({"init": "haar"})


def test_irnn_initialisation_is_the_papers():
    core = build_core("irnn", input_size=4, hidden_size=6, num_layers=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(core.weight_hh_l0, torch.eye(6)) and torch.equal(core.weight_hh_l1, torch.eye(6))
    assert all(torch.count_nonzero(getattr(core, n)) == 0 for n in ("bias_ih_l0", "bias_hh_l0", "bias_ih_l1"))
    assert 0.0005 < float(core.weight_ih_l0.detach().std()) < 0.002  # N(0, 0.001²)


def test_indrnn_recurrent_weights_are_initialised_and_clipped_as_the_authors_do():
    arch = resolve_model("indrnn")
    p = arch.params({"hidden_size": 500, "num_layers": 2, "bound_length": 10})
    core = arch.build(None, 3, p, torch.Generator().manual_seed(0))
    u_bound, u_low = 2 ** (1 / 10), 0.5 ** (1 / 10)
    first, last = core.layers[0].weight_hh.detach(), core.layers[1].weight_hh.detach()
    assert 0 <= float(first.min()) < 0.1 and u_bound - 0.1 < float(first.max()) <= u_bound
    assert u_low <= float(last.min()) < u_low + 0.05 and float(last.max()) <= u_bound
    with torch.no_grad():
        first.mul_(3)
    arch.after_step(core, p)
    assert float(first.max()) == pytest.approx(u_bound) and float(first.min()) >= -u_bound


@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_exprnn_recurrent_matrix_is_orthogonal_and_block_initialised(init):
    core = build_core("exprnn", input_size=3, hidden_size=6, init=init, generator=torch.Generator().manual_seed(0))
    layer = core.layers[0]
    a = layer.log_recurrent.detach()
    assert torch.equal(a, -a.T)  # skew-symmetric
    blocks = torch.block_diag(*[a[i : i + 2, i : i + 2] for i in range(0, 6, 2)])
    assert torch.equal(a, blocks)  # 2×2 blocks [[0, s], [-s, 0]] on the diagonal, zero elsewhere
    s = a.diagonal(1)[::2]
    assert ((s > -torch.pi) & (s < torch.pi)).all() if init == "henaff" else (s <= 0).all()
    b = layer.recurrent().detach().double()
    torch.testing.assert_close(b @ b.T, torch.eye(6, dtype=torch.float64), atol=1e-5, rtol=0)


def test_exprnn_orthogonal_parameters_get_their_own_learning_rate():
    from rnnbench.train import Cell, fit

    r = fit(
        Cell(
            "copy",
            "exprnn",
            "exprnn2019",
            {"T": 3, "K": 2},
            model_params={"hidden_size": 8},
            train={"steps": 2, "eval_size": 8, "optimizer": "rmsprop", "lr": 2e-4},
        ),
        "cpu",
    )
    groups = {g["name"]: g for g in r["train"]["param_groups"]}
    assert groups["orthogonal"]["lr"] == pytest.approx(2e-5) and groups["other"]["lr"] == 2e-4
    assert groups["orthogonal"]["n_params"] == 8 * 8
    assert sum(g["n_params"] for g in groups.values()) == r["model"]["n_params"]


@pytest.mark.parametrize("name", model_order())
def test_every_architecture_declares_flops_and_state_size(name):
    arch = resolve_model(name)
    p = arch.params({"hidden_size": 8, "num_layers": 2})
    one, two = arch.forward_flops(p, 2, 10, 3), arch.forward_flops(p, 4, 10, 3)
    assert 0 < one < two <= 2 * one  # grows with the batch (expRNN: expm(A) once per call)
    assert arch.state_numbers(p, 10) >= 2 * 8
