"""`mnistlab bench`: speed measured side by side with the usual PyTorch way, on this machine."""

from mnistlab.bench.reference import MnistSamples, reference_loader, reference_loss, train_reference
from mnistlab.bench.suite import TARGETS, BenchPlan, run_bench
from mnistlab.bench.throughput import compare_training, engine_intervals, inference
from mnistlab.bench.timing import Stats, percentile, seconds_since_process_start

__all__ = [
    "TARGETS",
    "BenchPlan",
    "MnistSamples",
    "Stats",
    "compare_training",
    "engine_intervals",
    "inference",
    "percentile",
    "reference_loader",
    "reference_loss",
    "run_bench",
    "seconds_since_process_start",
    "train_reference",
]
