"""How a training process takes part in training, written once on top of a few collectives.

A `Strategy` is a handful of primitives (where this process computes, how its model is
wrapped, and the collectives `all_reduce`, `all_gather` and `barrier`) and everything the
loop asks of it, written once on top of them: evaluation, the logged batch statistics, the
agreement on a stop, the RNG streams a checkpoint keeps and the replicas' weight digests.
As in Lightning Fabric's strategies, on one process (`SingleProcess`) every collective is the
identity; torchrun's group (`mnistlab.training.ddp.TorchrunDDP`, the only module that knows
torch.distributed) answers the same primitives with real collectives. The loop calls them and
never asks which it has.

The data-parallel rules, stated once: `batch_size` is the *global* batch, each process takes
a disjoint strided shard of it (BatchSampler) and DDP averages gradients, so every process
applies a single process's update with its learning rate, unscaled. Evaluation sums the
processes' confusion counts of disjoint shards: each sample counts once. Only the main process
(rank 0) reports and writes the run folder; checkpoints carry every process's RNG.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from mnistlab.data.batches import SEED_STRIDE, BatchSampler
from mnistlab.data.splits import Split
from mnistlab.errors import UsageError
from mnistlab.evaluation.metrics import Evaluation, confusion_counts, evaluation_from_confusion
from mnistlab.runs.writer import Writer, run_writer

LR_RULE = "none: batch_size is the global batch, gradients are averaged over ranks, lr is unchanged"

T = TypeVar("T")


class Strategy(ABC):
    """This process as rank `rank` of `world_size`: the primitives, and what follows from them."""

    rank: int
    world_size: int
    stop_poll_steps: int  # the processes agree on a stop every this many steps

    # The primitives: what a subclass answers.
    @abstractmethod
    def device(self, device: torch.device) -> torch.device:
        """The device this process computes on, given the one asked for."""

    @abstractmethod
    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training step calls (`model` itself, or a wrapper that syncs gradients)."""

    @abstractmethod
    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over processes of an equally shaped `tensor`, on `tensor`'s device."""

    @abstractmethod
    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every process's copy of an equally shaped `tensor`, in rank order, on `tensor`'s device."""

    @abstractmethod
    def barrier(self) -> None:
        """Wait until every process is here."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group (every process together)."""

    # Everything else, once.
    @property
    def is_main(self) -> bool:
        """Whether this is the process that reports and writes the run folder."""
        return self.rank == 0

    def sampler(self, n: int, batch_size: int, seed: int) -> BatchSampler:
        return BatchSampler(n, batch_size, seed, rank=self.rank, world_size=self.world_size)

    def seed(self, seed: int, augment_generator: torch.Generator | None) -> None:
        """Distinct dropout and augmentation streams per process of a group; a single process
        keeps those seeded with the model. Called after the model is built, so every process
        starts from the same weights."""
        if self.world_size == 1:
            return
        torch.manual_seed(seed + self.rank)
        if augment_generator is not None:
            augment_generator.manual_seed(seed + 1 + SEED_STRIDE * self.rank)

    def evaluate_split(self, model: nn.Module, split: Split) -> Evaluation:
        """Process r scores samples r, r+W, ...; the confusion counts are summed over processes."""
        counts = confusion_counts(model, split, shard=self.rank, shards=self.world_size)
        return evaluation_from_confusion(self.all_reduce(counts))

    def batch_stats(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Loss and accuracy of the whole global batch (every process's shard has the same size)."""
        stats = torch.stack([loss.detach().float(), (logits.argmax(1) == y).float().mean()]).cpu()
        stats = self.all_reduce(stats) / self.world_size
        return stats[0].item(), stats[1].item()

    def stop_requested(self, should_stop: Callable[[], bool] | None, step: int) -> bool:
        """Every process stops at the same step, whichever saw the signal (accelerate's
        set_trigger/check_trigger): the flags are summed every `stop_poll_steps` steps."""
        if should_stop is None or step % self.stop_poll_steps:
            return False
        return bool(self.all_reduce(torch.tensor([int(should_stop())])).item())

    def save_rng(self, augment_generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """The RNG streams a checkpoint keeps (torch, CUDA, augmentation) of every process (a
        collective): rank 0's under their own names (a single process's layout), rank r's as
        "<name>.rank<r>"."""
        state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()
        if augment_generator is not None:
            state["augment"] = augment_generator.get_state()
        out: dict[str, torch.Tensor] = {}
        for name in sorted(state):
            for rank, tensor in enumerate(self.all_gather(state[name])):
                out[name if rank == 0 else f"{name}.rank{rank}"] = tensor.cpu()
        return out

    def own_rng(self, saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This process's RNG states out of a checkpoint written by `save_rng`."""
        check_rng_count(saved, self.world_size)
        if self.rank == 0:
            return {k: v for k, v in saved.items() if ".rank" not in k}
        suffix = f".rank{self.rank}"
        return {k.removesuffix(suffix): v for k, v in saved.items() if k.endswith(suffix)}

    def restore_rng(self, saved: dict[str, torch.Tensor], augment_generator: torch.Generator | None) -> None:
        """Continue this process's RNG streams from a checkpoint written by `save_rng`."""
        state = self.own_rng(saved)
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
        if augment_generator is not None and "augment" in state:
            augment_generator.set_state(state["augment"])

    def replica_digests(self, model: nn.Module) -> list[str] | None:
        """Every process's `weights_digest`, in rank order (None alone: one copy, nothing to
        compare); raises if the processes' weights differ."""
        if self.world_size == 1:
            return None
        mine = torch.frombuffer(bytearray(bytes.fromhex(weights_digest(model))), dtype=torch.uint8)
        digests = [bytes(t.tolist()).hex() for t in self.all_gather(mine)]
        if len(set(digests)) != 1:
            raise RuntimeError(f"data-parallel ranks ended with different weights: {digests}")
        return digests

    def describe(self, batch_size: int) -> dict[str, object]:
        """The data-parallel facts a result states: processes, batches and the learning-rate rule."""
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


class SingleProcess(Strategy):
    """One process trains alone: every collective is the identity."""

    rank = 0
    world_size = 1
    stop_poll_steps = 1  # agreeing with oneself costs nothing: every step

    def device(self, device: torch.device) -> torch.device:
        return device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        return model

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        return [tensor]

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


SINGLE = SingleProcess()


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the state dict's bytes, tensors in name order: equal iff weights are bit-equal."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_rng_count(state: dict[str, torch.Tensor], world_size: int) -> None:
    """A checkpoint resumes only with the number of processes that wrote it: each process's
    dropout and augmentation streams continue exactly where they stopped."""
    saved = 1 + sum(1 for k in state if k.startswith("torch.rank"))
    if saved != world_size:
        how = f"torchrun --nproc_per_node {saved}" if saved > 1 else "a single process (no torchrun)"
        raise UsageError(
            f"This checkpoint was written by {saved} process(es) but is resumed by "
            f"{world_size}; resume it with {how}."
        )
