"""`run_bench`: every measurement of `mnistlab bench` in one process, on one device, one JSON.

What is measured (medians with min-max over repeats, warm-up excluded):

* training images/s of the paper CNN and the softmax, mnistlab's engine vs. the usual
  DataLoader pipeline, alternating round by round, and their ratio;
* inference images/s at batch 1,000 and single-image latency p50/p99;
* wall seconds from process start to a tested model at >= 99.0 % and >= 99.27 % test
  accuracy (3 seeds), each in a fresh child process: the fast recipe and the sprint recipes
  side by side (`records.TARGETS`), seed by seed;
* training FLOPs to accuracy (`bench.records`): each target's counted FLOPs per training
  image x the images its schedule sees, its validation and test-time FLOPs, and how many
  seeds reached the target;
* peak resident memory of each;
* fp32 against bf16 (`bench.hardware`): the matmul rate of the chip, each model's training
  FLOPs per image and the share of the matmul rate it achieves, and accuracy parity of the
  fast recipe over seeds with its import/data/train/rest breakdown from process start.

`BenchPlan.sections` names the parts to run (`BenchPlan.records_only()`: the two accuracy
rows alone, a few minutes); `BenchPlan.precision` sets the precision of the first three; the
fp32/bf16 section always measures both. Everything runs on the device given to `run_bench` (the child processes get
it as `--device`), and the record names it, with the GPU's name on CUDA.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnistlab.bench.accuracy import time_to_accuracy
from mnistlab.bench.hardware import compare_precisions, parity
from mnistlab.bench.records import TARGETS, Target, attach_reached, flops_to_accuracy
from mnistlab.bench.throughput import compare_training, inference
from mnistlab.config import resolve_config
from mnistlab.data.splits import Dataset, Split
from mnistlab.models import create_model
from mnistlab.runtime import describe_precision, describe_runtime, load_average

# The bench's parts, in the order they run and print.
SECTIONS = ("throughput", "inference", "records", "hardware", "parity")


@dataclass(frozen=True)
class BenchPlan:
    """How much to measure. `quick()`: one round, no time to accuracy, one parity seed (about a minute)."""

    rounds: int = 5  # alternating engine/reference runs per model
    cnn_interval: int = 20  # paper-CNN steps per timed repeat (1,000 images at batch 50)
    softmax_interval: int = 200
    inference_images: int = 10_000
    inference_repeats: int = 3
    latency_samples: int = 300
    accuracy_seeds: tuple[int, ...] = (0, 1, 2)  # empty: skip time-to-accuracy
    precision: str = "fp32"  # of the throughput, inference and time-to-accuracy sections
    precision_rounds: int = 3  # alternating fp32/bf16 rounds per model
    fast_interval: int = 10  # fast-CNN steps per timed repeat (2,560 images at batch 256)
    matmul_repeats: int = 5
    matmul_size: int | None = None  # the fp32/bf16 ceiling, an n x n matmul; None: the device's
    parity_seeds: tuple[int, ...] = (0, 1, 2)  # fast recipe, fp32 and bf16; empty: skip
    # Time to accuracy and training FLOPs to accuracy: the fast recipe and the sprint recipes.
    targets: tuple[Target, ...] = TARGETS
    sections: tuple[str, ...] = SECTIONS  # "records": time and training FLOPs to accuracy

    @classmethod
    def records_only(cls) -> BenchPlan:
        """Time to accuracy and FLOPs to accuracy, old and new recipes side by side, nothing else."""
        return cls(sections=("records",))

    @classmethod
    def quick(cls) -> BenchPlan:
        return cls(
            rounds=1,
            cnn_interval=4,
            softmax_interval=40,
            inference_images=2000,
            inference_repeats=2,
            latency_samples=50,
            accuracy_seeds=(),
            precision_rounds=1,
            fast_interval=4,
            matmul_repeats=3,
            parity_seeds=(0,),
        )


def run_bench(
    data: Dataset,
    plan: BenchPlan,
    *,
    device: torch.device | str = "cpu",
    data_dir: str | Path | None = None,
    threads: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure everything in `plan` on `device` and return one JSON-ready record."""
    say = on_progress or (lambda _message: None)
    device = torch.device(device)
    child_device = device.type  # the children's --device takes a name: a CUDA index is not passed on
    data = data.to(device)  # once: every engine run below takes it where it is
    record: dict[str, Any] = {
        "runtime": describe_runtime(device),
        "load_average_before": load_average(),
        "plan": dataclasses.asdict(plan),
        "precision": describe_precision(plan.precision, device),
        "training": {},
        "inference": {},
    }
    intervals = {"softmax": plan.softmax_interval, "cnn": plan.cnn_interval}
    for task in ("softmax", "cnn") if "throughput" in plan.sections else ():
        say(f"training throughput: {task} (paper recipe) vs. DataLoader reference")
        config = dataclasses.replace(resolve_config(task), precision=plan.precision)
        record["training"][task] = compare_training(
            config, data, interval=intervals[task], rounds=plan.rounds, device=device
        )

    test = Split(data.test.images[: plan.inference_images], data.test.labels[: plan.inference_images])
    for name in ("softmax", "cnn", "cnn_fast") if "inference" in plan.sections else ():
        say(f"inference: {name}")
        torch.manual_seed(0)
        config = resolve_config("cnn", "fast") if name == "cnn_fast" else None
        options = dict(config.model_options) if config else {}
        model = create_model(name, **options)
        record["inference"][name] = inference(
            model,
            test,
            repeats=plan.inference_repeats,
            latency_samples=plan.latency_samples,
            precision=plan.precision,
            device=device,
        )

    record["time_to_accuracy"] = []
    if "records" in plan.sections:
        if plan.accuracy_seeds:
            names = ", ".join(dict.fromkeys(t.recipe for t in plan.targets))
            say(f"time to accuracy: {names}, seeds {list(plan.accuracy_seeds)}, one process per run")
            record["time_to_accuracy"] = time_to_accuracy(
                plan.targets,
                list(plan.accuracy_seeds),
                threads=threads,
                data_dir=data_dir,
                precision=plan.precision,
                device=child_device,
            )
        flops = flops_to_accuracy(plan.targets, val_images=len(data.val), test_images=len(data.test))
        record["flops_to_accuracy"] = attach_reached(flops, record["time_to_accuracy"])
    if "hardware" in plan.sections:
        _hardware(record, data, plan, device, say)
    record["parity"] = None
    if plan.parity_seeds and "parity" in plan.sections:
        say(f"fp32 vs bf16 parity: fast recipe, seeds {list(plan.parity_seeds)}, one process per run")
        record["parity"] = parity(
            list(plan.parity_seeds), threads=threads, data_dir=data_dir, device=child_device
        )
    record["load_average_after"] = load_average()
    return record


def _hardware(
    record: dict[str, Any], data: Dataset, plan: BenchPlan, device: torch.device, say: Callable[[str], None]
) -> None:
    say("fp32 vs bf16: matmul rate, FLOPs per image, training images/s (alternating)")
    record["hardware"] = compare_precisions(
        data,
        intervals={
            "softmax": plan.softmax_interval,
            "cnn": plan.cnn_interval,
            "cnn_fast": plan.fast_interval,
        },
        rounds=plan.precision_rounds,
        matmul_repeats=plan.matmul_repeats,
        matmul_size=plan.matmul_size,
        device=device,
    )
    record["hardware"]["bf16"] = describe_precision("bf16", device)
