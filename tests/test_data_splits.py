"""The paper's split of the real MNIST, its batches and the helpers around them."""

from __future__ import annotations

import gzip

import numpy as np
import torch

from mnistlab.data import BatchSampler, dataset_from_arrays, epoch_permutation, normalize, one_hot
from mnistlab.data.splits import Dataset


def test_split_sizes_and_first_labels(mnist: Dataset) -> None:
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (55_000, 5_000, 10_000)
    assert mnist.train.images.dtype == torch.uint8 and mnist.train.images.shape[1:] == (28, 28)
    # Validation is training images 0-4,999 and train is 5,000-59,999 (TensorFlow's split).
    # The first training labels of MNIST are 5 0 4 1 9 2 1 3 1 4 (LeCun's file, widely quoted).
    assert mnist.val.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    # Training-label bytes 5,000-5,009 and the last three, read from the raw file with gzip.
    assert mnist.train.labels[:10].tolist() == [7, 3, 4, 6, 1, 8, 1, 0, 9, 8]
    assert mnist.train.labels[-3:].tolist() == [5, 6, 8]
    assert mnist.test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_split_matches_an_independent_parse_of_the_raw_files(mnist: Dataset, data_dir) -> None:
    raw = gzip.decompress((data_dir / "mnist" / "train-images-idx3-ubyte.gz").read_bytes())
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(60_000, 28, 28)
    assert np.array_equal(mnist.val.images.numpy(), pixels[:5000])
    assert np.array_equal(mnist.train.images.numpy(), pixels[5000:])


def test_dataset_from_arrays_slices_validation_off_the_front() -> None:
    images = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2)
    labels = np.arange(10, dtype=np.uint8)
    data = dataset_from_arrays("toy", ("a",), (images, labels), (images[:3], labels[:3]), validation_size=4)
    assert data.val.labels.tolist() == [0, 1, 2, 3]
    assert data.train.labels.tolist() == [4, 5, 6, 7, 8, 9]
    assert torch.equal(data.train.images[0], torch.from_numpy(images[4]))


def test_normalize_and_one_hot() -> None:
    images = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)
    x = normalize(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == torch.float32
    assert torch.allclose(x.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))
    assert one_hot(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_batches_cover_each_epoch_once_and_straddle_the_boundary() -> None:
    sampler = BatchSampler(n=10, batch_size=4, seed=3)
    stream = torch.cat([sampler.indices(step) for step in range(5)])  # 20 samples = 2 epochs
    assert torch.equal(stream[:10], epoch_permutation(10, 3, 0))
    assert torch.equal(stream[10:], epoch_permutation(10, 3, 1))
    assert sorted(stream[:10].tolist()) == list(range(10))
    assert not torch.equal(stream[:10], stream[10:])  # a fresh permutation each epoch


def test_batches_are_a_pure_function_of_seed_and_step() -> None:
    a, b = BatchSampler(100, 7, seed=1), BatchSampler(100, 7, seed=1)
    assert torch.equal(a.indices(40), b.indices(40))  # b jumps straight to step 40, as on resume
    assert not torch.equal(a.indices(0), BatchSampler(100, 7, seed=2).indices(0))


def test_ranks_take_disjoint_shards_of_each_global_batch() -> None:
    full = BatchSampler(50, 8, seed=0).indices(3)
    shards = [BatchSampler(50, 8, seed=0, rank=r, world_size=2).indices(3) for r in range(2)]
    assert sorted(torch.cat(shards).tolist()) == sorted(full.tolist())
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
