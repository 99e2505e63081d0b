"""`mnistlab evaluate RUN_DIR`: accuracy, per-class accuracy and the confusion matrix;
with `--robustness`, the accuracy under each corruption of `mnistlab.evaluation.corruptions`;
with `--calibration`, `--ood` or `--handwriting`, how far its answers can be trusted (`evaluate_reader`)."""

from __future__ import annotations

import argparse

from torch import nn

from mnistlab.commands.common import (
    add_checkpoint_arg,
    add_data_args,
    add_json_arg,
    add_runtime_args,
    download_bar,
    print_json,
)
from mnistlab.commands.precision_flag import add_precision_arg, check_and_warn
from mnistlab.data import SPLITS, Dataset
from mnistlab.errors import UsageError
from mnistlab.evaluation.corruptions import CORRUPTIONS, DEFAULT_SEVERITY, SEVERITIES
from mnistlab.evaluation.metrics import Evaluation, evaluate
from mnistlab.evaluation.robustness import RobustnessResult, evaluate_robustness, write_robustness
from mnistlab.runs.checkpoint import load_model
from mnistlab.runs.dataset import load_run_data
from mnistlab.runtime import autocast, resolve_device, set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy and confusion matrix of a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", choices=SPLITS, default="test", help="which split (default: test)")
    p.add_argument(
        "--robustness",
        action="store_true",
        help="accuracy under each corruption (translate, rotate, ..., low_contrast) instead of the "
        "confusion matrix; also writes RUN_DIR/robustness.json",
    )
    p.add_argument(
        "--corruptions",
        metavar="A,B",
        help=f"with --robustness: a comma-separated subset of {', '.join(CORRUPTIONS)} (default: all)",
    )
    p.add_argument(
        "--severity",
        type=int,
        default=DEFAULT_SEVERITY,
        metavar="N",
        help=f"with --robustness: corruption severity 1-5 (default: {DEFAULT_SEVERITY})",
    )
    trust = p.add_mutually_exclusive_group()
    trust.add_argument(
        "--calibration",
        action="store_true",
        help="ECE, NLL and Brier score before and after the run's temperature, clean and corrupted",
    )
    trust.add_argument(
        "--ood",
        action="store_true",
        help="the abstention rule on the split and on non-digits: AUROC, FPR at 95%% TPR, share refused",
    )
    trust.add_argument(
        "--handwriting",
        action="store_true",
        help="read right on real handwriting from outside MNIST (UCI digits; needs scikit-learn)",
    )
    trust.add_argument(
        "--numbers",
        action="store_true",
        help="whole numbers read exactly: seeded rows of 2-6 of the split's digits, touching pairs, "
        "digits with a detached stroke",
    )
    p.add_argument(
        "--figure", metavar="FILE", help="with --calibration: write the reliability diagram (.png/.svg/.pdf)"
    )
    add_checkpoint_arg(p)
    add_precision_arg(p, default=None, help_default="the precision the run trained in")
    add_data_args(p)
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def format_evaluation(evaluation: Evaluation, classes: tuple[str, ...]) -> str:
    """A readable report: overall accuracy, then the confusion matrix with per-class accuracy.

    Rows are named by class; columns too when the names fit, else by label with the rows
    saying "label name".
    """
    width = max(5, *(len(str(n)) for row in evaluation.confusion for n in row)) + 1
    short = all(len(c) < width for c in classes)
    columns = classes if short else tuple(str(c) for c in range(len(classes)))
    rows = classes if short else tuple(f"{c} {name}" for c, name in enumerate(classes))
    first = max(9, *(len(r) for r in rows))
    header = "true\\pred".rjust(first) + "".join(f"{c:>{width}}" for c in columns) + "  accuracy"
    lines = [
        f"accuracy {evaluation.accuracy:.2%} ({evaluation.count - evaluation.errors}/{evaluation.count}, "
        f"{evaluation.errors} errors)",
        "",
        header,
    ]
    for c, row in enumerate(evaluation.confusion):
        cells = "".join(f"{n:>{width}}" for n in row)
        lines.append(f"{rows[c]:>{first}}{cells}  {evaluation.per_class_accuracy[c]:8.2%}")
    return "\n".join(lines)


def format_robustness(result: RobustnessResult) -> str:
    """One row per corruption with its parameter at the severity, then the mean and clean rows."""
    width = max(len(name) for name in (*result.corruptions, "mean (corrupted)"))
    lines = [f"{'corruption':<{width}}  accuracy  at severity {result.severity}"]
    for name, acc in result.corruptions.items():
        lines.append(f"{name:<{width}}  {acc:8.2%}  {SEVERITIES[name].describe(result.severity)}")
    lines.append(f"{'mean (corrupted)':<{width}}  {result.mean:8.2%}")
    lines.append(f"{'clean':<{width}}  {result.clean:8.2%}")
    return "\n".join(lines)


def run_robustness(args: argparse.Namespace, model: nn.Module, data: Dataset) -> int:
    names = [n.strip() for n in args.corruptions.split(",") if n.strip()] if args.corruptions else None
    result = evaluate_robustness(
        model, data.split(args.split), split_name=args.split, corruptions=names, severity=args.severity
    )
    path = write_robustness(args.run_dir, result)
    if args.json:
        print_json({"run_dir": args.run_dir, "checkpoint": args.checkpoint, **result.to_dict()})
    else:
        print(
            f"{args.run_dir} ({args.checkpoint} weights) on {result.count:,} corrupted {args.split} "
            f"images, severity {result.severity} (written to {path}):"
        )
        print(format_robustness(result))
    return 0


def check_robustness_flags(args: argparse.Namespace) -> None:
    """Reject robustness flags without --robustness, and bad names or severities up front."""
    from mnistlab.evaluation.corruptions import check_corruptions, check_severity

    if args.figure is not None and not args.calibration:
        raise UsageError("--figure only applies with --calibration; add it.")
    if args.robustness and (args.calibration or args.ood or args.handwriting):
        raise UsageError(
            "--robustness, --calibration, --ood and --handwriting are separate reports; ask for one at a time."
        )
    if not args.robustness:
        if args.corruptions is not None or args.severity != DEFAULT_SEVERITY:
            raise UsageError("--corruptions and --severity only apply with --robustness; add it.")
        return
    check_severity(args.severity)
    if args.corruptions is not None:
        names = [n.strip() for n in args.corruptions.split(",") if n.strip()]
        if not names:
            raise UsageError("--corruptions needs at least one name, e.g. --corruptions rotate,thin.")
        check_corruptions(names)


def run(args: argparse.Namespace) -> int:
    check_robustness_flags(args)
    device = resolve_device(args.device)
    set_threads(args.threads)
    model, config = load_model(args.run_dir, args.checkpoint, device)
    precision = args.precision or config.precision
    check_and_warn(precision, device)
    run_data = load_run_data([args.run_dir], args.dataset, args.data_dir, progress=download_bar("download"))
    data, trained_on = run_data.dataset, run_data.trained_on
    if args.robustness:
        with autocast(precision, device):
            return run_robustness(args, model, data)
    if args.numbers:
        from mnistlab.commands.evaluate_numbers import run_numbers
        from mnistlab.inference import Reader

        return run_numbers(args, Reader.from_run(args.run_dir, args.checkpoint, device), data)
    if args.calibration or args.ood or args.handwriting:
        from mnistlab.commands import evaluate_reader as reader

        report = (
            reader.run_calibration
            if args.calibration
            else reader.run_ood
            if args.ood
            else reader.run_handwriting
        )
        with autocast(precision, device):
            return report(args, model, data)
    with autocast(precision, device):
        evaluation = evaluate(model, data.split(args.split))
    if args.json:
        print_json(
            {
                "run_dir": args.run_dir,
                "split": args.split,
                "checkpoint": args.checkpoint,
                "dataset": data.name,
                "trained_on": trained_on["name"],
                "domain_shift": run_data.domain_shift,
                "precision": precision,
                **evaluation.to_dict(),
            }
        )
    else:
        title = data.source.spec.display_name if data.source else data.name
        if run_data.domain_shift:
            print(
                f"Domain shift: {args.run_dir} was trained on {trained_on['title']} and is evaluated on "
                f"{title} (same classes, other images)."
            )
        print(
            f"{args.run_dir} ({config.model}, {args.checkpoint} weights, {precision}) on {title} {args.split}:"
        )
        print(format_evaluation(evaluation, data.classes))
    return 0
