"""`mnistlab show`: Figure 1 (a grid of random digits) or Figure 2 (one digit as a matrix)."""

from __future__ import annotations

import argparse

import torch

from mnistlab.commands.common import add_data_args, load_data
from mnistlab.data import SPLITS
from mnistlab.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "show", help="draw random digits (Figure 1) or one digit as its matrix of intensities (Figure 2)"
    )
    p.add_argument("--n", type=int, default=16, help="how many random digits (default: 16)")
    p.add_argument("--split", choices=SPLITS, default="train", help="which split (default: train)")
    p.add_argument("--seed", type=int, default=0, help="picks the random digits (default: 0)")
    p.add_argument("--index", type=int, metavar="I", help="draw only digit I of the split")
    p.add_argument("--matrix", action="store_true", help="draw the digit as its 28x28 matrix (Figure 2)")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="image file; .png, .svg or .pdf (default: digits.png, or digit-<I>.png with --matrix)",
    )
    add_data_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mnistlab import visualize  # matplotlib loads only for the commands that draw

    if args.n <= 0:
        raise UsageError(f"--n must be a positive number of digits, got {args.n}.")
    data = load_data(args)
    split = data.split(args.split)
    title = data.source.spec.display_name if data.source else data.name
    digits = data.source is None or data.source.spec.image_kind == "digits"
    if args.index is not None and not 0 <= args.index < len(split):
        raise UsageError(f"--index must be between 0 and {len(split) - 1} for the {args.split} split.")
    generator = torch.Generator().manual_seed(args.seed)
    if args.matrix:
        index = (
            args.index
            if args.index is not None
            else int(torch.randint(len(split), (1,), generator=generator))
        )
        label = int(split.labels[index])
        name = data.classes[label]
        fig = visualize.digit_matrix(
            split.images[index],
            label,
            title=None
            if name == str(label)
            else f"{name} (label {label}): the {title} image as a 28x28 matrix of intensities",
        )
        out = args.out or f"digit-{index}.png"
    else:
        if args.index is not None:
            chosen = torch.tensor([args.index])
        else:
            chosen = torch.randperm(len(split), generator=generator)[: args.n]
        fig = visualize.digit_grid(
            split.images[chosen],
            split.labels[chosen],
            title=f"{title} {'digits' if digits else 'images'} ({args.split} split)",
            classes=data.classes,
        )
        out = args.out or "digits.png"
    print(f"Saved {visualize.save_figure(fig, out)}")
    return 0
