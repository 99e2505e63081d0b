"""Timing and memory primitives of the benchmark: summaries of repeats, peak RSS, process age.

Every number `mnistlab bench` prints is a median over repeats with its min and max, so a
reader sees the noise; warm-up iterations are never part of a repeat. On a GPU a clock is
read only after `synchronize`, since kernels run asynchronously to the Python that queues them.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Stats:
    """Median, min and max of repeated measurements (in the unit of the values)."""

    median: float
    min: float
    max: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("Stats.of needs at least one value")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "count": self.count}


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile needs at least one value")
    position = (len(ordered) - 1) * q / 100
    lo = int(position)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS counter (Linux: "5" into clear_refs); False if unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float | None:
    """This process's peak resident memory since start or the last `reset_peak_rss`, in MiB."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib / 1024


def seconds_since_process_start() -> float | None:
    """Wall seconds since the kernel started this process (Linux), so imports count too."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    # Field 22 of /proc/<pid>/stat (index 19 after the name) is the start time in clock ticks.
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return uptime - started


def synchronize(device: torch.device) -> None:
    """Wait until `device` has finished the work queued on it (CUDA and MPS; a CPU never lags).

    Without it a clock read after a CUDA call times how fast Python queued the kernels.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class Timer:
    """A wall-clock stopwatch: `with Timer() as t: ...; t.seconds`."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
