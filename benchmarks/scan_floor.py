"""What a faster scan could still win for each model (results/README.md, "What the layers around
the scans cost"), not an asv benchmark: ``python benchmarks/scan_floor.py`` times forward+backward
of each model's ``reference``, ``chunk`` and (where it builds) ``native`` implementation, and of
its ``chunk`` core with the recurrence swapped for a stand-in that costs one to three elementwise
passes (the *floor*: everything the layer does besides its recurrence, which no scan can remove),
in interleaved rounds with rnnbench's own timer, and prints per model the measured ratio, the
ratio a free recurrence would give (reference ÷ floor) and what issue 20's target leaves the
recurrence (reference ÷ target − floor; negative: the target is out of any scan's reach).

minGRU's and minLSTM's chunk nodes compute their gates, so their floor is the projection and the
stack; the LRU's, Hawk's and Mamba's floors keep their gates, projections, norms, convolutions and
MLPs. The stand-in still passes a gradient to every input of the recurrence, so the backward
reaches every parameter as it does with the real one.

Options: ``--batch 16 --seq-len 1024 --hidden 64 --threads 2 --rounds 3 --min-run-time 1.0``."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

TARGETS = {"mingru": 4.0, "minlstm": 4.0, "lru": 4.0, "mamba": 3.0, "hawk": None}  # issue 20: reference time ÷ chunk time


def stand_ins(name: str) -> Callable[[Any], None]:
    """A function that swaps the recurrence of every layer of a ``name`` core for its stand-in."""
    import torch

    def minrnn(core: Any) -> None:
        for layer in core.layers:
            H = layer.hidden_size

            def run(u: torch.Tensor, h0: torch.Tensor | None, H: int = H) -> torch.Tensor:
                return u.narrow(-1, 0, H) * u.narrow(-1, H, H)

            run.whole = True  # type: ignore[attr-defined]
            layer.mix = run

    def lru(core: Any) -> None:
        for layer in core.layers:
            layer.recurrence = lambda lam, bu, x0: bu * lam

    def hawk(core: Any) -> None:
        for layer in core.layers:
            layer.rg_lru.scan = lambda a, b, h0: ((h := a * b), h[:, -1])

    def mamba(core: Any) -> None:
        for layer in core.layers:

            def scan(x, delta, A, Bm, Cm, h0, neg=False):  # type: ignore[no-untyped-def]
                y = x * delta + (Bm * Cm).sum(-1, keepdim=True) + A.sum()
                return y, x.new_zeros(x.shape[0], *A.shape)

            layer.scan = scan

    return {"mingru": minrnn, "minlstm": minrnn, "lru": lru, "hawk": hawk, "mamba": mamba}[name]


def main(
    batch: int = 16, seq_len: int = 1024, hidden: int = 64, threads: int = 2, rounds: int = 3, min_run_time: float = 1.0
) -> None:
    import pandas as pd
    import torch

    from rnnbench import allocator
    from rnnbench.measure import time_it
    from rnnbench.models import MODELS, build_core

    allocator.configure()  # what the command line runs with
    torch.set_num_threads(threads)
    x = torch.randn(batch, seq_len, hidden, generator=torch.Generator().manual_seed(0))
    steps: dict[tuple[str, str], Callable[[], Any]] = {}
    for name in TARGETS:
        arch = MODELS.get(name)
        impls = [i for i in ("reference", "chunk", "native") if i in arch.implementations and arch.unavailable(i) is None]
        for variant in [*impls, "floor"]:
            core = build_core(
                name, "chunk" if variant == "floor" else variant, hidden, torch.Generator().manual_seed(1), hidden_size=hidden
            )
            if variant == "floor":
                stand_ins(name)(core)
            params = list(core.parameters())
            if variant == "floor":  # the stand-in must reach every parameter, or the floor skips a backward
                y, _ = core(x)
                missed = [
                    n
                    for (n, _), g in zip(core.named_parameters(), torch.autograd.grad(y.sum(), params, allow_unused=True))
                    if g is None
                ]
                if missed:
                    raise RuntimeError(f"{name}: the stand-in recurrence passes no gradient to {', '.join(missed)}")

            def step(core: Any = core, params: list[Any] = params) -> Any:
                y, _ = core(x)
                return torch.autograd.grad(y, params, torch.ones_like(y), allow_unused=True)

            steps[(name, variant)] = step
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for key, step in steps.items():
            times.setdefault(key, []).append(time_it(step, min_run_time).median * 1e3)
            print(f"round {r + 1}/{rounds}: {key[0]} {key[1]} {times[key][-1]:.1f} ms", flush=True)
    rows = []
    for name, target in TARGETS.items():
        ms = {v: statistics.median(t) for (n, v), t in times.items() if n == name}
        row = {"model": name, **{f"{v} ms": ms.get(v) for v in ("reference", "chunk", "native", "floor")}}
        row["chunk ×"] = ms["reference"] / ms["chunk"]
        row["free scan ×"] = ms["reference"] / ms["floor"]
        row["target ×"] = target
        row["chunk's recurrence ms"] = ms["chunk"] - ms["floor"]
        row["target leaves ms"] = ms["reference"] / target - ms["floor"] if target else None
        rows.append(row)
    print(
        f"forward+backward, B={batch} T={seq_len} H={hidden}, {threads} threads, median of {rounds} interleaved rounds "
        f"({torch.__version__}, {allocator.setting()})"
    )
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.2f}".format, na_rep="–"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("batch", 16), ("seq-len", 1024), ("hidden", 64), ("threads", 2), ("rounds", 3)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--min-run-time", type=float, default=1.0)
    args = parser.parse_args()
    main(args.batch, args.seq_len, args.hidden, args.threads, args.rounds, args.min_run_time)
