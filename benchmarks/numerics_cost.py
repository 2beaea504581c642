"""The speed cost of ``--numerics portable``: each training cell of a profile timed in both modes.

Every cell runs twice, once per mode, each time in a fresh process (the pins only take effect
before torch is imported), the modes alternating ABBA from cell to cell so that a drift in the
machine's speed falls on both alike. The figure per cell is the record's ``train_seconds``
(the training loop, without start-up and evaluation), so process start-up is not counted.
Run it on a quiet machine: on a busy one the ratios are noise.

    python benchmarks/numerics_cost.py                    # quick profile, seed 0 accuracy cells
    python benchmarks/numerics_cost.py --all              # every training cell of the profile
    python benchmarks/numerics_cost.py --steps 5 --limit 2   # a smoke test (seconds)

It prints a table (cell, default s, portable s, portable/default) and the totals, and with
``--out FILE`` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path


def child(mode: str, profile_name: str, index: int, steps: int | None, threads: int | None) -> None:
    from rnnbench import numerics

    numerics.configure(mode)  # before anything imports torch
    import dataclasses

    import torch

    from rnnbench.profiles import load_profile
    from rnnbench.train import fit

    if threads:
        torch.set_num_threads(threads)
    cell = load_profile(profile_name).cells[index].cell
    if steps:
        cell = dataclasses.replace(cell, train={**cell.train, "steps": steps, "eval_every": steps})
    record = fit(cell, "cpu")
    print(
        json.dumps(
            {
                "mode": mode,
                "index": index,
                "train_seconds": record["timing"]["train_seconds"],
                "weights_sha256": record["weights_sha256"],
                "busy": record["load"]["busy"],
                "cpu": record["env"]["cpu"],
                "threads": record["env"]["threads"],
            }
        )
    )


def chosen(profile_name: str, every: bool, limit: int | None) -> list[tuple[int, str]]:
    from rnnbench.measure import ThroughputCell
    from rnnbench.profiles import load_profile
    from rnnbench.sweep import label

    picked = []
    for i, pc in enumerate(load_profile(profile_name).cells):
        if isinstance(pc.cell, ThroughputCell):
            continue
        if not every and (pc.section != "accuracy" or pc.cell.train.get("seed", 0) != 0):
            continue
        picked.append((i, label(pc)))
    return picked[:limit] if limit else picked


def run_child(mode: str, args: argparse.Namespace, index: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RNNBENCH_NUMERICS"}
    command = [sys.executable, __file__, "--child", mode, "--profile", args.profile, "--index", str(index)]
    command += [
        *(["--steps", str(args.steps)] if args.steps else []),
        *(["--threads", str(args.threads)] if args.threads else []),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cell {index} in {mode} mode failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--all", action="store_true", help="every training cell (default: seed 0 of the accuracy section)")
    parser.add_argument("--limit", type=int, help="only the first N chosen cells")
    parser.add_argument("--steps", type=int, help="override each cell's training steps (a smoke test)")
    parser.add_argument("--threads", type=int, help="torch threads in each cell's process (default: torch's)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--child", choices=["default", "portable"], help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.profile, args.index, args.steps, args.threads)

    cells = chosen(args.profile, args.all, args.limit)
    rows = []
    print(f"{'cell':<70} {'default s':>9} {'portable s':>10} {'ratio':>6}", flush=True)
    for n, (index, name) in enumerate(cells):
        order = ("default", "portable") if n % 2 == 0 else ("portable", "default")  # ABBA
        got = {mode: run_child(mode, args, index) for mode in order}
        ratio = got["portable"]["train_seconds"] / got["default"]["train_seconds"]
        busy = " (busy)" if got["default"]["busy"] or got["portable"]["busy"] else ""
        rows.append({"cell": name, "index": index, **{m: got[m] for m in got}, "ratio": ratio})
        print(
            f"{name[:70]:<70} {got['default']['train_seconds']:>9.2f} {got['portable']['train_seconds']:>10.2f} "
            f"{ratio:>6.2f}{busy}",
            flush=True,
        )
    if not rows:
        raise SystemExit("no training cells chosen")
    total = {m: sum(r[m]["train_seconds"] for r in rows) for m in ("default", "portable")}
    geo = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
    print(
        f"{len(rows)} cells: default {total['default']:.1f} s, portable {total['portable']:.1f} s "
        f"(total ratio {total['portable'] / total['default']:.2f}, geometric mean of the ratios {geo:.2f}, "
        f"range {min(r['ratio'] for r in rows):.2f}-{max(r['ratio'] for r in rows):.2f}) on {rows[0]['default']['cpu']}, "
        f"{rows[0]['default']['threads']} threads"
    )
    if any(r["default"]["busy"] or r["portable"]["busy"] for r in rows):
        print("warning: the machine was busy during some cells (marked): rerun on a quiet machine")
    if args.out:
        args.out.write_text(
            json.dumps({"profile": args.profile, "cells": rows, "total": total, "geometric_mean_ratio": geo}, indent=1)
        )


if __name__ == "__main__":
    main()
