"""What several subcommands share: common flags, progress bars, JSON output, signals."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from mnistlab.data import Dataset, load_dataset


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the dataset's IDX files (plain or .gz, directly or in a <dataset>/ "
        "subfolder); default: $MNISTLAB_DATA, then the user cache, then a download",
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help="dataset name, built in (mnist, fashion-mnist) or added with `mnistlab data add` "
        "(default: mnist; for a command reading a run: the run's own)",
    )


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda|mps (default: auto)")
    parser.add_argument("--threads", type=int, metavar="N", help="torch intra-op threads (default: torch's)")


def add_checkpoint_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        choices=("final", "best", "last"),
        default="final",
        help="which weights: final (those the run's own test used, the default), best (by "
        "validation) or last",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def print_json(obj: Any) -> None:
    """`obj` as JSON on stdout. JSON has no NaN or infinity: a number that is not finite (the
    selective accuracy when nothing was answered, the threshold -inf of a rule that never
    abstains) is printed as null, and dumps refuses any left over."""
    sys.stdout.write(json.dumps(finite_or_null(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def finite_or_null(obj: Any) -> Any:
    """`obj` with every float that is not finite replaced by None, in dicts, lists and tuples."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def download_bar(desc: str) -> Callable[[int, int | None], None]:
    """A tqdm byte counter fed by the data layer's (done, total) callback."""
    bar: dict[str, tqdm] = {}

    def update(done: int, total: int | None) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr, leave=False)
        bar["bar"].n = done
        bar["bar"].refresh()
        if total is not None and done >= total:
            bar["bar"].close()

    return update


def load_data(args: argparse.Namespace, default: str = "mnist") -> Dataset:
    """The dataset named by --dataset (else `default`), from --data-dir or its usual places."""
    return load_dataset(args.dataset or default, args.data_dir, progress=download_bar("download"))


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], int | None]]:
    """Turn the first SIGINT/SIGTERM into a polled flag; yields a function giving the signal."""
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if received:  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
