"""What differs between one process and torchrun's many: the training loop's one seam.

`SingleProcess` and `TorchrunDDP` answer the same few questions (`Strategy`), the way
Lightning Fabric's single-device and DDP strategies mirror each other; the loop calls them
and never asks which one it has. This is the only module that knows torch.distributed.

torchrun (`torchrun --nproc_per_node N -m mnistlab train ...`) sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous variables; `from_environment` joins the group (gloo on CPU,
nccl on CUDA). The data-parallel rules, stated once: `batch_size` is the *global* batch,
each rank takes a disjoint strided shard of it (BatchSampler) and DDP averages gradients,
so every rank applies a single process's update with its learning rate, unscaled.
Evaluation sums the ranks' confusion counts of disjoint shards: each sample counts once.
Only rank 0 reports and writes the run folder; checkpoints carry every rank's RNG.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from mnistlab.data.batches import SEED_STRIDE, BatchSampler
from mnistlab.data.splits import Split
from mnistlab.errors import UsageError
from mnistlab.evaluation.metrics import Evaluation, confusion_counts, evaluation_from_confusion
from mnistlab.runs.writer import Writer, run_writer

LR_RULE = "none: batch_size is the global batch, gradients are averaged over ranks, lr is unchanged"
# The ranks agree on stopping every this many steps: each agreement is a collective, and
# polling every step cost 2-rank softmax a third of its speed on 2 cores.
STOP_POLL_STEPS = 10

T = TypeVar("T")


class Strategy(ABC):
    """How this process takes part in training: alone, or as one rank of a group.

    Each subclass answers the abstract methods for its case; what follows from those
    answers (the RNG streams a checkpoint keeps, who writes and reports) is stated here once.
    """

    world_size: int
    is_main: bool  # the process that reports and writes the run folder

    @abstractmethod
    def device(self, device: torch.device) -> torch.device: ...
    @abstractmethod
    def sampler(self, n: int, batch_size: int, seed: int) -> BatchSampler: ...
    @abstractmethod
    def seed(self, seed: int, augment_generator: torch.Generator | None) -> None: ...
    @abstractmethod
    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module: ...
    @abstractmethod
    def evaluate_split(self, model: nn.Module, split: Split) -> Evaluation: ...
    @abstractmethod
    def batch_stats(
        self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor
    ) -> tuple[float, float]: ...
    @abstractmethod
    def stop_requested(self, should_stop: Callable[[], bool] | None, step: int) -> bool: ...
    @abstractmethod
    def gather_rng(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...
    @abstractmethod
    def own_rng(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...
    @abstractmethod
    def replica_digests(self, model: nn.Module) -> list[str] | None: ...
    @abstractmethod
    def close(self) -> None: ...

    def save_rng(self, augment_generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """The RNG streams a checkpoint keeps (torch, CUDA, augmentation), of every process."""
        state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()
        if augment_generator is not None:
            state["augment"] = augment_generator.get_state()
        return self.gather_rng(state)

    def restore_rng(self, saved: dict[str, torch.Tensor], augment_generator: torch.Generator | None) -> None:
        """Continue this process's RNG streams from a checkpoint written by `save_rng`."""
        state = self.own_rng(saved)
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
        if augment_generator is not None and "augment" in state:
            augment_generator.set_state(state["augment"])

    def describe(self, batch_size: int) -> dict[str, object]:
        """The data-parallel facts a result states: ranks, batches and the learning-rate rule."""
        return {
            "world_size": self.world_size,
            "per_rank_batch": batch_size // self.world_size,
            "effective_batch": batch_size,
            "lr_rule": LR_RULE,
        }

    def writer(self, run_dir: Path | None) -> Writer:
        """What writes `run_dir`: only the main process writes the run folder."""
        return run_writer(run_dir if self.is_main else None)

    def main_only(self, callback: T | None) -> T | None:
        """`callback` on the main process, None elsewhere: one progress stream for the group."""
        return callback if self.is_main else None


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the state dict's bytes, tensors in name order: equal iff weights are bit-equal."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_rng_count(state: dict[str, torch.Tensor], world_size: int) -> None:
    """A checkpoint resumes only with the number of processes that wrote it: each rank's
    dropout and augmentation streams continue exactly where they stopped."""
    saved = 1 + sum(1 for k in state if k.startswith("torch.rank"))
    if saved != world_size:
        how = f"torchrun --nproc_per_node {saved}" if saved > 1 else "a single process (no torchrun)"
        raise UsageError(
            f"This checkpoint was written by {saved} process(es) but is resumed by "
            f"{world_size}; resume it with {how}."
        )


@dataclass(frozen=True)
class SingleProcess(Strategy):
    """One process trains alone: every collective is the identity."""

    world_size: int = 1
    is_main: bool = True

    def device(self, device: torch.device) -> torch.device:
        return device

    def sampler(self, n: int, batch_size: int, seed: int) -> BatchSampler:
        return BatchSampler(n, batch_size, seed)

    def seed(self, seed: int, augment_generator: torch.Generator | None) -> None:
        """A single run's dropout and augmentation streams are those seeded with the model."""

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        return model

    def evaluate_split(self, model: nn.Module, split: Split) -> Evaluation:
        return evaluation_from_confusion(confusion_counts(model, split))

    def batch_stats(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        stats = torch.stack([loss.detach().float(), (logits.argmax(1) == y).float().mean()]).cpu()
        return stats[0].item(), stats[1].item()

    def stop_requested(self, should_stop: Callable[[], bool] | None, step: int) -> bool:
        return should_stop is not None and should_stop()

    def gather_rng(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return state

    def own_rng(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        check_rng_count(state, 1)
        return state

    def replica_digests(self, model: nn.Module) -> list[str] | None:
        return None  # one copy of the weights: nothing to compare

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class TorchrunDDP(Strategy):
    """This process is rank `rank` of `world_size` started by torchrun, on its LOCAL_RANK device."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """Each rank of a multi-GPU node takes its own GPU (cuda:LOCAL_RANK)."""
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def sampler(self, n: int, batch_size: int, seed: int) -> BatchSampler:
        return BatchSampler(n, batch_size, seed, rank=self.rank, world_size=self.world_size)

    def seed(self, seed: int, augment_generator: torch.Generator | None) -> None:
        """Distinct dropout and augmentation streams per rank; rank 0 keeps a single run's.

        Called after the model is built, so every rank starts from the same weights.
        """
        torch.manual_seed(seed + self.rank)
        if augment_generator is not None:
            augment_generator.manual_seed(seed + 1 + SEED_STRIDE * self.rank)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """DDP broadcasts rank 0's weights once here and averages gradients in backward()."""
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def evaluate_split(self, model: nn.Module, split: Split) -> Evaluation:
        """Rank r scores samples r, r+W, ...; the confusion counts are summed over ranks."""
        counts = confusion_counts(model, split, shard=self.rank, shards=self.world_size)
        return evaluation_from_confusion(self._all_reduce_sum(counts))

    def batch_stats(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Loss and accuracy of the whole global batch (every rank's shard has the same size)."""
        stats = torch.stack([loss.detach().float(), (logits.argmax(1) == y).float().mean()]).cpu()
        stats = self._all_reduce_sum(stats) / self.world_size
        return stats[0].item(), stats[1].item()

    def stop_requested(self, should_stop: Callable[[], bool] | None, step: int) -> bool:
        """Every rank stops at the same step, whichever saw the signal (accelerate's
        set_trigger/check_trigger): the flags are summed every STOP_POLL_STEPS steps."""
        if should_stop is None or step % STOP_POLL_STEPS:
            return False
        return bool(self._all_reduce_sum(torch.tensor([int(should_stop())])).item())

    def gather_rng(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every rank's RNG states for a checkpoint (a collective): rank 0's under their own
        names (the single-process layout), rank r's as "<name>.rank<r>"."""
        out: dict[str, torch.Tensor] = {}
        for name in sorted(state):
            for rank, tensor in enumerate(self._all_gather(state[name])):
                out[name if rank == 0 else f"{name}.rank{rank}"] = tensor.cpu()
        return out

    def own_rng(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This rank's RNG states out of a checkpoint written by `gather_rng`."""
        check_rng_count(state, self.world_size)
        if self.rank == 0:
            return {k: v for k, v in state.items() if ".rank" not in k}
        suffix = f".rank{self.rank}"
        return {k.removesuffix(suffix): v for k, v in state.items() if k.endswith(suffix)}

    def replica_digests(self, model: nn.Module) -> list[str] | None:
        """Every rank's `weights_digest`, in rank order; raises if the ranks' weights differ."""
        mine = torch.frombuffer(bytearray(bytes.fromhex(weights_digest(model))), dtype=torch.uint8)
        digests = [bytes(t.tolist()).hex() for t in self._all_gather(mine)]
        if len(set(digests)) != 1:
            raise RuntimeError(f"data-parallel ranks ended with different weights: {digests}")
        return digests

    def close(self) -> None:
        """Leave the group together: a rank that tore gloo down while another still finished its
        writes once aborted at exit ("terminate called without an active exception"). If a rank
        died instead, torchrun stops the others, so the barrier cannot wait forever."""
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def _comm_device(self) -> torch.device:  # nccl moves only CUDA tensors, gloo CPU tensors
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")

    def _all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        moved = tensor.to(self._comm_device())
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.to(tensor.device)

    def _all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of an equally shaped `tensor`, in rank order, on `tensor`'s device."""
        moved = tensor.contiguous().to(self._comm_device())
        out = [torch.empty_like(moved) for _ in range(self.world_size)]
        dist.all_gather(out, moved)
        return [t.to(tensor.device) for t in out]


SINGLE = SingleProcess()


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
