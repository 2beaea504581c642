"""Where ``linear_recurrence``'s chunk form spends its time (results/README.md, "What the chunk
form costs"), not an asv benchmark: ``python benchmarks/chunk_costs.py`` runs the form's
forward and backward stage by stage (rnnbench.ops.chunked, the same calls in the same order
as the autograd node, so each stage finds the cache as it would), times every stage over many
repeats, and prints the median of each, the ATen calls it makes (counted once with the
profiler) and its share, beside the
step-by-step reference and a tenth of it (issue 20's target for the op alone).

Options: ``--batch 16 --seq-len 1024 --hidden 64 --threads 2 --repeats 40``."""

from __future__ import annotations

import argparse
import statistics
import time


def main(
    batch: int = 16, seq_len: int = 1024, hidden: int = 64, threads: int = 2, repeats: int = 40, min_run_time: float = 2.0
) -> None:
    import pandas as pd
    import torch
    from torch.utils import benchmark

    from rnnbench import allocator
    from rnnbench.ops import chunked, linear_recurrence
    from rnnbench.ops.base import chunk_size
    from rnnbench.ops.linear import varying_grad

    allocator.configure()  # what the command line runs with
    torch.set_num_threads(threads)
    B, T, F = batch, seq_len, hidden
    C = chunk_size(T, None)
    n = chunked.n_chunks(T, C)
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(B, T, F, generator=gen) * 0.5 + 0.5
    b, g = torch.randn(B, T, F, generator=gen), torch.randn(B, T, F, generator=gen)
    stages: dict[str, list[float]] = {}
    dispatches: dict[str, int] = {}

    def timed(name: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        stages.setdefault(name, []).append(time.perf_counter() - t0)
        if name not in dispatches:  # in the first warm-up round, untimed: the ATen calls the stage makes
            # (not the calls they make); an in-place stage then runs twice, which only that round sees
            with torch.profiler.profile() as prof:
                fn(*args)
            dispatches[name] = sum(1 for ev in prof.events() if ev.name.startswith("aten::") and ev.cpu_parent is None)
        return out

    for i in range(repeats + 5):
        if i == 5:
            stages.clear()  # warm-up done
        A = timed("fwd: a to chunks", chunked.to_chunks, a, C, 1.0)
        H = timed("fwd: b to chunks", chunked.to_chunks, b, C)
        a_steps, h_steps = chunked.decays(A, C), H.unbind(0)
        e, p = timed("fwd: local scan", chunked.local, a_steps, h_steps, False)
        entering = timed("fwd: carry", chunked.carry, e, p, None, False)
        timed("fwd: rerun", chunked.rerun, a_steps, h_steps, entering, h_steps)
        h = timed("fwd: states from chunks", chunked.from_chunks, H, T)
        G = timed("bwd: g to chunks", chunked.to_chunks, g, C)
        g_steps = G.unbind(0)
        a_next = (*A.unbind(0)[1:], chunked.next_first(A))
        e, p = timed("bwd: local scan", chunked.local, a_next, g_steps, False, True)
        entering = timed("bwd: carry", chunked.carry, e, p, None, False, True)
        timed("bwd: rerun", chunked.rerun, a_next, g_steps, entering, g_steps, True)
        delta = timed("bwd: δ from chunks", chunked.from_chunks, G, T)
        timed("bwd: ∂a", varying_grad, delta, h, None)

    def whole(form: str) -> float:
        x, y = a.clone().requires_grad_(), b.clone().requires_grad_()

        def step() -> None:
            out, _ = linear_recurrence(x, y, form=form)
            torch.autograd.grad(out, (x, y), g)

        step()
        timer = benchmark.Timer("step()", globals={"step": step}, num_threads=threads)  # its default is one thread
        return timer.blocked_autorange(min_run_time=min_run_time).median

    reference, chunk = whole("recurrent"), whole("chunk")
    rows = [
        {"stage": name, "dispatches": dispatches[name], "median ms": statistics.median(times) * 1e3}
        for name, times in stages.items()
    ]
    table = pd.DataFrame(rows)
    total = table["median ms"].sum()
    table["share"] = (table["median ms"] / total).map("{:.0%}".format)
    print(f"linear_recurrence chunk form, B={B} T={T} F={F}, C={C}, n={n}, {threads} threads, {repeats} repeats")
    print(table.to_string(index=False, float_format="{:.3f}".format))
    print(f"sum of stages {total:.2f} ms ({table['dispatches'].sum()} dispatches); whole chunk form fwd+bwd {chunk * 1e3:.2f} ms")
    print(f"recurrent fwd+bwd {reference * 1e3:.2f} ms: chunk is {reference / chunk:.2f}x; 10x needs {reference * 1e2:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("batch", 16), ("seq-len", 1024), ("hidden", 64), ("threads", 2), ("repeats", 40)):
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    main(args.batch, args.seq_len, args.hidden, args.threads, args.repeats)
