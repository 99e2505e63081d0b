"""fp32 against bf16 on one device, side by side in one process: how much of the chip each model uses.

* the matmul rate of the chip in both precisions, and in fp16 too on CUDA (`roofline.matmul_rate`);
* each model's training FLOPs per image (`roofline.training_flops_per_image`);
* training images/s of each model in both precisions, alternating within every round so a
  change in machine load hits both alike, the bf16/fp32 ratio of each round, and the
  GFLOP/s achieved as a percent of that precision's matmul rate;
* accuracy parity: the fast recipe over seeds, fp32 and bf16 alternating, each a fresh
  child process timed from its start (time to >= 99.27 % and its import/data/train/rest
  breakdown).
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

import torch

from mnistlab.bench.accuracy import TimedRun, timed_train
from mnistlab.bench.roofline import (
    default_matmul_size,
    matmul_precisions,
    matmul_rate,
    roofline_rows,
    training_flops_per_image,
)
from mnistlab.bench.throughput import engine_intervals
from mnistlab.bench.timing import Stats
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data.splits import Dataset
from mnistlab.models import create_model

PRECISIONS = ("fp32", "bf16")
# Benchmark name -> (task, recipe): the paper's two models and the fast recipe's CNN.
MODELS = {"softmax": ("softmax", "softmax"), "cnn": ("cnn", "cnn"), "cnn_fast": ("cnn", "fast")}
PARITY_TARGET = 0.9927  # the paper CNN's accuracy, which the fast recipe's full schedule aims at


def model_flops(config: TrainConfig, batch_size: int = 16) -> float:
    """Training FLOPs per image of `config`'s model (a fresh copy; nothing trained)."""
    return training_flops_per_image(create_model(config.model, **config.model_options), batch_size=batch_size)


def precision_throughput(
    config: TrainConfig,
    data: Dataset,
    *,
    interval: int,
    rounds: int,
    warmup: int = 1,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Training images/s of `config` on `device` in fp32 and bf16, alternating; bf16/fp32 of each round."""
    images = interval * config.batch_size
    rates: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    ratios = []
    for _ in range(rounds):
        mean: dict[str, float] = {}
        for precision in PRECISIONS:
            run = dataclasses.replace(config, precision=precision)
            seconds = engine_intervals(run, data, interval=interval, intervals=warmup + 3, device=device)
            seconds = seconds[warmup:]
            rates[precision] += [images / s for s in seconds]
            mean[precision] = statistics.fmean(images / s for s in seconds)
        ratios.append(mean["bf16"] / mean["fp32"])
    return {
        "batch_size": config.batch_size,
        "steps_per_repeat": interval,
        "images_per_second": {p: Stats.of(r).to_dict() for p, r in rates.items()},
        "bf16_over_fp32": Stats.of(ratios).to_dict(),
    }


def compare_precisions(
    data: Dataset,
    *,
    intervals: dict[str, int],
    rounds: int,
    matmul_repeats: int = 5,
    matmul_size: int | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Matmul rates, FLOPs per image, fp32/bf16 training rates and the roofline rows, for MODELS, on `device`.

    `matmul_size` None: the device's own (`roofline.default_matmul_size`).
    """
    device = torch.device(device)
    size = default_matmul_size(device) if matmul_size is None else matmul_size
    peaks = {
        p: matmul_rate(p, device=device, size=size, repeats=matmul_repeats).to_dict()
        for p in matmul_precisions(device)
    }
    configs = {name: resolve_config(task, recipe) for name, (task, recipe) in MODELS.items()}
    flops = {name: model_flops(config) for name, config in configs.items()}
    training = {
        name: precision_throughput(config, data, interval=intervals[name], rounds=rounds, device=device)
        for name, config in configs.items()
    }
    medians = {
        name: {p: r["images_per_second"][p]["median"] for p in PRECISIONS} for name, r in training.items()
    }
    return {
        "device": str(device),
        "matmul_size": size,
        "matmul_gflops": peaks,
        "flops_per_image": flops,
        "training": training,
        "roofline": roofline_rows(flops, medians, {p: peaks[p]["median"] for p in PRECISIONS}),
    }


def _summary(runs: list[TimedRun], target: float) -> dict[str, Any]:
    breakdowns = [b for b in (r.breakdown() for r in runs) if b is not None]
    return {
        "wall_seconds": Stats.of([r.wall_seconds for r in runs]).to_dict(),
        "train_seconds": Stats.of([r.train_seconds for r in runs]).to_dict(),
        "test_accuracy": Stats.of([r.test_accuracy for r in runs]).to_dict(),
        "mean_test_accuracy": statistics.fmean(r.test_accuracy for r in runs),
        "reached": sum(r.test_accuracy >= target for r in runs),
        # The median of each phase over seeds; the phases then need not sum to the median wall.
        "breakdown": {k: statistics.median(b[k] for b in breakdowns) for k in breakdowns[0]}
        if breakdowns
        else None,
        "runs": [r.to_dict() for r in runs],
    }


def parity(
    seeds: list[int],
    *,
    threads: int | None = None,
    data_dir: str | Path | None = None,
    target: float = PARITY_TARGET,
    device: str = "cpu",
) -> dict[str, Any]:
    """The fast recipe per seed in fp32 then bf16 (fresh processes): accuracy, time to `target`, speed-up.

    `device` is the children's `--device` value (cpu, cuda, mps).
    """
    runs: dict[str, list[TimedRun]] = {p: [] for p in PRECISIONS}
    for seed in seeds:
        for precision in PRECISIONS:
            run = timed_train(
                "cnn", "fast", seed, threads=threads, data_dir=data_dir, precision=precision, device=device
            )
            runs[precision].append(run)
    by = {p: _summary(r, target) for p, r in runs.items()}
    return {
        "target": target,
        "seeds": seeds,
        "by_precision": by,
        "wall_speedup": by["fp32"]["wall_seconds"]["median"] / by["bf16"]["wall_seconds"]["median"],
        "train_speedup": by["fp32"]["train_seconds"]["median"] / by["bf16"]["train_seconds"]["median"],
        # bf16 minus fp32, in percentage points of mean test accuracy over the seeds.
        "accuracy_difference_points": 100
        * (by["bf16"]["mean_test_accuracy"] - by["fp32"]["mean_test_accuracy"]),
    }
