"""Data-parallel training under torchrun: process group set-up and exact cross-rank sums.

torchrun (`torchrun --nproc_per_node N -m mnistlab train ...`) sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous variables; `from_environment` joins the group with gloo on
CPU and nccl on CUDA. Outside torchrun everything here is a no-op for a single process.

The rules the engine follows, stated once:
- `batch_size` is the *global* batch; each rank takes a disjoint strided shard of every
  global batch (BatchSampler), so the effective batch and the learning rate are exactly
  those of a single process and no learning-rate scaling rule is needed.
- DistributedDataParallel averages gradients, so every rank applies the same update.
- Evaluation shards the split by rank and sums confusion counts with all_reduce: every
  sample is counted once, none twice.
- Only rank 0 logs, writes metrics and checkpoints; checkpoints carry every rank's RNG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def from_environment(device: torch.device) -> DistContext:
    """Join the torchrun process group (if any); returns this process's place in it."""
    if not launched_by_torchrun():
        return SINGLE
    context = DistContext(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return context


def device_for(device: torch.device, context: DistContext) -> torch.device:
    """Each rank of a multi-GPU node takes its own GPU (cuda:LOCAL_RANK)."""
    if device.type == "cuda" and context.enabled:
        torch.cuda.set_device(context.local_rank)
        return torch.device("cuda", context.local_rank)
    return device


def all_reduce_sum(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Sum `tensor` over ranks (in place, returned); the identity for one process."""
    if context.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather(tensor: torch.Tensor, context: DistContext) -> list[torch.Tensor]:
    """Every rank's copy of an equally shaped `tensor`, in rank order."""
    if not context.enabled:
        return [tensor]
    out = [torch.empty_like(tensor) for _ in range(context.world_size)]
    dist.all_gather(out, tensor.contiguous())
    return out


def any_rank(flag: bool, context: DistContext) -> bool:
    """True on every rank when `flag` is true on any (e.g. a stop signal one process saw)."""
    if not context.enabled:
        return flag
    device = torch.device("cuda", context.local_rank) if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def shutdown(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
