"""Run NicolasZucchet/minimal-LRU (JAX/flax) on rnnbench's LRU worked example; print numbers.

Usage: python authors_lru.py CHECKOUTS OUTPUT_DIR, where CHECKOUTS holds the authors' repositories
extracted at the commits named in authors_numbers.py (never inside this repository; their code
is not part of rnnbench):
    CHECKOUTS/lru/lru/model.py                    NicolasZucchet/minimal-LRU
Needs jax, jaxlib, flax, numpy (pip install jax jaxlib flax). --as-is prints the output
with flax's own LayerNorm epsilon and GELU, for comparison.
It writes numbers_lru.txt into OUTPUT_DIR, entries to paste into tests/models/authors_numbers.py.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUTS = Path(sys.argv[1]).resolve()
OUTPUT = Path(sys.argv[2]).resolve()
from functools import partial

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import linen as nn  # noqa: E402

sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(CHECKOUTS / "lru"))
import arch_examples as E  # noqa: E402
import lru.model as M  # noqa: E402

EXACT = "--as-is" not in sys.argv[3:]
if EXACT:
    # rnnbench's layer uses PyTorch's LayerNorm (eps 1e-5) and exact GELU (erf); flax's defaults
    # are eps 1e-6 and the tanh approximation. Only those two defaults are changed here.
    M.nn = type("nn_patched", (), {})()
    for k in dir(nn):
        if not k.startswith("__"):
            setattr(M.nn, k, getattr(nn, k))
    M.nn.LayerNorm = partial(nn.LayerNorm, epsilon=1e-5)
    M.nn.gelu = partial(nn.gelu, approximate=False)

ex = E.LRU
p = ex.params
H, N, L = p["hidden_size"], p["d_state"], p["num_layers"]
W = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in ex.weights.items()}
x = jnp.asarray(ex.x, dtype=jnp.float64)  # (B, T, I)

lru_cls = partial(M.LRU, d_hidden=N, d_model=H)
model = M.StackedEncoderModel(lru=lru_cls, d_model=H, n_layers=L, dropout=0.0, training=False, norm="layer", prenorm=True)
params = model.init(jax.random.PRNGKey(0), x[0])["params"]


def to_flax(W):
    """rnnbench's names -> the flax tree (Dense kernels are (in, out), torch's weights (out, in))."""
    tree = {"encoder": {"kernel": W["encoder.weight"].T, "bias": W["encoder.bias"]}}
    for i in range(L):
        pre = f"layers.{i}."
        tree[f"layers_{i}"] = {
            "normalization": {"scale": W[pre + "norm.weight"], "bias": W[pre + "norm.bias"]},
            "seq": {k: W[pre + k] for k in ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D")},
            "out1": {"kernel": W[pre + "out1.weight"].T, "bias": W[pre + "out1.bias"]},
            "out2": {"kernel": W[pre + "out2.weight"].T, "bias": W[pre + "out2.bias"]},
        }
    return tree


tree = to_flax(W)
assert jax.tree_util.tree_structure(tree) == jax.tree_util.tree_structure(params), jax.tree_util.tree_structure(params)
for a, b in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(params)):
    assert a.shape == b.shape


def outputs_and_states(W, x):
    """Output (B, T, H) through their StackedEncoderModel (vmapped over the batch, as their
    BatchClassificationModel does), and each layer's final complex state, read through their own
    LRU module with C = the identity (Re) and C = -i·identity (Im), D = 0."""
    tree = to_flax(W)
    y = jax.vmap(lambda s: model.apply({"params": tree}, s))(x)
    states = []
    u = jax.vmap(lambda s: nn.Dense(H).apply({"params": tree["encoder"]}, s))(x)
    for i in range(L):
        lt = tree[f"layers_{i}"]
        ln = M.nn.LayerNorm() if EXACT else nn.LayerNorm()
        v = ln.apply({"params": lt["normalization"]}, u)
        assert N == H, "the identity C reads N states through H outputs"
        eye, zero = jnp.eye(H, N), jnp.zeros((H, N))
        read = {}
        for part, (c_re, c_im) in {"re": (eye, zero), "im": (zero, -eye)}.items():
            seq = dict(lt["seq"], C_re=c_re, C_im=c_im, D=jnp.zeros(H))
            lru = lru_cls()
            read[part] = jax.vmap(lambda s: lru.apply({"params": seq}, s))(v)[:, -1]  # (B, N)
        states.append(jnp.stack([read["re"], read["im"]], -1))  # (B, N, 2): rnnbench's view_as_real
        layer = M.SequenceLayer(lru=lru_cls, d_model=H, dropout=0.0, norm="layer", prenorm=True, training=False)
        u = jax.vmap(lambda s: layer.apply({"params": lt}, s))(u)
    assert jnp.allclose(u, y, rtol=1e-13, atol=1e-15), "layer by layer = their stacked model"
    return y, states


def loss(W, x):
    y, states = outputs_and_states(W, x)
    w = jnp.asarray(E.loss_weights(tuple(y.shape)))
    return (y * w).sum() + sum(s.sum() for s in states)


y, states = outputs_and_states(W, x)
if not EXACT:
    print(repr(np.asarray(y).tolist()))
    sys.exit()
gW, gx = jax.grad(loss, argnums=(0, 1))(W, x)


def lit(a):
    return repr(np.asarray(a).tolist())


with open(OUTPUT / "numbers_lru.txt", "w") as f:
    f.write(f"    {ex.id!r}: {{\n        'output': {lit(y)},\n")
    f.write("        'state': [" + ", ".join(lit(s) for s in states) + "],\n        'grad': {\n")
    f.write(f"            'input': {lit(gx)},\n")
    for k in ex.weights:
        f.write(f"            {k!r}: {lit(gW[k])},\n")
    f.write("        },\n    },\n")
print("wrote", ex.id)
