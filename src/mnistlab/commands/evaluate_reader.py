"""`mnistlab evaluate RUN --report calibration,ood,handwriting`: how far to trust the reader's answers.

Each report is its --json object and its text, computed by the library (`mnistlab.evaluation.trust`,
`mnistlab.evaluation.handwriting`) and printed by `commands.evaluate`.
`calibration`: ECE (15 bins), NLL and Brier score with the raw softmax and with the run's
temperature, on the clean split and on it corrupted (each image under one of the corruptions
at severity 3, in turn), and a reliability diagram (`--figure`).
`ood`: the abstention rule on the split (share refused, accuracy on the rest, the
risk-coverage curve) and, per outlier set, AUROC, FPR at 95 % TPR and the share refused; on
the test split it is also kept as RUN_DIR/ood.json, which an export's model card includes.
`handwriting`: the reader on real handwriting from outside MNIST (UCI optical digits, a
validation set: `mnistlab.evaluation.handwriting`), an abstention counting as not read.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from torch import nn

from mnistlab.data.splits import Dataset
from mnistlab.evaluation.handwriting import reader_handwriting
from mnistlab.evaluation.trust import keep_ood, reader_calibration, reader_ood
from mnistlab.reader.reader import Reader


def calibration(args: argparse.Namespace, model: nn.Module, data: Dataset) -> tuple[dict[str, Any], str]:
    """The calibration report: its --json object and its text."""
    reader = Reader.with_model(model, args.run_dir)
    report = reader_calibration(reader, data.split(args.split))
    if args.figure:
        from mnistlab.visualize import reliability_diagram, save_figure

        save_figure(reliability_diagram(report), args.figure)
    lines = [reader.note] if reader.note else []
    lines.append(f"{args.run_dir} on {data.name} {args.split}, temperature {report['temperature']:.3f}:")
    lines.append(f"{'images':<22}{'ECE':>9}{'NLL':>9}{'Brier':>9}")
    for name in ("clean", "corrupted"):
        for when in ("before", "after"):
            m = report[name][when]
            label = f"{name} ({'T = 1' if when == 'before' else 'calibrated'})"
            lines.append(f"{label:<22}{m['ece']:9.2%}{m['nll']:9.4f}{m['brier']:9.4f}")
    if args.figure:
        lines.append(f"reliability diagram: {args.figure}")
    printed = {"run_dir": args.run_dir, "split": args.split, "calibrated": reader.note is None, **report}
    return printed, "\n".join(lines)


def ood(args: argparse.Namespace, model: nn.Module, data: Dataset) -> tuple[dict[str, Any], str]:
    """The outlier report: its --json object and its text; on the test split also RUN_DIR/ood.json."""
    reader = Reader.with_model(model, args.run_dir)
    report = reader_ood(reader, data, args.split, args.data_dir)
    saved = None
    if args.split == "test":
        saved, why_not = keep_ood(args.run_dir, report)
        if why_not:
            print(f"mnistlab: note: {why_not}", file=sys.stderr)
    rule = reader.rule
    lines = [reader.note] if reader.note else []
    inside = report["inside"]
    lines.append(
        f"{args.run_dir} on {data.name} {args.split}: abstains on {inside['abstained']:.2%}, right on "
        f"{inside['selective_accuracy']:.2%} of the rest ({inside['accuracy']:.2%} answering all); "
        f"rule {rule.score} >= {rule.threshold:.4g} at T = {rule.temperature:.3f}"
    )
    lines.append(f"{'outliers':<16}{'images':>8}{'AUROC':>9}{'FPR@95':>9}{'abstained':>11}")
    for row in report["outliers"]:
        lines.append(
            f"{row['outliers']:<16}{row['images']:>8,}{row['auroc']:9.4f}{row['fpr_at_95_tpr']:9.2%}"
            f"{row['abstained']:11.2%}"
        )
    if saved is not None:
        lines.append(f"Saved to {saved} (an export's model card includes it).")
    return {"run_dir": args.run_dir, "calibrated": reader.note is None, **report}, "\n".join(lines)


def handwriting(args: argparse.Namespace, model: nn.Module, data: Dataset) -> tuple[dict[str, Any], str]:
    """The handwriting report (UCI digits): its --json object and its text."""
    reader = Reader.with_model(model, args.run_dir)
    report = reader_handwriting(reader)
    lines = [reader.note] if reader.note else []
    lines.append(
        f"{args.run_dir} on {report['images']:,} real handwritten digits ({report['source']}): read right "
        f"{report['read']:.2%} (abstained on {report['abstained']:.2%}; {report['accuracy']:.2%} right "
        "answering all)"
    )
    return {"run_dir": args.run_dir, "calibrated": reader.note is None, **report}, "\n".join(lines)
