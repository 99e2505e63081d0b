"""`mnistlab bench`: speed measured side by side with the usual PyTorch way, on this machine.

The names below load on first use: `mnistlab train` imports `bench.timing` for its clock,
and should not pay for the benchmark's other modules (FlopCounterMode, the DataLoader).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "MnistSamples": "reference",
    "reference_loader": "reference",
    "reference_loss": "reference",
    "train_reference": "reference",
    "TARGETS": "suite",
    "BenchPlan": "suite",
    "run_bench": "suite",
    "compare_training": "throughput",
    "engine_intervals": "throughput",
    "inference": "throughput",
    "Stats": "timing",
    "percentile": "timing",
    "seconds_since_process_start": "timing",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mnistlab.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mnistlab.bench.{_HOMES[name]}"), name)
