"""`mnistlab evaluate RUN_DIR`: accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

import argparse

from mnistlab.checkpoint import load_model
from mnistlab.commands.common import (
    add_checkpoint_arg,
    add_data_args,
    add_json_arg,
    add_runtime_args,
    load_data,
    print_json,
)
from mnistlab.commands.precision_flag import add_precision_arg, check_and_warn
from mnistlab.data import SPLITS
from mnistlab.evaluation import Evaluation, evaluate
from mnistlab.precision import autocast
from mnistlab.runtime import resolve_device, set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy and confusion matrix of a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", choices=SPLITS, default="test", help="which split (default: test)")
    add_checkpoint_arg(p)
    add_precision_arg(p, default=None, help_default="the precision the run trained in")
    add_data_args(p)
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def format_evaluation(evaluation: Evaluation, classes: tuple[str, ...]) -> str:
    """A readable report: overall accuracy, then the confusion matrix with per-class accuracy."""
    width = max(5, *(len(str(n)) for row in evaluation.confusion for n in row)) + 1
    header = "true\\pred" + "".join(f"{c:>{width}}" for c in classes) + "  accuracy"
    lines = [
        f"accuracy {evaluation.accuracy:.2%} ({evaluation.count - evaluation.errors}/{evaluation.count}, "
        f"{evaluation.errors} errors)",
        "",
        header,
    ]
    for c, row in enumerate(evaluation.confusion):
        cells = "".join(f"{n:>{width}}" for n in row)
        lines.append(f"{classes[c]:>9}{cells}  {evaluation.per_class_accuracy[c]:8.2%}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    set_threads(args.threads)
    model, config = load_model(args.run_dir, args.checkpoint, device)
    precision = args.precision or config.precision
    check_and_warn(precision, device)
    if args.dataset == "mnist":
        args.dataset = config.dataset  # the run knows what it was trained on
    data = load_data(args)
    with autocast(precision, device):
        evaluation = evaluate(model, data.split(args.split))
    if args.json:
        print_json(
            {
                "run_dir": args.run_dir,
                "split": args.split,
                "checkpoint": args.checkpoint,
                "precision": precision,
                **evaluation.to_dict(),
            }
        )
    else:
        print(f"{args.run_dir} ({config.model}, {args.checkpoint} weights, {precision}) on {args.split}:")
        print(format_evaluation(evaluation, data.classes))
    return 0
