"""torchrun's data-parallel group: the collectives a `Strategy` builds on, and joining the group.

This is the only module that knows torch.distributed. `TorchrunDDP` answers the primitives of
`mnistlab.training.strategy.Strategy` with real collectives; everything else a training
process does with its group is written once there.

torchrun (`torchrun --nproc_per_node N -m mnistlab train ...`) sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous variables; `from_environment` joins the group (gloo on CPU,
nccl on CUDA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from mnistlab.training.strategy import SINGLE, Strategy

# The ranks agree on stopping every this many steps: each agreement is a collective, and
# polling every step cost 2-rank softmax a third of its speed on 2 cores.
STOP_POLL_STEPS = 10


@dataclass(frozen=True)
class TorchrunDDP(Strategy):
    """This process is rank `rank` of `world_size` started by torchrun, on its LOCAL_RANK device."""

    rank: int
    world_size: int
    local_rank: int = 0
    stop_poll_steps = STOP_POLL_STEPS

    def device(self, device: torch.device) -> torch.device:
        """Each rank of a multi-GPU node takes its own GPU (cuda:LOCAL_RANK)."""
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """DDP broadcasts rank 0's weights once here and averages gradients in backward()."""
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        moved = tensor.to(self._comm_device())
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.to(tensor.device)

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        moved = tensor.contiguous().to(self._comm_device())
        out = [torch.empty_like(moved) for _ in range(self.world_size)]
        dist.all_gather(out, moved)
        return [t.to(tensor.device) for t in out]

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        """Leave the group together: a rank that tore gloo down while another still finished its
        writes once aborted at exit ("terminate called without an active exception"). If a rank
        died instead, torchrun stops the others, so the barrier cannot wait forever."""
        if dist.is_initialized():
            self.barrier()
            dist.destroy_process_group()

    def _comm_device(self) -> torch.device:  # nccl moves only CUDA tensors, gloo CPU tensors
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def from_environment(device: torch.device) -> Strategy:
    """Join the torchrun process group (if any); returns this process's strategy."""
    if not launched_by_torchrun():
        return SINGLE
    env = os.environ
    strategy = TorchrunDDP(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return strategy
