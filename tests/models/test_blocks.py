"""Layers written the ecosystem's way (width-preserving blocks from ``dim``/``d_model``, their own
state keywords and return shapes), taken through rnnbench without adapters: check, run,
throughput and sweep --dry-run from the console script as a user runs them, then the parts
(stacking, encoders, records, errors) in process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnbench.cli import main
from rnnbench.models import build_model, resolve_model
from rnnbench.models.blocks import BlockCore
from rnnbench.models.stack import RMSNorm
from rnnbench.tasks import make_task
from rnnbench.train import Cell, fit

BLOCKS = Path(__file__).resolve().parents[1] / "fixtures" / "ecosystem_blocks.py"
RNNBENCH = Path(sys.executable).parent / "rnnbench"
TINY = dict(task_params={"T": 5}, train={"steps": 2, "eval_every": 2, "eval_size": 16})


def ref(name):
    return f"{BLOCKS}:{name}"


def cli(*args, cwd):
    return subprocess.run(
        [str(RNNBENCH), *args], capture_output=True, text=True, cwd=cwd, timeout=300, env={**os.environ, "PYTHONPATH": ""}
    )


# the four styles: a dim-only block returning y; minGRU's prev_state=/(y, (h, log_h)); an fla layer's
# past_key_values=/use_cache/(o, None, cache) with hidden_size and layer_idx; a zoology-style d_model + layer_idx
STYLES = {
    "DimGLU": ("dim", "n/a   state carry-over    not applicable: the block takes no state"),
    "PrevStateMinGRU": ("dim", "pass  state carry-over    a chunk of 3 steps after one of 4"),
    "RetentionLayer": ("hidden_size", "pass  state carry-over    a chunk of 3 steps after one of 4"),
    "IndexedMixer": ("d_model", "pass  state carry-over    a chunk of 3 steps after one of 4"),
}


@pytest.mark.parametrize("name", STYLES)
def test_each_style_through_check_run_and_throughput(name, tmp_path):
    width_arg, carry = STYLES[name]
    p = cli("check", ref(name), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].endswith("[block of width 8; encoder Linear(5, 8) added; the probes feed it F=5 features]")
    for probe in (
        "shape contract",
        "batch independence",
        "causality",
        "order sensitivity",
        "gradient reach",
        "seeded determinism",
    ):
        assert any(l.startswith(f"  pass  {probe}") for l in lines), p.stdout
    assert any(l.startswith("  " + carry) for l in lines), p.stdout
    assert lines[-1] == "all probes passed"

    out = tmp_path / "runs.jsonl"
    p = cli(
        "run",
        "--task",
        "adding",
        "--model",
        ref(name),
        "--set",
        "task.T=5",
        "--set",
        "model.hidden_size=8",
        "--steps",
        "3",
        "--set",
        "train.eval_size=16",
        "--device",
        "cpu",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert f"{name}: block of width 8 ({width_arg}), 1 layer, pre-norm residual; encoder Linear(2, 8) added: 24 of" in p.stdout
    record = json.loads(out.read_text().splitlines()[-1])
    model = record["model"]
    assert record["status"] == "ok" and model["params"][width_arg] == 8 and model["params"]["num_layers"] == 1
    assert model["encoder"]["module"] == "Linear(2, 8)" and model["encoder"]["n_params"] == 2 * 8 + 8
    assert model["encoder"]["flops_per_token"] == 2 * 2 * 8 and model["encoder"]["input"] == {"kind": "identity", "dim": 2}
    assert model["stack"]["by"] == "rnnbench" and model["stack"]["num_layers"] == 1
    assert model["n_params"] == model["encoder"]["n_params"] + model["stack"]["n_params"] + 8 + 1  # + readout

    p = cli(
        "throughput",
        "--model",
        ref(name),
        "--batch",
        "2",
        "--seq-len",
        "4",
        "--hidden",
        "8",
        "--input",
        "3",
        "--device",
        "cpu",
        "--min-run-time",
        "0.01",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    row = next(l.split() for l in p.stdout.splitlines() if l.split()[:2] == ["user", "fwd"])
    assert (row[5] != "n/a") == (name == "PrevStateMinGRU"), p.stdout  # the one that declares flops(batch, length, width)
    assert (
        f"block of width 8 ({width_arg}), 1 layer, pre-norm residual; encoder Linear(3, 8) added: 32 parameters, "
        f"{2 * 2 * 4 * 3 * 8:,} FLOP of each forward" in p.stdout
    )  # 2·B·T·I·W


def test_the_styles_in_a_profile_sweep_dry_run(tmp_path):
    profile = tmp_path / "blocks.toml"
    models = ", ".join(f'"{ref(n)}"' for n in STYLES)
    profile.write_text(
        f'name = "blocks"\nmodels = [{models}]\n[model]\nhidden_size = 8\nnum_layers = [1, 2]\n'
        '[train]\nsteps = 2\neval_size = 16\n[[accuracy]]\ntask = "adding"\nparams = { T = 5 }\n'
        "[throughput]\nbatch = 2\nseq_len = 4\nhidden_size = 8\nmin_run_time = 0.01\n"
    )
    p = cli("sweep", str(profile), "--out", str(tmp_path / "results"), "--dry-run", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "12 cells to run" in p.stdout  # 4 styles x 2 depths trained, 4 timed
    for name in STYLES:
        assert p.stdout.count(f" {name}(user)") == 3, p.stdout


def test_num_layers_stacks_pre_norm_residual_blocks_and_hands_out_layer_indices():
    arch = resolve_model(ref("IndexedMixer"))
    params = arch.params({"d_model": 6, "num_layers": 3})
    spec = make_task("adding", None, {"T": 5}).spec
    model = build_model(ref("IndexedMixer"), None, spec, params, torch.Generator().manual_seed(0))
    core = model.core
    assert isinstance(core, BlockCore) and [b.layer_idx for b in core.blocks] == [0, 1, 2]
    block = 2 * 6 * 6 + 2 * 6 + 6 * 6 + 6  # in_proj Linear(6, 12), out_proj Linear(6, 6)
    encoder, norms, readout = 2 * 6 + 6, 4 * 6, 6 + 1  # Linear(2, 6); 3 pre-norms and a final RMSNorm
    assert sum(p.numel() for p in model.parameters()) == encoder + 3 * block + norms + readout
    x = torch.randn(4, 5, 2)
    h = core.encoder(x)
    for block_, norm in zip(core.blocks, core.norms):
        assert isinstance(norm, RMSNorm)
        h = h + block_(norm(h))[0]  # x + block(norm(x))
    y, state = core(x)
    assert torch.allclose(y, core.final(h), atol=1e-6) and len(state) == 3


def test_num_layers_is_recorded_in_the_cell_key_and_the_record():
    one = fit(Cell("adding", ref("DimGLU"), model_params={"dim": 4}, **TINY), "cpu")
    two = fit(Cell("adding", ref("DimGLU"), model_params={"dim": 4, "num_layers": 2}, **TINY), "cpu")
    assert one["cell_key"] != two["cell_key"]
    block = 4 * 8 + 8 + 4 + 4 * 4 + 4  # proj Linear(4, 8), decay (4,), out Linear(4, 4)
    assert two["model"]["stack"] | {"n_params": 0} == {
        "num_layers": 2,
        "by": "rnnbench",
        "width": 4,
        "width_arg": "dim",
        "n_params": 0,
        "block_n_params": 2 * block,
        "arrangement": "pre-norm residual: x + block(RMSNorm(x)) per layer, then a final RMSNorm",
    }
    assert two["model"]["n_params"] - one["model"]["n_params"] == block + 4  # one more block and its norm


def test_a_block_that_stacks_itself_gets_its_own_depth_and_nothing_around_it():
    r = fit(Cell("adding", ref("OwnDepth"), model_params={"dim": 4, "num_layers": 3}, **TINY), "cpu")
    assert r["model"]["params"] == {"dim": 4, "depth": 3}  # rnnbench's num_layers is the block's depth
    assert r["model"]["stack"]["by"] == "the block (depth)" and r["model"]["stack"]["num_layers"] == 3
    gru = 3 * (4 * 4 + 4 * 4 + 4 + 4)
    assert r["model"]["n_params"] == (2 * 4 + 4) + 3 * gru + (4 + 1)  # encoder, three GRUs, readout: no norms


def test_on_a_task_with_an_embedding_the_embedding_is_built_at_the_blocks_width():
    r = fit(
        Cell(
            "mqar",
            ref("DimGLU"),
            task_params={"T": 8, "V": 16, "num_kv_pairs": 2, "embed_dim": 5},
            model_params={"dim": 6},
            train={"steps": 1, "eval_size": 8},
        ),
        "cpu",
    )
    encoder = r["model"]["encoder"]
    assert encoder["kind"] == "embedding" and encoder["module"] == "Embedding(16, 6)" and encoder["n_params"] == 96
    block = 6 * 12 + 12 + 6 + 6 * 6 + 6
    assert r["model"]["n_params"] == 16 * 6 + block + 2 * 6 + (6 * 16 + 16)  # no Linear behind the embedding


def test_width_arg_names_a_width_rnnbench_does_not_guess(capsys):
    assert main(["check", ref("EmbedWidth"), "--set", "model.width_arg=embed_dim", "--set", "model.embed_dim=6"]) == 0
    out = capsys.readouterr().out
    assert "[block of width 6; encoder Linear(5, 6) added" in out and "pass  state carry-over" in out
    r = fit(Cell("adding", ref("EmbedWidth"), model_params={"width_arg": "embed_dim", "hidden_size": 4}, **TINY), "cpu")
    assert r["model"]["params"] == {"embed_dim": 4, "num_layers": 1, "width_arg": "embed_dim"}
    assert main(["check", ref("EmbedWidth"), "--set", "model.width_arg=dim"]) == 2
    assert "takes no argument 'dim'; it takes: embed_dim" in capsys.readouterr().err


def test_the_width_given_twice_and_a_layer_index_are_refused(capsys):
    code = main(
        [
            "run",
            "--task",
            "adding",
            "--model",
            ref("DimGLU"),
            "--set",
            "model.dim=8",
            "--set",
            "model.hidden_size=8",
            "--steps",
            "1",
        ]
    )
    assert code == 2 and "model.hidden_size and model.dim both given" in capsys.readouterr().err
    code = main(["run", "--task", "adding", "--model", ref("RetentionLayer"), "--set", "model.layer_idx=3", "--steps", "1"])
    assert code == 2 and "model.layer_idx is given by rnnbench" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, fragment",
    [
        (
            "WrongWidth",
            "the block of width 8 (dim=8) returned y of shape (3, 7, 16) for input (3, 7, 8); rnnbench "
            "expected y of the input's shape, (B, T, 8)",
        ),
        (
            "ReturnsDict",
            "the block returned a dict with keys output, state; rnnbench expected y, (y, state) or "
            "(y, *extras, state) with y of shape (B, T, 8)",
        ),
    ],
)
def test_an_unrecognised_return_is_one_line_naming_it_and_what_was_expected(name, fragment, tmp_path):
    p = cli("check", ref(name), cwd=tmp_path)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and fragment in p.stderr, p.stdout + p.stderr
    p = cli(
        "run",
        "--task",
        "adding",
        "--model",
        ref(name),
        "--set",
        "task.T=5",
        "--set",
        "model.dim=4",
        "--steps",
        "1",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "r.jsonl"),
        cwd=tmp_path,
    )
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"model '{ref(name)}': the block" in p.stderr and not (tmp_path / "r.jsonl").exists()


def test_a_block_whose_state_continues_only_step_by_step_passes_and_says_so(capsys):
    assert main(["check", ref("StepwiseState")]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "state carry-over" in l)
    assert line.startswith("  pass") and "one step at a time after a chunk of 4 steps" in line
    assert "a chunk of 3 steps after the state did not continue it: raised RuntimeError" in line


def test_a_block_that_ignores_its_state_fails_carry_over_both_ways(capsys):
    assert main(["check", ref("ForgetfulBlock")]) == 1
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "state carry-over" in l)
    assert line.startswith("  FAIL") and "then one at a time" in line and "a chunk of 3 after 4" in line
    assert out.strip().splitlines()[-1] == "1 probe(s) failed"


def test_a_state_kept_in_place_is_not_applicable_and_run_still_trains(capsys):
    assert main(["check", ref("InPlaceState")]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "state carry-over" in l)
    assert line.startswith("  n/a") and "takes inference_params= but returned no state" in line
    r = fit(Cell("adding", ref("InPlaceState"), model_params={"d_model": 4}, **TINY), "cpu")
    assert r["status"] == "ok" and r["model"]["state_size"] is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="the layer runs on this machine's GPU")
def test_a_layer_that_needs_cuda_gets_one_line_on_a_cpu_machine(capsys):
    code = main(["run", "--task", "adding", "--model", ref("NeedsGPU"), "--set", "task.T=5", "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err == (
        f"rnnbench: error: model '{ref('NeedsGPU')}' needs a CUDA device: AssertionError: Torch not compiled "
        "with CUDA enabled; this machine has none"
    )


def test_a_triton_kernel_on_a_cpu_machine_is_named_not_its_traceback(tmp_path, capsys, monkeypatch):
    """fla 0.6.0's layers on a CPU machine with triton 3.9.0 installed raise this from
    triton/runtime/driver.py; a stand-in package of that name raises it here."""
    (tmp_path / "triton" / "runtime").mkdir(parents=True)
    (tmp_path / "triton" / "__init__.py").write_text("")
    (tmp_path / "triton" / "runtime" / "__init__.py").write_text("")
    (tmp_path / "triton" / "runtime" / "driver.py").write_text(
        "def active():\n    raise RuntimeError('0 active drivers ([]). There should only be one.')\n"
    )
    (tmp_path / "kernel_layer.py").write_text(
        "import torch\nfrom triton.runtime import driver\n\nclass KernelLayer(torch.nn.Module):\n"
        "    def __init__(self, hidden_size, layer_idx=None):\n        super().__init__()\n"
        "        self.proj = torch.nn.Linear(hidden_size, hidden_size)\n"
        "    def forward(self, hidden_states, past_key_values=None, use_cache=False):\n"
        "        driver.active()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "triton" or m.startswith("triton.")]:
        monkeypatch.delitem(sys.modules, name)
    layer = f"{tmp_path / 'kernel_layer.py'}:KernelLayer"
    assert main(["check", layer]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "needs a CUDA device: its forward runs Triton kernels (RuntimeError: 0 active "
        "drivers ([]). There should only be one.)"
        in err
    )
    assert main(["run", "--task", "adding", "--model", layer, "--set", "task.T=5", "--steps", "1", "--device", "cpu"]) == 2
    assert "its forward runs Triton kernels" in capsys.readouterr().err


def test_a_missing_library_names_the_package_to_install(tmp_path, capsys, monkeypatch):
    try:
        import fla  # noqa: F401

        have_fla = True
    except ImportError:
        have_fla = False
    if not have_fla:
        assert main(["check", "fla.layers:GatedDeltaNet"]) == 2
        assert capsys.readouterr().err.strip() == (
            "rnnbench: error: model 'fla.layers:GatedDeltaNet': cannot import "
            "fla.layers: fla is not installed; pip install flash-linear-attention"
        )
    (tmp_path / "mylayers").mkdir()
    (tmp_path / "mylayers" / "__init__.py").write_text("from mamba_ssm import Mamba\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "mamba_ssm", None)  # not importable, whatever is installed
    assert main(["check", "mylayers:Mamba"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "cannot import mylayers: it needs mamba_ssm, which is not installed; pip install mamba-ssm "
        "(it builds CUDA kernels: on a machine with CUDA)"
    )


def test_list_describes_a_plugin_block(monkeypatch, capsys):
    import importlib.metadata

    import rnnbench.models as models
    import rnnbench.models.user as user

    ep = importlib.metadata.EntryPoint(name="glu", value="fixtures.ecosystem_blocks:DimGLU", group="rnnbench.models")
    monkeypatch.setattr(user, "entry_points", lambda: {"glu": ep})
    monkeypatch.setattr(models, "entry_points", lambda: {"glu": ep})
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert (
        "block of width 64; the task's encoder added in front (Linear from its features to 64, or its embedding "
        "at 64); dim=64, num_layers=1" in out
    )
