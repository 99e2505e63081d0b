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

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.errors import UsageError
from mnistlab.evaluation.metrics import EVAL_BATCH_SIZE, Evaluation, confusion_matrix, predict_logits

LR_RULE = "none: batch_size is the global batch, gradients are averaged over ranks, lr is unchanged"
# The ranks agree on stopping every this many steps: each agreement is a collective, and
# polling every step cost 2-rank softmax a third of its speed on 2 cores.
STOP_POLL_STEPS = 10


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group: rank `rank` of `world_size` (one process: 0 of 1)."""

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


def check_batch(batch_size: int, context: DistContext) -> int:
    """The per-rank batch; the global batch must split evenly over the ranks."""
    if batch_size % context.world_size:
        raise UsageError(
            f"--batch-size {batch_size} is the global batch and must be divisible by the "
            f"{context.world_size} processes; pass a multiple of {context.world_size}."
        )
    return batch_size // context.world_size


def describe(batch_size: int, context: DistContext) -> dict[str, object]:
    """The data-parallel facts a result states: ranks, batches and the learning-rate rule."""
    return {
        "world_size": context.world_size,
        "per_rank_batch": batch_size // context.world_size,
        "effective_batch": batch_size,
        "lr_rule": LR_RULE,
    }


def _comm_device(context: DistContext) -> torch.device:
    # nccl moves only CUDA tensors; gloo moves CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", context.local_rank)
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Sum `tensor` over ranks; the identity for one process."""
    if not context.enabled:
        return tensor
    moved = tensor.to(_comm_device(context))
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    return moved.to(tensor.device)


def all_gather(tensor: torch.Tensor, context: DistContext) -> list[torch.Tensor]:
    """Every rank's copy of an equally shaped `tensor`, in rank order, on `tensor`'s device."""
    if not context.enabled:
        return [tensor]
    moved = tensor.contiguous().to(_comm_device(context))
    out = [torch.empty_like(moved) for _ in range(context.world_size)]
    dist.all_gather(out, moved)
    return [t.to(tensor.device) for t in out]


def any_rank(flag: bool, context: DistContext) -> bool:
    """True on every rank when `flag` is true on any (e.g. a stop signal one process saw)."""
    if not context.enabled:
        return flag
    return bool(all_reduce_sum(torch.tensor([int(flag)]), context).item())


def shutdown(context: DistContext) -> None:
    """Leave the group together: a rank that tore gloo down while another still finished its
    writes once aborted at exit ("terminate called without an active exception"). If a rank
    died instead, torchrun stops the others, so the barrier cannot wait forever."""
    if context.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# -- what the engine needs across ranks ----------------------------------------------------


def seed_rank(seed: int, augment_generator: torch.Generator | None, context: DistContext) -> None:
    """Distinct dropout and augmentation streams per rank; rank 0 keeps a single run's.

    Called after the model is built, so every rank starts from the same weights.
    """
    if not context.enabled:
        return
    torch.manual_seed(seed + context.rank)
    if augment_generator is not None:
        augment_generator.manual_seed(seed + 1 + 1_000_003 * context.rank)


def wrap(model: nn.Module, device: torch.device, context: DistContext) -> nn.Module:
    """The module the training step calls: DDP around `model` under torchrun, else `model`."""
    if not context.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def stop_requested(should_stop: Callable[[], bool] | None, step: int, context: DistContext) -> bool:
    """Whether to stop before `step`; every rank stops at the same step, whichever saw the signal."""
    if should_stop is None:
        return False
    if not context.enabled:
        return should_stop()
    return step % STOP_POLL_STEPS == 0 and any_rank(should_stop(), context)


def batch_stats(
    loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, context: DistContext
) -> tuple[float, float]:
    """Loss and accuracy of the whole global batch (every rank's shard has the same size)."""
    stats = torch.stack([loss.detach().float(), (logits.argmax(1) == y).float().mean()]).cpu()
    stats = all_reduce_sum(stats, context) / context.world_size
    return stats[0].item(), stats[1].item()


def evaluate(
    model: nn.Module, split: Split, context: DistContext, *, batch_size: int = EVAL_BATCH_SIZE
) -> Evaluation:
    """`mnistlab.evaluation.metrics.evaluate` over all ranks: rank r scores samples r, r+W, ...

    The (C, C) confusion counts are summed over ranks, and every number is derived from
    that sum, so each sample of `split` is counted exactly once.
    """
    images, labels = (
        split.images[context.rank :: context.world_size],
        split.labels[context.rank :: context.world_size],
    )
    logits = predict_logits(model, images, batch_size=batch_size)
    confusion = confusion_matrix(logits.argmax(dim=1).cpu(), labels.cpu(), logits.shape[1])
    return evaluation_from_confusion(all_reduce_sum(confusion, context))


def evaluation_from_confusion(confusion: torch.Tensor) -> Evaluation:
    """An Evaluation from (C, C) int64 counts (rows: true class, columns: predicted)."""
    count = int(confusion.sum())
    per_class = confusion.diagonal().double() / confusion.sum(dim=1).clamp(min=1).double()
    return Evaluation(
        accuracy=float(confusion.diagonal().sum()) / max(count, 1),
        per_class_accuracy=tuple(per_class.tolist()),
        confusion=tuple(tuple(row) for row in confusion.tolist()),
        count=count,
    )


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the state dict's bytes, tensors in name order: equal iff weights are bit-equal."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def rank_digests(model: nn.Module, context: DistContext) -> list[str]:
    """Every rank's `weights_digest`, in rank order; raises if the ranks' weights differ."""
    mine = torch.frombuffer(bytearray(bytes.fromhex(weights_digest(model))), dtype=torch.uint8)
    digests = [bytes(t.tolist()).hex() for t in all_gather(mine, context)]
    if len(set(digests)) != 1:
        raise RuntimeError(f"data-parallel ranks ended with different weights: {digests}")
    return digests


def gather_rng(state: dict[str, torch.Tensor], context: DistContext) -> dict[str, torch.Tensor]:
    """Every rank's RNG states for a checkpoint: rank 0's under their own names (the
    single-process layout), rank r's as "<name>.rank<r>"."""
    if not context.enabled:
        return state
    out: dict[str, torch.Tensor] = {}
    for name in sorted(state):
        for rank, tensor in enumerate(all_gather(state[name], context)):
            out[name if rank == 0 else f"{name}.rank{rank}"] = tensor.cpu()
    return out


def rng_of_rank(state: dict[str, torch.Tensor], context: DistContext) -> dict[str, torch.Tensor]:
    """This rank's RNG states out of a checkpoint written by `gather_rng`.

    A checkpoint resumes only with the number of processes that wrote it: each rank's
    dropout and augmentation streams continue exactly where they stopped.
    """
    saved = 1 + sum(1 for k in state if k.startswith("torch.rank"))
    if saved != context.world_size:
        how = f"torchrun --nproc_per_node {saved}" if saved > 1 else "a single process (no torchrun)"
        raise UsageError(
            f"This checkpoint was written by {saved} process(es) but is resumed by "
            f"{context.world_size}; resume it with {how}."
        )
    if context.rank == 0:
        return {k: v for k, v in state.items() if ".rank" not in k}
    suffix = f".rank{context.rank}"
    return {k.removesuffix(suffix): v for k, v in state.items() if k.endswith(suffix)}
