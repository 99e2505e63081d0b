"""`mnistlab calibrate RUN_DIR`: fit the run's temperature and abstention rule on its validation split.

Runs trained now get `calibration.json` when they finish; this adds it to a run trained before,
or refits it with another score or quantile. It reads the validation split only, except for a
run killed after its last checkpoint but before its test: that run it finishes first (test
evaluation, calibration.json and results.json, as its training would have).
"""

from __future__ import annotations

import argparse

from mnistlab.commands.common import (
    add_checkpoint_arg,
    add_json_arg,
    add_runtime_args,
    print_json,
)
from mnistlab.errors import UsageError
from mnistlab.reader.abstention import SCORES
from mnistlab.reader.calibration import DEFAULT_QUANTILE
from mnistlab.runtime import resolve_device, set_threads
from mnistlab.training.finish import calibrate_run


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate", help="fit a run's temperature and when it abstains (validation only)"
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--score",
        choices=SCORES,
        default=None,
        help="abstention score (default: the run's, msp unless its recipe names one)",
    )
    p.add_argument(
        "--quantile",
        type=float,
        default=DEFAULT_QUANTILE,
        metavar="Q",
        help=f"share of validation images to refuse, the least sure (default: {DEFAULT_QUANTILE})",
    )
    add_checkpoint_arg(p)
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the run's dataset (default: $MNISTLAB_DATA, the cache)",
    )
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.quantile < 0.5:
        raise UsageError(f"--quantile must be in [0, 0.5), got {args.quantile}.")
    device = resolve_device(args.device)
    set_threads(args.threads)
    done = calibrate_run(
        args.run_dir,
        args.data_dir,
        device,
        score=args.score,
        quantile=args.quantile,
        checkpoint=args.checkpoint,
    )
    record, path, finished = done.record, done.path, done.finished
    test = None if finished is None else finished.test_accuracy
    if args.json:
        print_json({"run_dir": args.run_dir, "file": str(path), "finished_test_accuracy": test, **record})
        return 0
    if test is not None:
        print(f"{args.run_dir}: finished: its last weights tested ({test:.2%}), results.json written.")
    before, after = record["validation"]["before"], record["validation"]["after"]
    rule = record["rule"]
    print(
        f"{args.run_dir}: temperature {record['temperature']:.3f} (validation NLL {before['nll']:.4f} -> "
        f"{after['nll']:.4f}, ECE {before['ece']:.2%} -> {after['ece']:.2%}); abstains when {rule['score']} < "
        f"{rule['threshold']:.4g} ({rule['quantile']:.2%} of validation). Written to {path}."
    )
    return 0
