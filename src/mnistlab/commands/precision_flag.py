"""The `--precision` flag shared by train, evaluate, reproduce and bench, and its one-line warning."""

from __future__ import annotations

import argparse
import sys

import torch

from mnistlab.config import PRECISIONS
from mnistlab.runtime import check_precision, emulation_warning


def add_precision_arg(parser: argparse.ArgumentParser, *, default: str | None, help_default: str) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default,
        help="arithmetic of matmuls and convolutions via autocast; weights stay fp32 (fp16: CUDA "
        f"only; bf16 is fast only with native bf16: AVX512-BF16/AMX CPUs, GPUs from Ampere on; "
        f"default: {help_default})",
    )


def check_and_warn(precision: str, device: torch.device | str) -> None:
    """Refuse a precision the device cannot run; say on stderr when bf16 will be emulated."""
    check_precision(precision, device)
    warning = emulation_warning(precision, device)
    if warning is not None:
        print(f"mnistlab: {warning}", file=sys.stderr)
