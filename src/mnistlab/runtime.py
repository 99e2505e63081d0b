"""The execution environment, resolved once at the edge: device, threads, precision, and a record of them.

Results and benchmarks store `describe_runtime()` so every number says where it was made.

Precision: fp32, or bf16/fp16 autocast with fp32 weights and optimizer state.
`torch.autocast` runs matmuls and convolutions in the low precision and keeps reductions,
losses and the weights in fp32, so only the arithmetic changes, never what is stored. bf16
is fast only where the silicon has it (AVX512-BF16 or AMX on x86 CPUs, compute capability
8.0+ on NVIDIA GPUs); elsewhere oneDNN emulates it, slower than fp32, and `describe_precision`
says so. fp16 needs loss scaling (its range is small) and is offered on CUDA only.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from mnistlab.config import PRECISIONS
from mnistlab.errors import UsageError

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


def prepare_model(model: nn.Module) -> nn.Module:
    """Channels-last weights for convolutional models: oneDNN's fast layout on CPU.

    It gave the paper CNN ~1.25x and the fast CNN ~1.3-1.7x more training images per
    second on a 2-core AMD EPYC; models without 4-D weights are left untouched.
    """
    if any(p.dim() == 4 for p in model.parameters()):
        model = model.to(memory_format=torch.channels_last)
    return model


# -- precision -------------------------------------------------------------------------------

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# /proc/cpuinfo flags that mean native bf16 arithmetic on x86.
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check_precision(precision: str, device: torch.device | str) -> None:
    """Raise a one-sentence UsageError for a precision this device cannot run."""
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "fp16" and torch.device(device).type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA device (it needs loss scaling); use bf16 on a CPU.")


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` does bf16 arithmetic in hardware (not emulated)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in _BF16_CPU_FLAGS)
    return False


def describe_precision(precision: str, device: torch.device | str) -> dict[str, object]:
    """What results.json records: the precision and whether the hardware runs it natively."""
    native = True if precision == "fp32" else precision == "fp16" or native_bf16(device)
    return {"precision": precision, "native": native}


def emulation_warning(precision: str, device: torch.device | str) -> str | None:
    """One line for the CLI to print when bf16 will be emulated (and slower than fp32)."""
    if precision == "bf16" and not native_bf16(device):
        return (
            f"bf16 is emulated on this {torch.device(device).type} (no native bf16 instructions), "
            "so it will run slower than fp32."
        )
    return None


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """Run the enclosed forward pass in `precision` (fp32: no change)."""
    if precision == "fp32":
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=_DTYPES[precision]):
        yield
