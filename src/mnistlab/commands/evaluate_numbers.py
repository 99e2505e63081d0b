"""`mnistlab evaluate RUN --numbers`: how well the run reads whole numbers written in a row.

The images are made from the split's digits with a fixed seed (`mnistlab.evaluation.numbers`),
so anyone gets the same ones; each is read as `mnistlab predict` reads a file. Use `--split
val` for choosing and the default `test` to report.
"""

from __future__ import annotations

import argparse

from mnistlab.commands.common import print_json
from mnistlab.data.splits import Dataset
from mnistlab.errors import UsageError
from mnistlab.evaluation import numbers
from mnistlab.inference import Reader

LABELS = {
    "numbers": "2-6 digits, gaps 3-20 px",
    "four_digit": "4 digits, gaps 3-20 px",
    "touching": "2 digits touching or overlapping 1-3 px",
    "detached": "1 digit with a detached stroke",
}


def run_numbers(args: argparse.Namespace, reader: Reader, data: Dataset) -> int:
    if reader.image_kind != "digits":
        raise UsageError(
            f"--numbers reads numbers written in digits, and {args.run_dir} was trained on {reader.title}; "
            "pass a run trained on digits."
        )
    report = numbers.evaluate_numbers(reader, data.split(args.split), numbers.SETS)
    if args.json:
        print_json({"run_dir": args.run_dir, "split": args.split, "seed": numbers.SEED, "sets": report})
        return 0
    if reader.note:
        print(reader.note)
    print(f"{args.run_dir} reading numbers made from {data.name} {args.split} digits (seed {numbers.SEED}):")
    print(f"{'images':<42}{'count':>6}{'exact':>8}{'split right':>13}{'digits right':>14}{'refused':>9}")
    for kind in report:
        row = report[kind]
        print(
            f"{LABELS[kind]:<42}{row['images']:>6}{row['exact']:8.1%}{row['segmented']:13.1%}"
            f"{row['digits_right']:14.1%}{row['refused']:9.1%}"
        )
    return 0
