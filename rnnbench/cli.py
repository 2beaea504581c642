"""The ``rnnbench`` command line.

Only the standard library is imported at start-up: each command imports what it needs
when it runs, so ``rnnbench --help`` and a mistyped option answer without loading torch
(about 2 s on a small machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rnnbench import allocator, numerics
from rnnbench.errors import UsageError

if TYPE_CHECKING:
    from rnnbench.train import Cell

DEFAULT_OUT = Path("results/raw/runs.jsonl")


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _cell_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="a task name (see rnnbench list tasks)")
    p.add_argument("--preset", help="a literature variant of the task (see rnnbench list)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.NAME=VALUE",
        help="override a task., model. or train. parameter, e.g. task.T=50 (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0)


def cmd_list(args: argparse.Namespace) -> None:
    import dataclasses

    from rnnbench.models import model_order, resolve_model
    from rnnbench.models.user import entry_points
    from rnnbench.profiles import builtin_profiles, load_profile
    from rnnbench.tasks import TASKS
    from rnnbench.tasks.base import direction

    if args.what in ("tasks", "all"):
        print("tasks (preset marked * is the default):")
        for name, cls in TASKS.items():
            length = f"; any length (task.{cls.length_param})" if cls.length_param else ""
            print(
                f"  {name}  (version {cls.version}; metric {cls.primary_metric}, {direction(cls.primary_metric)}; "
                f"solved when {cls.rule}{length})"
            )
            for preset, text in cls.presets.items():
                star = "*" if preset == cls.default_preset else " "
                print(f"    {star}{preset:<18} {text}")
    if args.what in ("models", "all"):
        print(
            "models (implementations and the default on each device; parameters with their defaults, set with "
            "--set model.NAME=VALUE; state: the numbers per sequence carried between pieces at the defaults, "
            "T the length):"
        )
        for name in [*model_order(), *sorted(entry_points())]:
            try:
                arch = resolve_model(name)
            except UsageError as exc:
                print(f"  {name:<8} plugin that failed to load: {exc}")
                continue
            params = arch.describe() or "its constructor's keyword arguments"
            defaults = ", ".join(f"{d}: {arch.default_for(d)}" for d in ("cpu", "cuda"))
            state = arch.state_formula(arch.params()) if arch.state_size is not None else None
            impls = ", ".join(i if arch.unavailable(i) is None else f"{i} (not here)" for i in arch.implementations)
            print(f"  {name:<8} {arch.title}  [{impls}; default {defaults}]" + (f"  state: {state}" if state else ""))
            print(f"  {'':<8}   {params}")
            print(f"  {'':<8}   {arch.equations + '; ' if arch.equations else ''}{arch.citation}")
        print("  or your own core as package.module:Name or path/to/file.py:Name (see docs/own_models.md)")
    if args.what in ("ops", "all"):
        from rnnbench.ops import OPS

        print("ops (rnnbench.ops; forms, the default first among the fast ones; rnnbench throughput --op NAME):")
        for name, op in OPS.items():
            shape = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(op.Params))
            print(f"  {name:<18} [{', '.join(op.forms)}]  {op.equations}")
            print(f"  {'':<18}   {op.citation}" + (f"; shape parameters (--set op.NAME=VALUE): {shape}" if shape else ""))
    if args.what in ("profiles", "all"):
        print("profiles (rnnbench sweep NAME, or the path of your own TOML file):")
        for name in builtin_profiles():
            try:
                profile = load_profile(name)
            except UsageError as exc:  # e.g. mnist before its files are downloaded
                print(f"  {name:<8}    ? cells  cannot be expanded here: {exc}")
                continue
            print(f"  {name:<8} {len(profile.cells):>4} cells  {profile.description}")


def _cell(args: argparse.Namespace) -> Cell:
    from rnnbench.config import parse_sets
    from rnnbench.train import Cell

    sets = parse_sets(args.set, ("task", "model", "train"))
    train = dict(sets["train"])
    for key in ("steps", "batch_size", "lr", "optimizer", "clip", "eval_every", "early_stop"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    train["seed"] = args.seed
    cell = Cell(args.task, args.model, args.preset, sets["task"], args.impl, sets["model"], train)
    cell.resolved()  # validate every name and value before any work
    return cell


def summary(record: dict) -> str:
    from rnnbench.tasks.base import direction, higher_is_better

    task, model, m = record["task"], record["model"], record["metrics"]
    head = (
        f"{task['name']}/{task['preset']} {model.get('display', model['name'])}({model['implementation']}) "
        f"seed={record['train']['seed']}"
    )
    if record["status"] != "ok":
        return f"{head}: {record['status']} at step {record.get('diverged_at')}"
    metric = task["metric"]
    solved = f"solved at step {m['steps_to_solve']}" if m["solved"] else "not solved"
    versus = "" if higher_is_better(metric) else f", {m[metric] / m['baseline']:.1%} of it"  # a loss's share of the baseline's
    return (
        f"{head}: {metric}={m[metric]:.4g} ({direction(metric)}; baseline {m['baseline']:.4g}{versus}), "
        f"{solved} [{task['solved_rule']}]; {record['train']['steps_done']} steps in "
        f"{record['timing']['train_seconds']:.1f} s"
    )


def block_note(model: dict) -> str:
    """``minGRU: block of width 32 (dim), 1 layer, pre-norm residual; encoder Linear(2, 32) added: 96 of 3,361
    parameters`` for a record of a user's block."""
    stack, encoder = model["stack"], model["encoder"]
    layers = stack["num_layers"]
    how = "pre-norm residual" if stack["by"] == "rnnbench" else f"stacked by {stack['by']}"
    total = f" of {model['n_params']:,}" if "n_params" in model else ""
    return (
        f"{model.get('display', model['name'])}: block of width {stack['width']} ({stack['width_arg']}), {layers} "
        f"layer{'s' if layers != 1 else ''}, {how}; encoder {encoder['module']} added: {encoder['n_params']:,}"
        f"{total} parameters"
    )


def cmd_run(args: argparse.Namespace) -> None:
    from rnnbench.results import append_record
    from rnnbench.train import fit

    cell = _cell(args)
    record = fit(cell, args.device, weights_dir=args.save_weights)
    append_record(args.out, record)
    if "stack" in record["model"]:
        print(block_note(record["model"]))
    print(f"{summary(record)} -> {args.out}")
    if record.get("weights_file"):
        print(
            f"weights: {args.save_weights / record['weights_file']} "
            f"(rnnbench evaluate {record['run_id']} --results {results_dir(args.out)} --weights {args.save_weights} "
            f"--lengths ...)"
        )
    warn_if_busy(record)


def results_dir(records: Path) -> Path:
    """The results directory of a records file (``results/raw/runs.jsonl`` -> ``results``)."""
    return records.parent.parent if records.parent.name == "raw" else records.parent


def set_threads(n: int) -> None:
    import torch

    if n < 1:
        raise UsageError(f"--threads {n} is impossible; give 1 or more")
    torch.set_num_threads(n)


def warn_if_busy(record: dict) -> None:
    load = record.get("load") or {}
    if load.get("busy"):
        from rnnbench.results import busy_text

        warnings.warn(
            f"the machine was busy during this measurement ({busy_text(load)}): its timing is not to be "
            "trusted; the record and tables say so",
            stacklevel=2,
        )


def cmd_sample(args: argparse.Namespace) -> None:
    from rnnbench.config import parse_sets
    from rnnbench.tasks import make_task
    from rnnbench.train import generator

    sets = parse_sets(args.set, ("task",))
    if args.n < 1:
        raise UsageError(f"-n {args.n} is impossible; ask for 1 or more samples")
    task = make_task(args.task, args.preset, sets["task"])
    batch = task.sample(args.n, generator(args.seed, "sample", "cpu"))
    extra = {}
    if getattr(task, "symbols", None) is not None and task.length_param:  # the length-generalisation tasks
        extra = {
            "blank": getattr(task, "blank", None),
            "symbols": {str(k): v for k, v in task.symbols.items()},
            "readable": task.render(batch),
        }
    print(json.dumps({"task": task.describe(), **extra, **batch.to_lists()}))


def cmd_sweep(args: argparse.Namespace) -> None:
    from rnnbench.executors import ExecutorSpec, default_threads, oversubscribed, parse_shard
    from rnnbench.profiles import load_profile
    from rnnbench.sweep import estimate, label, pending, records_path, sweep
    from rnnbench.train import resolve_device

    if args.cell_timeout is not None and args.cell_timeout <= 0:
        raise UsageError(f"--cell-timeout {args.cell_timeout:g} is impossible; give a positive number of seconds")
    spec = ExecutorSpec(
        args.executor, args.workers, args.scheduler, args.partition, args.time, args.out / "submitit", args.retries
    )
    spec.validate()
    shard = parse_shard(args.shard)
    profile = load_profile(args.profile)
    resolve_device(args.device)
    path = records_path(args.out, profile)
    threads = args.threads or default_threads(spec)
    if threads and (message := oversubscribed(spec, threads)):
        warnings.warn(message, stacklevel=2)
    if args.dry_run:
        todo, done = pending(profile, path, args.device, args.retry_failed, threads, shard)
        total = 0.0
        for pc in todo:
            cost = estimate(pc.cell, pc.evaluation)
            total += cost["seconds"]
            print(
                f"{pc.section:<10} {label(pc, str(resolve_device(args.device))):<60} {cost['flops'] / 1e9:9.1f} GFLOP"
                f"  ~{cost['seconds']:6.1f} s"
            )
        print(f"{len(todo)} cells to run ({done} already in {path}), about {total / 60:.1f} min on a 2-core CPU")
        return
    counts = sweep(
        profile,
        args.out,
        args.device,
        args.cell_timeout,
        args.retry_failed,
        not args.no_progress,
        spec,
        threads,
        shard,
        args.save_weights,
    )
    print(f"sweep {profile.name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" -> {path}")


def seq_lens(text: str) -> list[int]:
    """``--seq-len 64,256,1024`` -> [64, 256, 1024]."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--seq-len {text!r} is not a list of integers, e.g. 1024 or 64,256,1024") from None
    if not values:
        raise UsageError("--seq-len names no length; give e.g. 1024 or 64,256,1024")
    return values


def cmd_throughput_op(args: argparse.Namespace) -> None:
    import torch

    from rnnbench.config import parse_sets
    from rnnbench.measure_ops import measure_op, op_cells
    from rnnbench.results import append_record, environment
    from rnnbench.train import resolve_device

    if args.impl or args.compare_bare or args.layers != 1 or args.input:
        raise UsageError(
            "--op times an op alone: use --form (not --impl), and --batch, --seq-len, --hidden, "
            "--set op.NAME=VALUE; --input, --layers and --compare-bare are for --model"
        )
    device = resolve_device(args.device)
    sets = parse_sets(args.set, ("op",))["op"]
    cells = op_cells(args.op, args.form, args.batch, seq_lens(args.seq_len), args.hidden, sets, args.dtype, args.min_run_time)
    print(
        f"op {args.op} B={args.batch} width={args.hidden} {args.dtype} on {device} "
        f"({environment(device)['device_name']}, {torch.get_num_threads()} threads)"
    )
    print(
        f"{'form':<10} {'T':>6} {'mode':<7} {'median ms':>10} {'IQR ms':>8} {'tokens/s':>12} {'GB/s':>7} "
        f"{'roofline':>8} {'saved MB':>9}"
    )
    medians: dict[tuple[int, str, str], float] = {}
    for cell in cells:
        record = measure_op(cell, device)
        for mode, r in record["results"].items():
            medians[(cell.seq_len, cell.form, mode)] = r["median_s"]
            print(
                f"{cell.form:<10} {cell.seq_len:>6} {mode:<7} {r['median_s'] * 1e3:>10.3f} {r['iqr_s'] * 1e3:>8.3f} "
                f"{r['tokens_per_s']:>12,.0f} {r['bytes_per_s'] / 1e9:>7.2f} {r['roofline']:>8.1%} "
                f"{record['memory']['bytes'] / 2**20:>9.1f}"
            )
        if args.out:
            append_record(args.out, record)
        warn_if_busy(record)
    forms = list(dict.fromkeys(c.form for c in cells))
    base = "recurrent" if "recurrent" in forms else forms[0]
    for T in dict.fromkeys(c.seq_len for c in cells):
        for form in forms:
            if form != base:
                ratios = ", ".join(
                    f"{mode} {medians[(T, base, mode)] / medians[(T, form, mode)]:.2f}x" for mode in ("fwd", "fwdbwd")
                )
                print(f"T={T}: {form} is {ratios} as fast as {base} ({base} time / {form} time)")
    print(f"copy bandwidth (the roofline): {record['copy']['bytes_per_s'] / 1e9:.1f} GB/s; memory: {record['memory']['method']}")


def cmd_throughput(args: argparse.Namespace) -> None:
    import torch

    from rnnbench.config import parse_sets
    from rnnbench.measure import Shape, ThroughputCell, bare_timer_check, measure
    from rnnbench.models import display_name, resolve_model
    from rnnbench.results import append_record, environment
    from rnnbench.train import resolve_device

    if (args.model is None) == (args.op is None):
        raise UsageError("give --model NAME (an architecture) or --op NAME (an op of rnnbench.ops), not both")
    if args.op is not None:
        return cmd_throughput_op(args)
    if args.form or args.dtype != "float32":
        raise UsageError("--form and --dtype are for --op; a model's implementations are chosen with --impl")
    device = resolve_device(args.device)
    arch = resolve_model(args.model)
    impls = [i.strip() for i in args.impl.split(",")] if args.impl else arch.available_implementations()
    lengths = list(dict.fromkeys(seq_lens(args.seq_len)))
    extra = parse_sets(args.set, ("model",))["model"]
    cells = [
        ThroughputCell(
            args.model, impl, Shape(args.batch, T, args.input or args.hidden, args.hidden, args.layers), args.min_run_time, extra
        )
        for T in lengths
        for impl in impls
    ]
    for cell in cells:
        cell.validate()  # every name and value before any work
    shape = cells[0].shape
    print(
        f"{display_name(arch)} B={shape.batch} T={','.join(map(str, lengths))} I={shape.input_size} "
        f"H={shape.hidden_size} layers={shape.num_layers} on {device} ({environment(device)['device_name']}, "
        f"{torch.get_num_threads()} threads)"
    )
    print(
        f"{'impl':<10} {'mode':<7} {'median ms':>10} {'IQR ms':>8} {'tokens/s':>11} {'GFLOP/s':>8} "
        f"{'roofline':>8} {'memory MB':>10}" + (f" {'T':>6}" if len(lengths) > 1 else "")
    )
    states = {}
    for cell in cells:
        record = measure(cell, device)
        states[cell.shape.seq_len] = record["model"].get("state_size")
        for mode, r in record["results"].items():
            gflops = "n/a" if r["flop_per_s"] is None else f"{r['flop_per_s'] / 1e9:.1f}"
            roofline = "n/a" if r["roofline"] is None else f"{r['roofline']:.1%}"
            print(
                f"{cell.impl:<10} {mode:<7} {r['median_s'] * 1e3:>10.3f} {r['iqr_s'] * 1e3:>8.3f} "
                f"{r['tokens_per_s']:>11,.0f} {gflops:>8} {roofline:>8} {r['memory_bytes'] / 2**20:>10.1f}"
                + (f" {cell.shape.seq_len:>6}" if len(lengths) > 1 else "")
            )
        if args.out:
            append_record(args.out, record)
        warn_if_busy(record)
    if record["matmul"]:
        print(
            f"matmul {record['matmul']['shape'][0]} @ {record['matmul']['shape'][1]}: "
            f"{record['matmul']['flop_per_s'] / 1e9:.1f} GFLOP/s (the roofline reference)"
        )
    else:
        print("no FLOP count (a user's core can declare flops(batch, length, input_size)): GFLOP/s and roofline are n/a")
    if len(set(states.values())) > 1:  # a state that grows with T (a KV cache)
        print("state: " + ", ".join(f"{n:,} at T={T}" for T, n in states.items()) + " numbers per sequence")
    elif record["model"].get("state_size") is not None:
        print(f"state: {record['model']['state_size']:,} numbers per sequence")
    print(f"memory: {record['results']['fwdbwd']['memory_method']}")
    if "stack" in record["model"]:
        print(block_note(record["model"]) + f", {record['model']['encoder']['flops']:,} FLOP of each forward")
    if args.compare_bare:
        check = bare_timer_check(cells[0], device)
        print(
            f"harness vs a bare torch.utils.benchmark.Timer of the {cells[0].impl} core's forward at this shape: "
            f"{check['harness_median_s'] * 1e3:.3f} ms vs {check['bare_median_s'] * 1e3:.3f} ms, "
            f"ratio {check['ratio']:.3f}"
        )


def cmd_check(args: argparse.Namespace) -> int:
    from rnnbench.check import RUN_NOTE, run_checks, subjects
    from rnnbench.config import parse_sets

    failed, whole = 0, False
    values = parse_sets(args.set, ("model",))["model"]
    for label_, subject in subjects(args.model, args.impl, args.bidirectional, values):
        results = run_checks(subject)
        kind = subject.kind()
        whole |= kind == "whole model"
        print(f"{label_} [{kind}]")
        for r in results:
            print(f"  {r.status:<5} {r.name:<19} {r.detail}")
        failed += sum(r.status == "FAIL" for r in results)
    if whole:
        print(f"note: {RUN_NOTE}")
    print("all probes passed" if not failed else f"{failed} probe(s) failed")
    return 1 if failed else 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from rnnbench.rerun import cell_from_record, compare_runs, env_differences, find_record
    from rnnbench.results import append_record, environment
    from rnnbench.train import fit, resolve_device

    record = find_record(args.records, args.run_id)
    cell = cell_from_record(record)
    recorded = record.get("env", {}).get("threads")
    if args.threads is None and recorded:  # CPU results are bit-identical only at the recorded thread count
        set_threads(recorded)
    print(f"rerunning {record['run_id']}: {cell.task}/{cell.preset} {cell.model}({cell.impl}) seed={cell.train.get('seed')}")
    for key, old, new in env_differences(record["env"], environment(resolve_device(args.device))):
        print(f"  note: {key} was {old!r}, is now {new!r}")
    fresh = fit(cell, args.device)
    same, differences = compare_runs(record, fresh)
    for line in differences:
        print(f"  {line}")
    if args.out:
        append_record(args.out, fresh | {"rerun_of": record["run_id"]})
    print("match: bit-identical metrics and weights" if same else "MISMATCH")
    return 0 if same else 1


def cmd_evaluate(args: argparse.Namespace) -> None:
    from rnnbench.evaluate import evaluate_run, evaluated, find_training_record
    from rnnbench.lengths import describe_lengths, parse_lengths
    from rnnbench.results import append_record, read_records

    lengths = parse_lengths(args.lengths, "--lengths")
    if args.samples < 2:
        raise UsageError(f"--samples {args.samples} is impossible; give 2 or more sequences per length")
    record, file = find_training_record(args.results, args.run_id)
    weights = args.weights or args.results / "weights"
    todo = (
        lengths
        if args.again
        else tuple(n for n in lengths if n not in evaluated(read_records(file), record["run_id"], args.samples))
    )
    head = f"{record['task']['name']}/{record['task']['preset']} {record['model'].get('display', record['model']['name'])}"
    if not todo:
        print(
            f"run {record['run_id']} ({head}) already has every length of {describe_lengths(lengths)} at "
            f"{args.samples} samples in {file}; nothing to do (--again evaluates anyway)"
        )
        return
    result = evaluate_run(record, todo, weights, args.samples, args.device)
    if "profile" in record:
        result["profile"], result["section"] = record["profile"], record.get("section")
    append_record(file, result)
    spec = record["train"].get("lengths")  # trained on a range, or at the task's own length
    train_max = max(parse_lengths(spec)) if spec else record["task"]["params"].get("length")
    metric = record["task"].get("metric", "acc")
    print(
        f"run {record['run_id']} ({head}, trained on {record['train'].get('lengths') or 'its own length'}): "
        f"{len(todo)} lengths, {args.samples} sequences each, {result['timing']['seconds']:.1f} s -> {file}"
    )
    for row in result["per_length"]:
        mark = "" if train_max is None or row["length"] > train_max else "  (within the training lengths)"
        print(
            f"  length {row['length']:>5}  {metric} {row[metric]:.4f}  ce {row['ce']:.4f}  "
            f"(chance {row['chance']:.3g}, baseline {row['baseline']:.3g}){mark}"
        )
    test = [row[metric] for row in result["per_length"] if train_max is None or row["length"] > train_max]
    if test:
        print(f"score (mean {metric} over the {len(test)} lengths beyond training): {sum(test) / len(test):.4f}")


def cmd_compare(args: argparse.Namespace) -> None:
    from rnnbench.compare import compare, render

    print(render(compare(args.results, args.a, args.b, args.by, args.profile, args.correction), args.a, args.b))


def cmd_report(args: argparse.Namespace) -> None:
    from rnnbench.report.build import build

    outputs = build(args.results)
    written = outputs.written
    if not written:
        raise UsageError(f"no records under {args.results / 'raw'}; run rnnbench sweep first")
    for path in written:
        print(path)
    for path in outputs.removed:
        print(f"removed {path} (an earlier report wrote it; this one no longer does)")
    for path in written:
        if path.name == "paper_comparison.md":  # the published numbers beside ours, on the terminal too
            print("\n" + path.read_text())
    page = args.results / "index.html"
    if page in written:
        print(f"web page: {page} (every table and figure; open it in a browser)")


def build_parser() -> Parser:
    parser = Parser(prog="rnnbench", description="Benchmark and reproducibility harness for recurrent networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("list", help="show tasks with their presets and models with their implementations")
    p.add_argument("what", nargs="?", default="all", choices=["all", "tasks", "models", "ops", "profiles"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="train one cell and append its record")
    _cell_args(p)
    p.add_argument("--model", required=True, help="a model name (see rnnbench list models), or module:Name / file.py:Name")
    p.add_argument("--impl", help="implementation (default: the model's fastest; see rnnbench list models)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["adam", "rmsprop"])
    p.add_argument("--clip", type=float, help="max gradient norm; 0 turns clipping off")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--early-stop", action="store_true", default=None, help="stop when solved")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSONL file to append to (default {DEFAULT_OUT})")
    p.add_argument(
        "--save-weights",
        type=Path,
        nargs="?",
        const=Path("results/weights"),
        metavar="DIR",
        help="save the trained state_dict as DIR/RUN_ID.safetensors (default DIR results/weights), for rnnbench evaluate",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sample", help="print example input/target pairs of a task as JSON")
    _cell_args(p)
    p.add_argument("-n", type=int, default=2, help="how many samples")
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("sweep", help="run a profile cell by cell (resumes where it stopped)")
    p.add_argument("profile", help="a built-in profile (see rnnbench list profiles) or a TOML file")
    p.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--dry-run", action="store_true", help="list the pending cells and their estimated cost")
    p.add_argument("--cell-timeout", type=float, help="stop a cell after this many seconds (recorded as timeout)")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed or timeout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--executor",
        default="local",
        choices=["local", "dask", "slurm", "submitit-local"],
        help="where cells run: here one by one (default), on Dask workers, as SLURM jobs (submitit), or "
        "as local processes through submitit; this process alone writes the records",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="dask: start a local cluster of N worker processes; submitit-local: N jobs at once (default: cores / 2)",
    )
    p.add_argument("--scheduler", help="dask: the address of a running cluster's scheduler, tcp://HOST:PORT")
    p.add_argument("--partition", help="slurm: the partition to submit to")
    p.add_argument("--time", type=int, default=60, help="slurm, submitit-local: minutes per job (default 60)")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="a cell whose worker or job dies is run again this many times, then recorded as failed",
    )
    p.add_argument("--shard", metavar="i/n", help="run only the i-th of n disjoint slices of the profile (by cell key)")
    p.add_argument(
        "--save-weights",
        action="store_true",
        help="save every training cell's weights under OUT/weights ([[length]] cells always do)",
    )
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("throughput", help="time forward and forward+backward of one architecture, or of one op alone")
    p.add_argument("--model", help="a model name (see rnnbench list models), or module:Name / file.py:Name")
    p.add_argument("--op", help="an op of rnnbench.ops instead (see rnnbench list ops), timed alone")
    p.add_argument("--impl", help="comma-separated implementations (default: all the model has)")
    p.add_argument("--form", help="--op: comma-separated forms (default: all the op has), e.g. chunk,recurrent")
    p.add_argument("--dtype", default="float32", help="--op: float32 (default) or float64")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="model.NAME=VALUE",
        help="a model parameter beyond --hidden/--layers, or with --op an op parameter op.NAME=VALUE (repeatable)",
    )
    p.add_argument("--batch", type=int, default=64)
    p.add_argument(
        "--seq-len",
        default="100",
        help="the length T, or a comma-separated list of them (e.g. 64,256,1024: one measurement per length)",
    )
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--input", type=int, help="input size (default: the hidden size)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--min-run-time", type=float, default=0.5, help="seconds of timed runs per measurement")
    p.add_argument("--out", type=Path, help="also append the records to this JSONL file")
    p.add_argument(
        "--compare-bare",
        action="store_true",
        help="also time a bare Timer of the first implementation's core at this shape and print the ratio",
    )
    p.set_defaults(func=cmd_throughput)

    p = sub.add_parser("check", help="probe a model's contract: batch independence, causality, state, gradients")
    p.add_argument("model", help="a built-in name, package.module:Name or path/to/file.py:Name")
    p.add_argument("--impl", help="one implementation (default: every one the model has that can run here)")
    p.add_argument(
        "--set", action="append", default=[], metavar="model.NAME=VALUE", help="a constructor argument of the model (repeatable)"
    )
    p.add_argument("--bidirectional", action="store_true", help="the model sees the whole sequence (skip causality)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("rerun", help="rerun the cell of a record and say whether it reproduces")
    p.add_argument("records", type=Path, help="a results JSONL file")
    p.add_argument("--run-id", help="which record (default: the last one in the file)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--out", type=Path, help="also append the new record to this JSONL file")
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("evaluate", help="score a trained run's saved weights at other lengths (length generalisation)")
    p.add_argument("run_id", help="the training run's id (or a unique prefix), as in its record")
    p.add_argument(
        "--lengths",
        required=True,
        metavar="SPEC",
        help='lengths to evaluate at, inclusive ranges: "41:500" (every length), "41:500:10" (every 10th), "41,100,500"',
    )
    p.add_argument("--samples", type=int, default=512, help="sequences per length (default 512, as Delétang et al.)")
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="the results directory whose raw/ holds the run's record (default results); the new "
        "record is appended to the same file",
    )
    p.add_argument("--weights", type=Path, help="the folder of RUN_ID.safetensors (default RESULTS/weights)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--again", action="store_true", help="evaluate lengths already recorded for this run too")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="rebuild tables and figures from the records in a results directory")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("compare", help="two models (or implementations, or commits) cell by cell, with a test")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--a", required=True, help="the first model (or implementation, or commit prefix)")
    p.add_argument("--b", required=True, help="the second")
    p.add_argument("--by", default="model", choices=["model", "impl", "commit"], help="what --a and --b name")
    p.add_argument("--profile", help="only this profile's records")
    p.add_argument(
        "--correction",
        default="holm",
        choices=["holm", "bh", "none"],
        help="for testing many cells together: holm (family-wise error, default), bh (Benjamini-Hochberg "
        "false-discovery rate) or none",
    )
    p.set_defaults(func=cmd_compare)

    for name in ("run", "sweep", "throughput", "rerun", "evaluate"):
        sub.choices[name].add_argument(
            "--threads",
            type=int,
            help="torch's intra-op threads (default: torch's, the cores; rerun: the record's). "
            "CPU results are bit-identical only at the same count",
        )
    for name in NUMERICS_COMMANDS:
        add_numerics_option(sub.choices[name])
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    return parser


# The commands that compute numbers: each takes --numerics, which main() applies before torch is imported.
NUMERICS_COMMANDS = ("run", "sweep", "throughput", "rerun", "evaluate")


def add_numerics_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--numerics",
        choices=numerics.MODES,
        help="portable: pin PyTorch's, MKL's and oneDNN's code paths so that CPU results are bit-identical "
        f"across CPU models (slower; see docs/reproducibility.md); default: the fastest path for this "
        f"CPU (or ${numerics.ENV_VAR}; rerun: the record's)",
    )


def apply_numerics(args: argparse.Namespace) -> None:
    """Set the numerics mode the command asked for (flag, environment, or a rerun's record)
    in this process, before the command imports torch."""
    if not hasattr(args, "numerics"):
        return
    wanted = numerics.resolve(args.numerics)
    if args.command == "rerun" and args.numerics is None and not os.environ.get(numerics.ENV_VAR):
        wanted = numerics.recorded_mode(args.records, args.run_id) or wanted  # rerun: as the record ran
    numerics.configure(wanted)


def _warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file=None, line=None) -> None:
    print(f"rnnbench: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    allocator.configure()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning  # one line per warning (a corrupt record skipped, ...), no source dump
            apply_numerics(args)  # first: the pins must be in place before torch is imported
            if getattr(args, "threads", None) is not None:
                set_threads(args.threads)
            return args.func(args) or 0
    except UsageError as exc:
        print(f"rnnbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an error in a user's model (or a bug): one line, the traceback behind --debug
        if args.debug:
            raise
        import torch

        from rnnbench.models.blocks import cuda_requirement, needs_cuda_message
        from rnnbench.models.user import where

        device = getattr(args, "device", "cpu")
        on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
        reason = cuda_requirement(exc) if on_cpu else None
        if reason is not None and hasattr(args, "model"):  # a Triton kernel or CUDA extension on a CPU run
            print(f"rnnbench: error: {needs_cuda_message(args.model, reason)}", file=sys.stderr)
            return 2
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"rnnbench: error: {type(exc).__name__}: {message}{where(exc)} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
