"""Arithmetic precision: fp32, or bf16/fp16 autocast with fp32 weights and optimizer state.

`torch.autocast` runs matmuls and convolutions in the low precision and keeps reductions,
losses and the weights in fp32, so only the arithmetic changes, never what is stored. bf16
is fast only where the silicon has it (AVX512-BF16 or AMX on x86 CPUs, compute capability
8.0+ on NVIDIA GPUs); elsewhere oneDNN emulates it, slower than fp32, and `describe` says so.
fp16 needs loss scaling (its range is small) and is offered on CUDA only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from mnistlab.errors import UsageError

PRECISIONS = ("fp32", "bf16", "fp16")
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


def describe(precision: str, device: torch.device | str) -> dict[str, object]:
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
