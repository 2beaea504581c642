"""Training rules checked as rules, inside rnnbench.train's own loop: the optimiser the trainer
builds (its real torch param_groups, and the size of the step it takes), and the projection
after every optimiser step. Each check has a negative control that breaks the rule and fails."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import rnnbench.train as train
from rnnbench.models import MODELS, resolve_model
from rnnbench.train import Cell, fit

RMSPROP_FIRST_STEP = 10.0  # RMSprop's first step is lr·g/sqrt((1 − 0.99)·g²) = 10·lr per coordinate


def spy_on_training(monkeypatch, arch_override=None):
    """Wrap train.make_optimizer: returns a dict that receives the model, the optimiser and the
    weights before the first step; ``arch_override`` replaces the architecture the trainer sees."""
    seen: dict = {}
    real = train.make_optimizer

    def spy(model, arch, mparams, cfg):
        optimizer, groups = real(model, arch, mparams, cfg)
        seen.update(
            model=model,
            optimizer=optimizer,
            params=mparams,
            cfg=cfg,
            before={n: p.detach().clone() for n, p in model.named_parameters()},
        )
        return optimizer, groups

    monkeypatch.setattr(train, "make_optimizer", spy)
    if arch_override is not None:
        monkeypatch.setattr(train, "resolve_model", lambda name: arch_override)
    return seen


# ---- expRNN: the orthogonal parameters train at orthogonal_lr_ratio × lr ---------------------------


def check_orthogonal_learning_rate(monkeypatch, ratio: float, lr: float, arch_override=None) -> None:
    seen = spy_on_training(monkeypatch, arch_override)
    fit(
        Cell(
            "copy",
            "exprnn",
            "exprnn2019",
            {"T": 3, "K": 2},
            model_params={"hidden_size": 8, "num_layers": 2, "orthogonal_lr_ratio": ratio},
            train={"steps": 1, "eval_size": 8, "optimizer": "rmsprop", "lr": lr},
        ),
        "cpu",
    )
    model, optimizer = seen["model"], seen["optimizer"]
    names = {id(p): n for n, p in model.named_parameters()}
    group_of = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            assert id(p) not in group_of, f"{names[id(p)]} is in two parameter groups"
            group_of[id(p)] = group["lr"]
    assert set(group_of) == set(names), "every parameter of the model is trained, once"
    orthogonal = {n for n in names.values() if n.endswith("log_recurrent")}
    assert len(orthogonal) == 2
    for pid, name in names.items():
        want = lr * ratio if name in orthogonal else lr
        assert group_of[pid] == pytest.approx(want, rel=1e-12), f"{name}: lr {group_of[pid]}, the rule says {want}"
    # and the step actually taken: the largest coordinate move of each tensor is 10·(its lr)
    for name, p in model.named_parameters():
        moved = float((p.detach() - seen["before"][name]).abs().max())
        want = RMSPROP_FIRST_STEP * (lr * ratio if name in orthogonal else lr)
        assert moved == pytest.approx(want, rel=2e-3), f"{name} moved {moved:.4g}, the rule says {want:.4g}"


@pytest.mark.parametrize("ratio", [0.1, 0.25])
def test_exprnn_orthogonal_parameters_step_at_the_ratio_times_the_learning_rate(monkeypatch, ratio):
    check_orthogonal_learning_rate(monkeypatch, ratio, 1e-3)


def test_negative_control_a_wrong_orthogonal_learning_rate_fails(monkeypatch):
    arch = resolve_model("exprnn")

    def wrong(core, p, lr):  # the ratio forgotten: every parameter at lr
        return arch.param_groups(core, dataclasses.replace(p, orthogonal_lr_ratio=1.0), lr)

    with pytest.raises(AssertionError, match="the rule says"):
        check_orthogonal_learning_rate(monkeypatch, 0.1, 1e-3, dataclasses.replace(arch, param_groups=wrong))


# ---- IndRNN: u ∈ [−U_bound, U_bound] after every optimiser step ------------------------------------


def check_recurrent_weights_stay_in_bound(monkeypatch, arch_override=None, steps: int = 15) -> None:
    seen = spy_on_training(monkeypatch, arch_override)
    log = {"forwards_after_a_step": 0, "steps": 0, "pushed_out": 0}
    bound = 2 ** (1 / 3)  # mag = 2, bound_length = 3

    def recurrent(model):
        return [layer.weight_hh.detach() for layer in model.core.layers]

    def after_optimizer_step(optimizer, args, kwargs):  # before the trainer's projection
        log["steps"] += 1
        log["pushed_out"] += any(float(u.abs().max()) > bound for u in recurrent(seen["model"]))

    def before_forward(core, args):  # every forward after a step sees the weights the next step uses
        if log["steps"]:
            log["forwards_after_a_step"] += 1
            for u in recurrent(seen["model"]):
                assert float(u.abs().max()) <= bound * (1 + 1e-6), f"u = {float(u.abs().max()):.4f} > U_bound = {bound:.4f}"

    real = train.make_optimizer

    def hooked(model, arch, mparams, cfg):
        optimizer, groups = real(model, arch, mparams, cfg)
        optimizer.register_step_post_hook(after_optimizer_step)
        model.core.register_forward_pre_hook(before_forward)
        return optimizer, groups

    monkeypatch.setattr(train, "make_optimizer", hooked)
    fit(
        Cell(
            "adding",
            "indrnn",
            None,
            {"T": 6},
            model_params={"hidden_size": 16, "num_layers": 2, "bound_length": 3},
            train={"steps": steps, "eval_every": 5, "eval_size": 16, "optimizer": "adam", "lr": 0.3, "clip": 0},
        ),
        "cpu",
    )
    assert log["steps"] == steps and log["forwards_after_a_step"] >= steps  # the last step is checked by its evaluation
    assert log["pushed_out"] >= 3, "the optimiser must push u past the bound for the check to mean anything"
    for u in recurrent(seen["model"]):
        assert float(u.abs().max()) <= bound * (1 + 1e-6)


def test_indrnn_recurrent_weights_are_inside_their_bound_after_every_step(monkeypatch):
    check_recurrent_weights_stay_in_bound(monkeypatch)


def test_negative_control_without_the_clip_the_bound_is_broken(monkeypatch):
    arch = dataclasses.replace(resolve_model("indrnn"), after_step=None)
    with pytest.raises(AssertionError, match="> U_bound"):
        check_recurrent_weights_stay_in_bound(monkeypatch, arch)


def test_the_clip_is_the_authors_bound_not_another():
    """after_step clips to ±MAG^(1/T) exactly: values beyond land on the bound, values inside stay."""
    arch = resolve_model("indrnn")
    p = arch.params({"hidden_size": 4, "num_layers": 2, "bound_length": 5, "mag": 3})
    core = arch.build(None, 2, p)
    with torch.no_grad():
        core.layers[0].weight_hh.copy_(torch.tensor([2.0, -2.0, 0.5, -1.0]))
        core.layers[1].weight_hh.copy_(torch.tensor([1.3, 0.0, -1.3, 1.2]))
    arch.after_step(core, p)
    b = 3 ** (1 / 5)
    torch.testing.assert_close(core.layers[0].weight_hh.detach(), torch.tensor([b, -b, 0.5, -1.0]))
    torch.testing.assert_close(core.layers[1].weight_hh.detach(), torch.tensor([b, 0.0, -b, 1.2]))
    assert math.isclose(b, 1.2457309396155174)


# ---- every declared rule has a test here ------------------------------------------------------------

RULE_TESTS = {("exprnn", "param_groups"), ("indrnn", "after_step")}


def test_every_training_rule_an_architecture_declares_is_checked_here():
    declared = {(n, rule) for n in MODELS for rule in ("param_groups", "after_step") if getattr(MODELS.get(n), rule) is not None}
    assert declared <= RULE_TESTS, (
        f"training rules without a test in tests/models/test_training_rules.py: {sorted(declared - RULE_TESTS)}"
    )
