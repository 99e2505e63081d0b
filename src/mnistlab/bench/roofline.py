"""How close to the machine's limit a model trains: measured matmul rate and counted FLOPs.

The ceiling is this machine's measured rate for one large square matmul (2048 x 2048, the
shape oneDNN runs best), in fp32 and in bf16, with the current torch thread count. A
model's training cost is counted, not derived by hand: `torch.utils.flop_counter.
FlopCounterMode` over the forward pass, the loss and the backward pass of one batch. It
counts the matmuls and convolutions (2 FLOPs per multiply-add) and nothing else: biases,
activations, pooling, batch-norm and the optimizer are free in this count, so the achieved
rate is a lower bound on the arithmetic the CPU really did.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mnistlab.bench.timing import Stats

MATMUL_SIZE = 2048
_MATMUL_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_flops(n: int) -> int:
    """FLOPs of an n x n by n x n matmul: n^2 outputs, each n multiply-adds of 2 FLOPs."""
    return 2 * n**3


def matmul_rate(precision: str, *, size: int = MATMUL_SIZE, repeats: int = 5, warmup: int = 1) -> Stats:
    """GFLOP/s of a `size` x `size` matmul in `precision` ("fp32" or "bf16"), over `repeats` timed runs."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.rand(size, size, generator=generator).to(_MATMUL_DTYPES[precision]) for _ in range(2))
    for _ in range(warmup):  # oneDNN picks and packs its kernel on first use
        torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        rates.append(matmul_flops(size) / (time.perf_counter() - t0) / 1e9)
    return Stats.of(rates)


def training_flops_per_image(
    model: nn.Module,
    *,
    batch_size: int = 64,
    image_shape: tuple[int, ...] = (1, 28, 28),
    num_classes: int = 10,
) -> float:
    """FLOPs of one training step per image: forward, cross-entropy and backward of one batch / batch size.

    The first layer computes no input gradient (the images need none), exactly as in training.
    Gradients are left on `model`; pass a throw-away copy.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, *image_shape, generator=generator)
    y = torch.randint(0, num_classes, (batch_size,), generator=generator)
    model.train()
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch_size


def achieved(flops_per_image: float, images_per_second: float, peak_gflops: float) -> dict[str, float]:
    """The arithmetic rate a training run sustained, and its share of the matmul rate (percent)."""
    gflops = flops_per_image * images_per_second / 1e9
    return {"gflops": gflops, "percent_of_matmul": 100 * gflops / peak_gflops}


def roofline_rows(
    flops: dict[str, float],
    images_per_second: dict[str, dict[str, float]],
    peaks: dict[str, float],
) -> list[dict[str, Any]]:
    """One row per (model, precision): images/s, GFLOP/s achieved and percent of that precision's matmul rate.

    `flops`: model -> training FLOPs per image; `images_per_second`: model -> precision ->
    median images/s; `peaks`: precision -> matmul GFLOP/s.
    """
    rows = []
    for model, by_precision in images_per_second.items():
        for precision, rate in by_precision.items():
            rows.append(
                {
                    "model": model,
                    "precision": precision,
                    "flops_per_image": flops[model],
                    "images_per_second": rate,
                    **achieved(flops[model], rate, peaks[precision]),
                }
            )
    return rows
