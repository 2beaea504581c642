"""Run the authors' reference code (PyTorch ones) on rnnbench's worked examples; print numbers.

Usage: python authors_torch.py CHECKOUTS OUTPUT_DIR, where CHECKOUTS holds the authors' repositories
extracted at the commits named in authors_numbers.py (never inside this repository; their code
is not part of rnnbench):
    CHECKOUTS/indrnn/IndRNN_onlyrecurrent.py     Sunnydreamrain/IndRNN_pytorch
    CHECKOUTS/exprnn/*.py                         Lezcano/expRNN (the whole repository)
    CHECKOUTS/minrnns/models/minRNNs.py           BorealisAI/minRNNs, with models/associative_scan.py,
        utils/misc.py and a models/helpers.py holding g and log_g (the paper's appendix B.3)
    CHECKOUTS/mamba/mamba_ssm/...                 state-spaces/mamba's package directory
Needs torch, numpy, einops.
It writes numbers_torch.txt into OUTPUT_DIR, entries to paste into tests/models/authors_numbers.py.
"""

import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUTS = Path(sys.argv[1]).resolve()
OUTPUT = Path(sys.argv[2]).resolve()
import types

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(HERE.parent))
import arch_examples as E  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT = {}


def T(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def finish(example, y, states, named_params, x):
    """y (B, T, F) torch; states list of torch; named_params list of (rnnbench name, tensor, to_rnnbench fn)."""
    w = T(E.loss_weights(tuple(y.shape)))
    loss = (y * w).sum() + sum(s.sum() for s in states)
    tensors = [x] + [t for _, t, _ in named_params]
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    gd = {"input": grads[0].detach().numpy()}
    for (name, t, back), g in zip(named_params, grads[1:]):
        g = torch.zeros_like(t) if g is None else g
        gd[name] = back(g.detach()).numpy()
    assert set(gd) == {"input", *example.weights}, (sorted(gd), sorted(example.weights))
    OUT[example.id] = {"output": y.detach().numpy(), "state": [s.detach().numpy() for s in states], "grad": gd}


ident = lambda g: g  # noqa: E731


# ---- IndRNN ------------------------------------------------------------------------------------
sys.path.insert(0, str(CHECKOUTS / "indrnn"))
if not hasattr(nn.init, "uniform"):
    nn.init.uniform = nn.init.uniform_
from IndRNN_onlyrecurrent import IndRNN_onlyrecurrent  # noqa: E402


def indrnn(ex):
    x = T(ex.x).requires_grad_()
    H = ex.params["hidden_size"]
    inp, params, finals = x, [], []
    for layer in range(ex.params["num_layers"]):
        lin = nn.Linear(inp.shape[-1], H)
        rnn = IndRNN_onlyrecurrent(H)
        with torch.no_grad():
            lin.weight.copy_(T(ex.weights[f"layers.{layer}.weight_ih"]))
            lin.bias.copy_(T(ex.weights[f"layers.{layer}.bias"]))
            rnn.indrnn_cell.weight_hh.copy_(T(ex.weights[f"layers.{layer}.weight_hh"]))
        out = rnn(lin(inp).transpose(0, 1)).transpose(0, 1)  # theirs is (T, B, H)
        finals.append(out[:, -1])
        params += [
            (f"layers.{layer}.weight_ih", lin.weight, ident),
            (f"layers.{layer}.bias", lin.bias, ident),
            (f"layers.{layer}.weight_hh", rnn.indrnn_cell.weight_hh, ident),
        ]
        inp = out
    finish(ex, inp, finals, params, x)


indrnn(E.INDRNN)


# ---- expRNN ------------------------------------------------------------------------------------
sys.path.insert(0, str(CHECKOUTS / "exprnn"))
# torch.solve was removed from PyTorch; expm32._solve_P_Q calls torch.solve(B, A) to solve A X = B
torch.solve = lambda B, A: (torch.linalg.solve(A, B), None)
from initialization import henaff_init_  # noqa: E402
from orthogonal import OrthogonalRNN  # noqa: E402
from trivializations import expm  # noqa: E402


def exprnn(ex):
    x = T(ex.x).requires_grad_()
    H = ex.params["hidden_size"]
    inp, params, finals = x, [], []
    neg = lambda g: -g  # noqa: E731
    for layer in range(ex.params["num_layers"]):
        rnn = OrthogonalRNN(inp.shape[-1], H, henaff_init_, "static", param=expm).double()
        with torch.no_grad():
            rnn.input_kernel.weight.copy_(T(ex.weights[f"layers.{layer}.weight_ih"]))
            # the authors multiply row vectors (h @ B); rnnbench, as the paper writes it, B h (h @ B.T):
            # B_theirs = B_rnnbench.T = expm(-S), so A_theirs = -log_recurrent
            rnn.recurrent_kernel.A.copy_(-T(ex.weights[f"layers.{layer}.log_recurrent"]))
            rnn.nonlinearity.b.copy_(T(ex.weights[f"layers.{layer}.bias"]))
        h = rnn.default_hidden(inp[:, 0])
        outs = []
        for t in range(inp.shape[1]):
            out, h = rnn(inp[:, t], h)
            outs.append(out)
        out = torch.stack(outs, 1)
        finals.append(out[:, -1])
        params += [
            (f"layers.{layer}.weight_ih", rnn.input_kernel.weight, ident),
            (f"layers.{layer}.log_recurrent", rnn.recurrent_kernel.A, neg),
            (f"layers.{layer}.bias", rnn.nonlinearity.b, ident),
        ]
        inp = out
    B = rnn.recurrent_kernel.B.detach()
    assert torch.allclose(B @ B.T, torch.eye(H), atol=1e-12), "their B is orthogonal"
    finish(ex, inp, finals, params, x)


exprnn(E.EXPRNN)


# ---- minGRU / minLSTM --------------------------------------------------------------------------
sys.path.insert(0, str(CHECKOUTS / "minrnns"))
from models.minRNNs import minGRU, minLSTM  # noqa: E402


def minrnn(ex, kind):
    x = T(ex.x).requires_grad_()
    H = ex.params["hidden_size"]
    inp, params, finals = x, [], []
    for layer in range(ex.params["num_layers"]):
        dim = inp.shape[-1]
        if kind == "gru":
            m = minGRU(dim, H / dim, use_init_hidden_state=False)
            order = [1, 0]  # rnnbench's chunks (k, v); theirs (hidden, gate)
        else:
            m = minLSTM(dim, H / dim, forget_bias_init_scale=None, use_coeff_norm=True, use_init_hidden_state=False)
            order = [2, 0, 1]  # rnnbench's (kf, ki, v); theirs (hidden, forget, input)
        assert m.to_hidden_and_gate.out_features == len(order) * H
        P, b = ex.weights[f"layers.{layer}.proj.weight"], ex.weights[f"layers.{layer}.proj.bias"]
        with torch.no_grad():
            m.to_hidden_and_gate.weight.copy_(torch.cat([T(P[j * H : (j + 1) * H]) for j in order]))
            m.to_hidden_and_gate.bias.copy_(torch.cat([T(b[j * H : (j + 1) * H]) for j in order]))
        seen = []
        m.to_out.register_forward_hook(lambda mod, args, out: seen.append(args[0]))  # h before their to_out
        m(inp)
        h = seen[-1]  # (B, T, H), the parallel (log-space) mode
        # their sequential mode, one step at a time, must agree
        state, steps = None, []
        with torch.no_grad():
            for t in range(inp.shape[1]):
                _, state = m(inp[:, t : t + 1], prev_state=state)
                steps.append(seen[-1][:, 0])
        assert torch.allclose(torch.stack(steps, 1), h, rtol=1e-12, atol=1e-14)

        def back(g, order=order):
            parts = g.chunk(len(order), 0)
            inverse = [order.index(j) for j in range(len(order))]
            return torch.cat([parts[i] for i in inverse])

        params += [
            (f"layers.{layer}.proj.weight", m.to_hidden_and_gate.weight, back),
            (f"layers.{layer}.proj.bias", m.to_hidden_and_gate.bias, back),
        ]
        finals.append(h[:, -1])
        inp = inp + h if layer > 0 else h  # rnnbench's stacking: layers after the first add their input
    finish(ex, inp, finals, params, x)


minrnn(E.MINGRU, "gru")
minrnn(E.MINLSTM, "lstm")


# ---- Mamba -------------------------------------------------------------------------------------
ROOT = str(CHECKOUTS / "mamba" / "mamba_ssm")
for pkg, path in [
    ("mamba_ssm", ROOT),
    ("mamba_ssm.ops", ROOT + "/ops"),
    ("mamba_ssm.modules", ROOT + "/modules"),
    ("mamba_ssm.utils", ROOT + "/utils"),
]:
    mod = types.ModuleType(pkg)
    mod.__path__ = [path]
    sys.modules[pkg] = mod
# the Triton kernels are not importable here: the module the interface imports one function from is
# stubbed, and the ones mamba_simple tries are made to fail its try/except (it then uses PyTorch)
stub = types.ModuleType("mamba_ssm.ops.triton.layer_norm")
stub._layer_norm_fwd = None
sys.modules["mamba_ssm.ops.triton"] = types.ModuleType("mamba_ssm.ops.triton")
sys.modules["mamba_ssm.ops.triton.layer_norm"] = None  # mamba_simple: RMSNorm etc. = None
sys.modules["mamba_ssm.ops.triton.selective_state_update"] = None
import importlib  # noqa: E402

sys.modules["mamba_ssm.ops.triton.layer_norm"] = stub
ssi = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
sys.modules["mamba_ssm.ops.triton.layer_norm"] = None
ms = importlib.import_module("mamba_ssm.modules.mamba_simple")
assert ms.causal_conv1d_fn is None and ms.selective_state_update is None
ms.selective_scan_fn = ssi.selective_scan_ref  # the authors' pure-PyTorch reference for the CUDA kernel

FLOAT = torch.Tensor.float


def rmsnorm(x, w, eps=1e-5):  # mamba_ssm RMSNorm / rms_norm_ref: x * rsqrt(mean(x²) + eps) * weight
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def mamba(ex, keep_fp32_casts=False):
    # selective_scan_ref and Mamba cast to float32 ("keep in fp32"); for float64 numbers those
    # casts are made no-ops (the float32 run is compared below)
    torch.Tensor.float = FLOAT if keep_fp32_casts else (lambda self, *a, **k: self)
    p = ex.params
    D, N, K, E_ = p["hidden_size"], p["d_state"], p["d_conv"], p["expand"]
    x = T(ex.x).requires_grad_()
    W = ex.weights
    enc_w, enc_b = T(W["encoder.weight"]).requires_grad_(), T(W["encoder.bias"]).requires_grad_()
    params = [("encoder.weight", enc_w, ident), ("encoder.bias", enc_b, ident)]
    u = x @ enc_w.T + enc_b
    finals = []
    for layer in range(p["num_layers"]):
        pre = f"layers.{layer}."
        m = ms.Mamba(D, d_state=N, d_conv=K, expand=E_, use_fast_path=False).double()
        norm_w = T(W[pre + "norm.weight"]).requires_grad_()
        mapping = {
            "in_proj.weight": m.in_proj.weight,
            "conv.weight": m.conv1d.weight,
            "conv.bias": m.conv1d.bias,
            "x_proj.weight": m.x_proj.weight,
            "dt_proj.weight": m.dt_proj.weight,
            "dt_proj.bias": m.dt_proj.bias,
            "A_log": m.A_log,
            "D": m.D,
            "out_proj.weight": m.out_proj.weight,
        }
        assert m.out_proj.bias is None and m.in_proj.bias is None and m.dt_rank == math.ceil(D / 16)
        with torch.no_grad():
            for k, t in mapping.items():
                t.copy_(T(W[pre + k]))
        params.append((pre + "norm.weight", norm_w, ident))
        params += [(pre + k, t, ident) for k, t in mapping.items()]
        hs = rmsnorm(u, norm_w)
        # the whole sequence through their forward; the inference cache receives the final states
        cache = types.SimpleNamespace(key_value_memory_dict={}, seqlen_offset=0)
        m.layer_idx = 0
        out = m(hs, inference_params=cache)
        conv_state, ssm_state = cache.key_value_memory_dict[0]
        # and one token at a time through their step(): the same outputs and states
        with torch.no_grad():
            cs = torch.zeros_like(conv_state)
            ss = torch.zeros_like(ssm_state)
            outs = [m.step(hs[:, t : t + 1], cs, ss)[0] for t in range(hs.shape[1])]
        tol = dict(rtol=1e-5, atol=1e-6) if keep_fp32_casts else dict(rtol=1e-10, atol=1e-13)
        assert torch.allclose(torch.cat(outs, 1), out, **tol)
        assert torch.allclose(cs, conv_state) and torch.allclose(ss, ssm_state, **tol)
        # rnnbench's state: the last d_conv - 1 conv inputs, then h
        finals += [conv_state[:, :, 1:], ssm_state]
        u = u + out  # block.py: residual = hidden_states + residual
    fw = T(W["final.weight"]).requires_grad_()
    params.append(("final.weight", fw, ident))
    y = rmsnorm(u, fw)
    torch.Tensor.float = FLOAT
    if keep_fp32_casts:
        return y.detach()
    finish(ex, y, finals, params, x)
    return y.detach()


y64 = mamba(E.MAMBA)
y32 = mamba(E.MAMBA, keep_fp32_casts=True)
print("# mamba float64 vs with the authors' float32 casts: max abs diff", float((y64 - y32).abs().max()), file=sys.stderr)


def lit(a):
    a = np.asarray(a)
    return repr(a.tolist())


with open(OUTPUT / "numbers_torch.txt", "w") as f:
    for key, v in OUT.items():
        f.write(f"    {key!r}: {{\n")
        f.write(f"        'output': {lit(v['output'])},\n")
        f.write("        'state': [" + ", ".join(lit(s) for s in v["state"]) + "],\n")
        f.write("        'grad': {\n")
        for n, g in v["grad"].items():
            f.write(f"            {n!r}: {lit(g)},\n")
        f.write("        },\n    },\n")
print("wrote", list(OUT))
