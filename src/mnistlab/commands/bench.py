"""`mnistlab bench [--quick] [--json FILE]`: measure mnistlab against the usual PyTorch way."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from mnistlab.bench import BenchPlan, run_bench
from mnistlab.commands.common import add_data_args, load_data
from mnistlab.errors import UsageError
from mnistlab.fileio import atomic_write_json
from mnistlab.runtime import set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="measure training/inference speed and time to 99 %% against a DataLoader reference"
    )
    p.add_argument(
        "--quick", action="store_true", help="one round, few repeats, no time-to-accuracy (< 1 minute)"
    )
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE as JSON")
    p.add_argument("--rounds", type=int, metavar="N", help="alternating rounds per model (default: 5)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        metavar="S",
        help="time-to-accuracy seeds (default: 0 1 2; none: skip)",
    )
    p.add_argument("--threads", type=int, metavar="N", help="torch intra-op threads (default: torch's)")
    add_data_args(p)
    p.set_defaults(handler=run)


def _range(stats: dict[str, float], fmt: str) -> str:
    return f"{stats['median']:{fmt}} ({stats['min']:{fmt}}-{stats['max']:{fmt}})"


def format_table(record: dict[str, Any]) -> str:
    """The human-readable summary of a `run_bench` record."""
    rt = record["runtime"]
    load = record.get("load_average_before")
    lines = [
        f"mnistlab bench: torch {rt['torch']}, {rt['threads']} threads, {rt['cpu']}"
        + (f", load {load[0]:.1f}" if load else ""),
        "",
        "Training throughput, images/s: median (min-max)",
        f"  {'model':<9}{'batch':>6}  {'mnistlab':>22}  {'DataLoader reference':>22}  {'ratio':>18}",
    ]
    for task, r in record["training"].items():
        lines.append(
            f"  {task:<9}{r['batch_size']:>6}  {_range(r['mnistlab']['images_per_second'], ',.0f'):>22}  "
            f"{_range(r['reference']['images_per_second'], ',.0f'):>22}  {_range(r['ratio'], '.2f'):>18}"
        )
    lines += ["", "Inference: images/s at batch 1,000; single-image latency ms p50 / p99"]
    for name, r in record["inference"].items():
        lat = r["latency_ms"]
        lines.append(
            f"  {name:<9}{_range(r['images_per_second'], ',.0f'):>26}   {lat['p50']:.2f} / {lat['p99']:.2f}"
        )
    if record["time_to_accuracy"]:
        lines += ["", "Time to accuracy, fast recipe, wall s from process start (median of seeds)"]
        for r in record["time_to_accuracy"]:
            runs = r["runs"]
            lines.append(
                f"  >= {r['target']:.2%}: {_range(r['wall_seconds'], '.1f')} s, test "
                f"{_range(r['test_accuracy'], '.2%')}, {r['reached']}/{len(runs)} seeds reached it, "
                f"peak RSS {max(x['peak_rss_mib'] for x in runs):.0f} MiB"
            )
    lines += [
        "",
        "Peak RSS, MiB: "
        + ", ".join(
            f"{task} mnistlab {r['mnistlab']['peak_rss_mib'] or float('nan'):.0f} / reference "
            f"{r['reference']['peak_rss_mib'] or float('nan'):.0f}"
            for task, r in record["training"].items()
        ),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    threads = set_threads(args.threads)
    plan = BenchPlan.quick() if args.quick else BenchPlan()
    if args.rounds is not None:
        if args.rounds <= 0:
            raise UsageError(f"--rounds must be a positive integer, got {args.rounds}.")
        plan = dataclasses.replace(plan, rounds=args.rounds)
    if args.seeds is not None:
        plan = dataclasses.replace(plan, accuracy_seeds=tuple(args.seeds))
    data = load_data(args)
    if data.num_classes != 10:
        # The suite's models and its DataLoader reference are built with ten outputs.
        raise UsageError(f"bench measures ten-class models; {data.name} has {data.num_classes} classes.")
    record = run_bench(
        data,
        plan,
        data_dir=args.data_dir,
        threads=threads,
        on_progress=lambda message: print(f"bench: {message}", file=sys.stderr, flush=True),
    )
    print(format_table(record))
    if args.json:
        atomic_write_json(args.json, record)
    return 0
