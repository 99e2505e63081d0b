"""How close to the machine's limit a model trains: measured matmul rate and counted FLOPs.

The ceiling is the device's measured rate for one large square matmul, in fp32 and in bf16
(and fp16 on CUDA): 2048 x 2048 on a CPU, the shape oneDNN runs best, with the current
torch thread count; 8192 x 8192 on a CUDA GPU, which a 2048 matmul leaves partly idle. A
model's training cost is counted, not derived by hand: `torch.utils.flop_counter.
FlopCounterMode` over the forward pass, the loss and the backward pass of one batch. It
counts the matmuls and convolutions (2 FLOPs per multiply-add) and nothing else: biases,
activations, pooling, batch-norm and the optimizer are free in this count, so the achieved
rate is a lower bound on the arithmetic the device really did. On CUDA, torch's defaults run
fp32 convolutions in TF32 but fp32 matmuls in full fp32, so a convolutional model's share of
the fp32 matmul rate can pass 100 %.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mnistlab.bench.timing import Stats, synchronize

MATMUL_SIZE = 2048
MATMUL_SIZES = {"cuda": 8192}  # device type -> side of the ceiling's matmul, where not MATMUL_SIZE
_MATMUL_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# A timed repeat shorter than this is dropped and the next runs more matmuls: a GPU finishes
# one in microseconds, the order of its launch and synchronisation cost. A CPU's 2048 x 2048
# matmul takes longer, so there every repeat is one matmul.
_MIN_REPEAT_SECONDS = 0.02


def matmul_flops(n: int) -> int:
    """FLOPs of an n x n by n x n matmul: n^2 outputs, each n multiply-adds of 2 FLOPs."""
    return 2 * n**3


def default_matmul_size(device: torch.device) -> int:
    return MATMUL_SIZES.get(device.type, MATMUL_SIZE)


def matmul_precisions(device: torch.device) -> tuple[str, ...]:
    """fp32 and bf16 everywhere; fp16 too on CUDA, the one device mnistlab trains in fp16."""
    return ("fp32", "bf16", "fp16") if device.type == "cuda" else ("fp32", "bf16")


def matmul_rate(
    precision: str,
    *,
    device: torch.device | str = "cpu",
    size: int = MATMUL_SIZE,
    repeats: int = 5,
    warmup: int = 1,
) -> Stats:
    """GFLOP/s of a `size` x `size` matmul in `precision` (fp32, bf16, fp16) on `device`, `repeats` times."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    a, b = (
        torch.rand(size, size, generator=generator).to(device, _MATMUL_DTYPES[precision]) for _ in range(2)
    )
    for _ in range(warmup):  # oneDNN and cuBLAS pick (and oneDNN packs) their kernel on first use
        torch.mm(a, b)
    synchronize(device)
    rates: list[float] = []
    calls = 1
    while len(rates) < repeats:
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        synchronize(device)
        seconds = time.perf_counter() - t0
        if seconds < _MIN_REPEAT_SECONDS:
            calls = math.ceil(calls * 1.5 * _MIN_REPEAT_SECONDS / max(seconds, 1e-9))
            continue
        rates.append(calls * matmul_flops(size) / seconds / 1e9)
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
    Gradients are left on `model`; pass a throw-away copy. The count is the same on every
    device, so it is made on the CPU.
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
