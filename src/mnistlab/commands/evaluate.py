"""`mnistlab evaluate RUN_DIR [--report A,B]`: the reports asked for, one after another.

`accuracy` (the default): accuracy, per-class accuracy and the confusion matrix;
`robustness`: the accuracy under each corruption of `mnistlab.evaluation.corruptions`;
`calibration`, `ood`, `handwriting`: how far its answers can be trusted (`evaluate_reader`);
`numbers`: whole numbers read exactly (`mnistlab.evaluation.numbers`).
Each report is a --json object and a text; with several, the text has a heading per report
and --json one object with a key per report.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
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
from mnistlab.config import TrainConfig
from mnistlab.data import SPLITS
from mnistlab.errors import UsageError
from mnistlab.evaluation.corruptions import CORRUPTIONS, DEFAULT_SEVERITY, SEVERITIES
from mnistlab.evaluation.metrics import Evaluation, evaluate
from mnistlab.evaluation.robustness import RobustnessResult, evaluate_robustness, write_robustness
from mnistlab.runs.checkpoint import load_model
from mnistlab.runs.dataset import RunData, load_run_data
from mnistlab.runtime import autocast, resolve_device, set_threads

REPORTS = ("accuracy", "robustness", "calibration", "ood", "handwriting", "numbers")
# The flags each report had before --report, still accepted (hidden from --help).
ALIASES = ("robustness", "calibration", "ood", "handwriting", "numbers")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy, robustness and trust reports of a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", choices=SPLITS, default="test", help="which split (default: test)")
    p.add_argument(
        "--report",
        metavar="A,B",
        help="comma-separated reports, each run in turn (default: accuracy): accuracy (confusion "
        "matrix), robustness (accuracy under each corruption; writes RUN_DIR/robustness.json), "
        "calibration (ECE, NLL, Brier before and after the run's temperature, clean and corrupted), "
        "ood (the abstention rule on the split and on non-digits: AUROC, FPR at 95%% TPR, share "
        "refused), handwriting (real handwriting from outside MNIST, UCI digits; needs scikit-learn), "
        "numbers (whole numbers of 2-6 of the split's digits, touching pairs, detached strokes)",
    )
    for name in ALIASES:
        p.add_argument(f"--{name}", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--corruptions",
        metavar="A,B",
        help=f"with robustness: a comma-separated subset of {', '.join(CORRUPTIONS)} (default: all)",
    )
    p.add_argument(
        "--severity",
        type=int,
        default=DEFAULT_SEVERITY,
        metavar="N",
        help=f"with robustness: corruption severity 1-5 (default: {DEFAULT_SEVERITY})",
    )
    p.add_argument(
        "--figure", metavar="FILE", help="with calibration: write the reliability diagram (.png/.svg/.pdf)"
    )
    add_checkpoint_arg(p)
    add_precision_arg(p, default=None, help_default="the precision the run trained in")
    add_data_args(p)
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def comma_list(value: str, flag: str, example: str) -> list[str]:
    """The names of a comma-separated flag value, in order, each once."""
    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if not names:
        raise UsageError(f"{flag} needs at least one name, e.g. {flag} {example}.")
    return names


def chosen_reports(args: argparse.Namespace) -> list[str]:
    """The reports --report and the older flags ask for, in order; their flags checked up front."""
    from mnistlab.evaluation.corruptions import check_corruptions, check_severity

    names = comma_list(args.report, "--report", "calibration,ood") if args.report is not None else []
    for name in names:
        if name not in REPORTS:
            raise UsageError(f"Unknown report {name!r}; choose from {', '.join(REPORTS)}.")
    names += [name for name in ALIASES if getattr(args, name) and name not in names]
    names = names or ["accuracy"]
    if args.figure is not None and "calibration" not in names:
        raise UsageError("--figure only applies with --report calibration; add it.")
    if "robustness" not in names:
        if args.corruptions is not None or args.severity != DEFAULT_SEVERITY:
            raise UsageError("--corruptions and --severity only apply with --report robustness; add it.")
        return names
    check_severity(args.severity)
    if args.corruptions is not None:
        check_corruptions(comma_list(args.corruptions, "--corruptions", "rotate,thin"))
    return names


@dataclass(frozen=True)
class Subject:
    """What the reports read: the run's weights and the data, loaded once for all of them."""

    model: nn.Module
    config: TrainConfig
    run_data: RunData
    precision: str
    device: torch.device


Output = tuple[dict[str, Any], str]  # a report's --json object and its text


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


def accuracy_report(args: argparse.Namespace, s: Subject) -> Output:
    data, trained_on = s.run_data.dataset, s.run_data.trained_on
    with autocast(s.precision, s.device):
        evaluation = evaluate(s.model, data.split(args.split))
    printed = {
        "run_dir": args.run_dir,
        "split": args.split,
        "checkpoint": args.checkpoint,
        "dataset": data.name,
        "trained_on": trained_on["name"],
        "domain_shift": s.run_data.domain_shift,
        "precision": s.precision,
        **evaluation.to_dict(),
    }
    title = data.source.spec.display_name if data.source else data.name
    lines = []
    if s.run_data.domain_shift:
        lines.append(
            f"Domain shift: {args.run_dir} was trained on {trained_on['title']} and is evaluated on "
            f"{title} (same classes, other images)."
        )
    lines.append(
        f"{args.run_dir} ({s.config.model}, {args.checkpoint} weights, {s.precision}) on {title} {args.split}:"
    )
    lines.append(format_evaluation(evaluation, data.classes))
    return printed, "\n".join(lines)


def robustness_report(args: argparse.Namespace, s: Subject) -> Output:
    names = comma_list(args.corruptions, "--corruptions", "rotate,thin") if args.corruptions else None
    split = s.run_data.dataset.split(args.split)
    with autocast(s.precision, s.device):
        result = evaluate_robustness(
            s.model, split, split_name=args.split, corruptions=names, severity=args.severity
        )
    path = write_robustness(args.run_dir, result)
    heading = (
        f"{args.run_dir} ({args.checkpoint} weights) on {result.count:,} corrupted {args.split} "
        f"images, severity {result.severity} (written to {path}):"
    )
    printed = {"run_dir": args.run_dir, "checkpoint": args.checkpoint, **result.to_dict()}
    return printed, f"{heading}\n{format_robustness(result)}"


def numbers_report(args: argparse.Namespace, s: Subject) -> Output:
    from mnistlab.evaluation import numbers
    from mnistlab.reader import Reader

    reader = Reader.with_model(s.model, args.run_dir)  # the weights the other reports read
    data = s.run_data.dataset
    report = numbers.numbers_report(reader, data.split(args.split), args.run_dir, args.split)
    lines = [reader.note] if reader.note else []
    lines.append(
        f"{args.run_dir} reading numbers made from {data.name} {args.split} digits (seed {report['seed']}):"
    )
    lines.append(
        f"{'images':<42}{'count':>6}{'exact':>8}{'split right':>13}{'digits right':>14}{'refused':>9}"
    )
    for kind, row in report["sets"].items():
        lines.append(
            f"{numbers.SET_LABELS[kind]:<42}{row['images']:>6}{row['exact']:8.1%}{row['segmented']:13.1%}"
            f"{row['digits_right']:14.1%}{row['refused']:9.1%}"
        )
    lines.append(
        "the line reader that ships with mnistlab (read whole, no cuts), on the same images and more:"
    )
    labels = {**numbers.SET_LABELS, **numbers.LINE_SET_LABELS}
    for kind, row in report["line_reader"].items():
        lines.append(
            f"{labels[kind]:<42}{row['images']:>6}{row['exact']:8.1%}{'':>13}{'':>14}{row['refused']:9.1%}"
        )
    return {"run_dir": args.run_dir, "split": args.split, **report}, "\n".join(lines)


def reader_report(name: str) -> Callable[[argparse.Namespace, Subject], Output]:
    """calibration, ood or handwriting: `evaluate_reader`'s report, under the run's precision."""

    def report(args: argparse.Namespace, s: Subject) -> Output:
        from mnistlab.commands import evaluate_reader

        with autocast(s.precision, s.device):
            return getattr(evaluate_reader, name)(args, s.model, s.run_data.dataset)

    return report


RUNNERS: dict[str, Callable[[argparse.Namespace, Subject], Output]] = {
    "accuracy": accuracy_report,
    "robustness": robustness_report,
    "numbers": numbers_report,
    **{name: reader_report(name) for name in ("calibration", "ood", "handwriting")},
}


def run(args: argparse.Namespace) -> int:
    reports = chosen_reports(args)  # before the run is opened: a misused flag reads nothing
    device = resolve_device(args.device)
    set_threads(args.threads)
    model, config = load_model(args.run_dir, args.checkpoint, device)
    precision = args.precision or config.precision
    check_and_warn(precision, device)
    run_data = load_run_data([args.run_dir], args.dataset, args.data_dir, progress=download_bar("download"))
    subject = Subject(model, config, run_data, precision, device)
    outputs = {}
    for i, name in enumerate(reports):
        outputs[name] = RUNNERS[name](args, subject)
        if not args.json:  # each report's text as soon as it is done
            if len(reports) > 1:
                print(f"\n== {name} ==" if i else f"== {name} ==")
            print(outputs[name][1])
    if args.json:
        print_json(outputs[reports[0]][0] if len(reports) == 1 else {n: outputs[n][0] for n in reports})
    return 0
