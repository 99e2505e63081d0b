"""`mnistlab weights RUN_DIR`: Figure 3 (softmax weights per class) or a CNN's first-layer filters."""

from __future__ import annotations

import argparse

from mnistlab.commands.common import add_checkpoint_arg
from mnistlab.runs.checkpoint import load_model, read_dataset_record


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "weights", help="draw a run's weights: softmax maps per class (Figure 3) or CNN filters"
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `mnistlab train`")
    add_checkpoint_arg(p)
    p.add_argument(
        "--out", metavar="FILE", default="weights.png", help=".png, .svg or .pdf (default: weights.png)"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mnistlab import visualize  # matplotlib loads only for the commands that draw

    model, _ = load_model(args.run_dir, args.checkpoint)
    classes = read_dataset_record(args.run_dir)["classes"]
    print(f"Saved {visualize.save_figure(visualize.weights_figure(model, classes), args.out)}")
    return 0
