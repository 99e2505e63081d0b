"""`mnistlab bench [--quick] [--device D] [--json FILE]`: measure mnistlab against the usual PyTorch way."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from mnistlab.bench import BenchPlan, run_bench
from mnistlab.bench.table import format_table
from mnistlab.commands.common import add_data_args, add_runtime_args, load_data
from mnistlab.commands.precision_flag import add_precision_arg, check_and_warn
from mnistlab.errors import UsageError
from mnistlab.fileio import atomic_write_json
from mnistlab.runtime import resolve_device, set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="measure training/inference speed and time to 99 %% against a DataLoader reference"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="one round, few repeats, no time to accuracy, fp32/bf16 parity with seed 0 only "
        "(about a minute on an idle 2-core machine)",
    )
    p.add_argument(
        "--records",
        action="store_true",
        help="only the time-to-accuracy and training-FLOPs-to-accuracy rows: the fast recipe and "
        "the sprint recipes side by side, seed by seed (a few minutes)",
    )
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE as JSON")
    p.add_argument("--rounds", type=int, metavar="N", help="alternating rounds per model (default: 5)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        metavar="S",
        help="seeds of the fresh-process runs: time to accuracy and fp32/bf16 parity (default: 0 1 2; "
        "--quick: no time to accuracy, parity with seed 0; none: skip both)",
    )
    add_precision_arg(
        p,
        default="fp32",
        help_default="fp32; of the throughput, inference and time-to-accuracy rows, while the "
        "fp32/bf16 rows always measure both",
    )
    add_data_args(p)
    add_runtime_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)  # first: a missing GPU is reported before any work
    threads = set_threads(args.threads)
    if args.quick and args.records:
        raise UsageError("--quick and --records exclude each other (--quick runs no time to accuracy).")
    plan = BenchPlan.quick() if args.quick else BenchPlan.records_only() if args.records else BenchPlan()
    if args.rounds is not None:
        if args.rounds <= 0:
            raise UsageError(f"--rounds must be a positive integer, got {args.rounds}.")
        plan = dataclasses.replace(plan, rounds=args.rounds)
    if args.seeds is not None:
        plan = dataclasses.replace(plan, accuracy_seeds=tuple(args.seeds), parity_seeds=tuple(args.seeds))
    check_and_warn(args.precision, device)
    check_and_warn("bf16", device)  # the fp32/bf16 rows run bf16 whatever --precision says
    plan = dataclasses.replace(plan, precision=args.precision)
    data = load_data(args)
    if data.num_classes != 10:
        # The suite's models and its DataLoader reference are built with ten outputs.
        raise UsageError(f"bench measures ten-class models; {data.name} has {data.num_classes} classes.")
    record = run_bench(
        data,
        plan,
        device=device,
        data_dir=args.data_dir,
        threads=threads,
        on_progress=lambda message: print(f"bench: {message}", file=sys.stderr, flush=True),
    )
    print(format_table(record))
    if args.json:
        atomic_write_json(args.json, record)
    return 0
