"""The execution environment, resolved once at the edge: device, threads, and a record of both.

Results and benchmarks store `describe_runtime()` so every number says where it was made.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from mnistlab.errors import UsageError
from mnistlab.precision import cpu_flags

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" picks CUDA, then MPS, then CPU; an explicit device must be present."""
    if name not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}.")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise UsageError(f"--device {name} was asked for but is not available here; use --device cpu.")
    return torch.device(name)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None keeps torch's default); returns the count in force."""
    if threads is not None:
        if threads <= 0:
            raise UsageError(f"--threads must be a positive integer, got {threads}.")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The CPU features that decide how fast the arithmetic is: AVX2 vs AVX-512 fp32, native bf16.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: other processes competing for the cores."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe_runtime(device: torch.device | str = "cpu") -> dict[str, Any]:
    device = torch.device(device)
    flags = cpu_flags()
    info: dict[str, Any] = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_flags": [f for f in SPEED_FLAGS if f in flags],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_start": load_average(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
