"""Seeded, resumable mini-batches drawn from tensors, with no per-sample Python.

The training stream is the concatenation of one random permutation per epoch; batch `k`
is samples [k*B, (k+1)*B) of that stream, so a batch may straddle two epochs (as in
TensorFlow's `next_batch`) and every image is seen equally often. Epoch `e`'s permutation
comes from a generator seeded with (seed, e), so the whole position is the step number:
resuming needs nothing else.
"""

from __future__ import annotations

import torch

from mnistlab.errors import UsageError

# Large odd constant so that (seed, k) pairs map to distinct generator seeds: k is the epoch
# here, the rank in the data-parallel augmentation streams (mnistlab.training.strategy).
SEED_STRIDE = 1_000_003


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * SEED_STRIDE + epoch)
    return torch.randperm(n, generator=generator)


def shard_size(batch_size: int, world_size: int) -> int:
    """Each process's share of a global batch; the global batch must split evenly."""
    if batch_size % world_size:
        raise UsageError(
            f"--batch-size {batch_size} is the global batch and must be divisible by the "
            f"{world_size} processes; pass a multiple of {world_size}."
        )
    return batch_size // world_size


class BatchSampler:
    """Index batches for step 0, 1, 2, ... of a seeded stream over `n` samples.

    With `world_size > 1` each rank takes a disjoint, strided shard of every global batch
    (`batch_size` is then the global batch and must divide evenly).
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, rank: int = 0, world_size: int = 1) -> None:
        shard_size(batch_size, world_size)
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, epoch_permutation(self.n, self.seed, epoch)
        return self._perm

    def indices(self, step: int) -> torch.Tensor:
        """Sample indices (batch_size // world_size,) of this rank's share of batch `step`."""
        start = step * self.batch_size
        end = start + self.batch_size
        first_epoch, last_epoch = start // self.n, (end - 1) // self.n
        parts = []
        for epoch in range(first_epoch, last_epoch + 1):
            lo = max(start - epoch * self.n, 0)
            hi = min(end - epoch * self.n, self.n)
            parts.append(self._permutation(epoch)[lo:hi])
        batch = parts[0] if len(parts) == 1 else torch.cat(parts)
        return batch[self.rank :: self.world_size]

    def epoch_of(self, step: int) -> float:
        return step * self.batch_size / self.n
