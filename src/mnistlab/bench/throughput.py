"""Training and inference throughput: mnistlab's engine side by side with the usual DataLoader way.

mnistlab's number comes from `mnistlab.training.loop.train` itself, the code every `mnistlab
train` runs: its progress reports every `interval` steps time the steps between them. The
reference is `bench.reference.train_reference`. Rounds alternate the two pipelines, so a
change in machine load hits both alike, and each round yields one ratio. Both run on the
device given; the engine takes the dataset where it is (the suite moves it there once), the
reference's DataLoader collates batches in host memory and moves each one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from mnistlab.bench.reference import train_reference
from mnistlab.bench.timing import Stats, peak_rss_mib, percentile, reset_peak_rss, synchronize
from mnistlab.config import TrainConfig
from mnistlab.data.splits import Dataset, Split, normalize
from mnistlab.runtime import autocast, prepare_model
from mnistlab.training.loop import train
from mnistlab.training.result import StepReport

# Validation and test passes are not part of a training-throughput measurement; the
# engine still runs them at its last step, so they get a token 100 images.
_TOKEN_SPLIT = 100


@dataclass(frozen=True)
class Throughput:
    """Images per second over timed intervals, after `warmup` intervals were dropped."""

    images_per_second: Stats
    peak_rss_mib: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"images_per_second": self.images_per_second.to_dict(), "peak_rss_mib": self.peak_rss_mib}


def _rates(seconds: list[float], images: int) -> list[float]:
    return [images / s for s in seconds]


def engine_intervals(
    config: TrainConfig,
    data: Dataset,
    *,
    interval: int,
    intervals: int,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Wall seconds of each block of `interval` training steps of mnistlab's engine on `device`.

    No explicit synchronisation is needed on a GPU: each progress report waits for the
    device (it copies the loss to the host) right after reading its clock, so a block's
    seconds trade the tail of its own work for the tail of the block before, which in
    blocks of equal work is the same.
    """
    config = dataclasses.replace(
        config, steps=interval * intervals, log_every=interval, eval_every=interval * intervals
    )
    token = Split(data.val.images[:_TOKEN_SPLIT], data.val.labels[:_TOKEN_SPLIT])
    small = dataclasses.replace(data, val=token, test=token)
    elapsed: list[float] = []

    def on_report(report: StepReport) -> None:
        if not report.evaluated:
            elapsed.append(report.elapsed)

    # The last interval ends in a validation pass, so it is not timed.
    train(config, small, device=device, on_report=on_report)
    return [b - a for a, b in zip([0.0, *elapsed[:-1]], elapsed, strict=True)]


def compare_training(
    config: TrainConfig,
    data: Dataset,
    *,
    interval: int,
    rounds: int,
    warmup: int = 1,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """`rounds` alternating runs of both pipelines on `device`, each `warmup` + 1 timed intervals long."""
    images = interval * config.batch_size
    ours: list[float] = []
    theirs: list[float] = []
    ratios: list[float] = []
    rss: dict[str, float | None] = {"mnistlab": None, "reference": None}
    for _ in range(rounds):
        reset_peak_rss()
        # warmup + 2 intervals: the last one includes the final validation, so it is dropped.
        seconds = engine_intervals(config, data, interval=interval, intervals=warmup + 2, device=device)
        mine = _rates(seconds[warmup:], images)
        rss["mnistlab"] = _max(rss["mnistlab"], peak_rss_mib())
        reset_peak_rss()
        seconds = train_reference(config, data.train, interval=interval, intervals=warmup + 1, device=device)
        ref = _rates(seconds[warmup:], images)
        rss["reference"] = _max(rss["reference"], peak_rss_mib())
        ours += mine
        theirs += ref
        ratios.append(sum(mine) / len(mine) / (sum(ref) / len(ref)))
    return {
        "batch_size": config.batch_size,
        "steps_per_repeat": interval,
        "mnistlab": Throughput(Stats.of(ours), rss["mnistlab"]).to_dict(),
        "reference": Throughput(Stats.of(theirs), rss["reference"]).to_dict(),
        "ratio": Stats.of(ratios).to_dict(),
    }


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


@torch.inference_mode()
def inference(
    model: torch.nn.Module,
    split: Split,
    *,
    batch_size: int = 1000,
    repeats: int = 3,
    latency_samples: int = 200,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Throughput at `batch_size` over `split` and single-image latency p50/p99 (milliseconds) on `device`.

    The images are moved to `device` before any clock starts: a latency here is the model's
    forward pass, not a host-to-device copy.
    """
    device = torch.device(device)
    with autocast(precision, device):
        model = prepare_model(model.to(device)).eval()
        return _inference(model, split.to(device), batch_size, repeats, latency_samples, device)


def _inference(
    model: torch.nn.Module,
    split: Split,
    batch_size: int,
    repeats: int,
    latency_samples: int,
    device: torch.device,
) -> dict[str, Any]:
    batches = [normalize(split.images[i : i + batch_size]) for i in range(0, len(split), batch_size)]
    model(batches[0])  # warm-up: oneDNN and cuDNN pick and cache their kernels on first use
    synchronize(device)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for x in batches:
            model(x)
        synchronize(device)
        rates.append(len(split) / (time.perf_counter() - t0))
    singles = [normalize(split.images[i : i + 1]) for i in range(latency_samples)]
    for x in singles[:10]:
        model(x)
    synchronize(device)
    latencies = []
    for x in singles:
        t0 = time.perf_counter()
        model(x)
        synchronize(device)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {
        "batch_size": batch_size,
        "images_per_second": Stats.of(rates).to_dict(),
        "latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
    }
