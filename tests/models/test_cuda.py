"""The CUDA paths, run where a GPU is present (skipped elsewhere, so CI on a CPU passes):
every implementation on the GPU against the CPU reference, outputs and gradients;
``fit`` on CUDA applies and records the determinism flags and is bit-identical when run
twice; the new tasks (masks, embeddings, finite datasets) train on the device."""

import pytest
import torch

from rnnbench.models import MODELS, build_core, model_order
from rnnbench.train import Cell, fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
# native: rnnbench's C++ kernel is CPU-only (tests/models/test_models.py runs it)
CASES = [(name, impl) for name in model_order() for impl in MODELS.get(name).implementations if impl != "native"]
TOL = {"output": 1e-4, "grad": 2e-3}  # float32 on both sides; the GPU's summation order differs
TF32_TOL = {"output": 2e-3, "grad": 1e-2}  # cuDNN's RNNs compute in TF32 by default (10-bit mantissa)


def rel_err(a, b):
    return float((a.detach().cpu() - b.detach().cpu()).norm() / b.detach().cpu().norm().clamp_min(1e-30))


@pytest.mark.parametrize("tf32", [False, True], ids=["fp32", "tf32"])
@pytest.mark.parametrize("name, impl", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_cuda_implementation_matches_the_cpu_reference(name, impl, tf32, monkeypatch):
    """Strict with TF32 off; with PyTorch's default (cuDNN in TF32), within TF32's precision.
    Seen on an H100: the fused RNN and GRU differ from the reference by 4e-4 in TF32."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", tf32)
    arch = MODELS.get(name)
    if (why := arch.unavailable(impl)) is not None:  # the authors' kernels need their package too
        pytest.skip(f"{name} {impl}: {why}")
    tol = TF32_TOL if tf32 or impl in arch.requires else TOL  # fla's Triton products are TF32 whatever torch's flags
    g = torch.Generator().manual_seed(7)
    ref = build_core(name, "reference", input_size=5, generator=g, hidden_size=16, num_layers=2)
    other = build_core(name, impl, input_size=5, generator=torch.Generator().manual_seed(8), hidden_size=16, num_layers=2)
    other.load_state_dict(ref.state_dict())
    other = other.cuda()
    x = torch.randn(3, 64, 5, generator=torch.Generator().manual_seed(9))
    outs = []
    for core, dev in ((ref, "cpu"), (other, "cuda")):
        xi = x.to(dev).requires_grad_()
        y, _ = core(xi)
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(10)).to(dev)
        grads = torch.autograd.grad((y * w).sum(), [xi, *core.parameters()])
        outs.append((y, grads))
    (y_ref, g_ref), (y_gpu, g_gpu) = outs
    assert rel_err(y_gpu, y_ref) <= tol["output"]
    for a, b in zip(g_gpu, g_ref):
        assert rel_err(a, b) <= tol["grad"]


def test_fit_on_cuda_applies_determinism_and_repeats_bit_for_bit():
    cell = Cell(
        "copy",
        "lstm",
        task_params={"T": 10, "K": 3},
        model_params={"hidden_size": 32},
        train={"steps": 30, "eval_every": 10, "eval_size": 64},
    )
    a, b = fit(cell, "cuda"), fit(cell, "cuda")
    env = a["env"]
    assert env["device"].startswith("cuda") and env["deterministic_algorithms"] is True
    assert env["cudnn_deterministic"] is True and env["cudnn_benchmark"] is False
    assert env["cublas_workspace_config"] == ":4096:8" and env["cudnn_allow_tf32"] is not None
    assert a["weights_sha256"] == b["weights_sha256"] and a["metrics"] == b["metrics"]
    assert not torch.are_deterministic_algorithms_enabled(), "restored after the cell"


@pytest.mark.parametrize(
    "task, params",
    [
        ("selective_copy", {"T": 32, "K": 4, "A": 8}),
        ("mqar", {"T": 32, "num_kv_pairs": 4, "V": 64}),
        ("mackey_glass", {"T": 20, "H": 1}),
        ("sdigits", {}),
    ],
)
def test_new_tasks_train_on_cuda(task, params):
    record = fit(
        Cell(
            task,
            "gru",
            task_params=params,
            model_params={"hidden_size": 16},
            train={"steps": 20, "eval_every": 10, "eval_size": 128},
        ),
        "cuda",
    )
    assert record["status"] == "ok" and record["env"]["device"].startswith("cuda")
    assert all(v == v for v in record["metrics"].values() if isinstance(v, float))
