"""`mnistlab ensemble RUN_DIR... [--json]`: average several runs' calibrated probabilities and evaluate."""

from __future__ import annotations

import argparse

from mnistlab.commands.common import (
    add_checkpoint_arg,
    add_data_args,
    add_json_arg,
    add_runtime_args,
    download_bar,
    print_json,
)
from mnistlab.errors import UsageError
from mnistlab.evaluation.ensemble import evaluate_ensemble
from mnistlab.runs.dataset import load_run_data
from mnistlab.runtime import resolve_device, set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ensemble",
        help="evaluate the averaged calibrated probabilities of several runs",
        description="Average each run's calibrated probabilities, softmax(logits / T) with the "
        "temperature of its calibration.json (T = 1 for a run trained before calibration), and "
        "evaluate the mean.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories made by `mnistlab train`")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="default: test")
    p.add_argument(
        "--select",
        action="store_true",
        help="choose the members on the validation split (greedy, by the committee's NLL), then "
        "evaluate only those on --split",
    )
    p.add_argument(
        "--tta",
        action="store_true",
        help="test-time translation: each member averages the image and its copies moved one "
        "pixel up, down, left and right (5x the inference)",
    )
    add_checkpoint_arg(p)
    add_data_args(p)
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    set_threads(args.threads)
    run_data = load_run_data(args.run_dirs, args.dataset, args.data_dir, progress=download_bar("download"))
    data = run_data.dataset
    if args.select and args.split == "val":
        raise UsageError(
            "--select chooses the members on the validation split; evaluate them on --split test."
        )
    choose_on = data.split("val") if args.select else None
    result = evaluate_ensemble(
        args.run_dirs,
        data.split(args.split),
        which=args.checkpoint,
        device=device,
        choose_on=choose_on,
        tta=args.tta,
    )
    if args.json:
        print_json(
            {
                "split": args.split,
                "checkpoint": args.checkpoint,
                "dataset": data.name,
                "trained_on": run_data.trained_on["name"],
                "domain_shift": run_data.domain_shift,
                "tta": args.tta,
                **result.to_dict(),
            }
        )
        return 0
    if run_data.domain_shift:
        print(f"Domain shift: runs trained on {run_data.trained_on['title']}, evaluated on {data.name}.")
    if result.candidates:
        print(f"chosen on the validation split from {len(result.candidates)} runs (validation accuracy):")
        chosen = {run for run, _ in result.members}
        for run_dir, accuracy in result.candidates:
            print(f"  {accuracy:.2%}  {run_dir}{'  chosen' if run_dir in chosen else ''}")
        print(f"{args.split} accuracy of the chosen members:")
    for (run_dir, accuracy), t, calibrated in zip(
        result.members, result.temperatures, result.calibrated, strict=True
    ):
        how = f"temperature {t:.3g}" if calibrated else "not calibrated, temperature 1"
        print(f"  {accuracy:.2%}  {run_dir}  ({how})")
    uncalibrated = result.calibrated.count(False)
    averaged = (
        "calibrated probabilities" if not uncalibrated else f"probabilities ({uncalibrated} not calibrated)"
    )
    print(
        f"ensemble of {len(result.members)} runs, mean of their {averaged}"
        f"{' over 5 shifts of each image' if args.tta else ''}: {args.split} accuracy "
        f"{result.accuracy:.2%} ({result.evaluation.errors} errors in {result.evaluation.count:,})"
    )
    agree = result.agreement
    print(
        f"members disagree on {agree.disagree:,} of {agree.count:,} images "
        f"({agree.disagree / max(agree.count, 1):.2%}); the ensemble is right on {agree.committee_right_there:,} of them"
    )
    return 0
