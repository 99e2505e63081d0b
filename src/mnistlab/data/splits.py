"""The paper's splits as uint8 tensors, parsed once.

train = training images 5,000-59,999 (55,000), validation = the first 5,000, test = the
10,000 test images: the split of TensorFlow's `read_data_sets`, which the paper used. Every
dataset follows the same rule with its own validation size (`DatasetSpec.validation_size`:
5,000 for the built-in ones). Images stay uint8 (N, 28, 28); `normalize` turns a batch into
float32 in [0, 1] on the fly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch

from mnistlab.data import tensor_cache
from mnistlab.data.download import ProgressFn
from mnistlab.data.idx import read_idx
from mnistlab.data.registry import get_dataset_spec
from mnistlab.data.spec import DatasetSpec
from mnistlab.data.store import LocatedDataset, locate_dataset
from mnistlab.errors import DataError

VALIDATION_SIZE = 5000
SIDE = 28  # every image here is SIDE x SIDE pixels, as in MNIST's IDX files
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Images (N, 28, 28) uint8 and labels (N,) int64, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


class DatasetRecord(TypedDict):
    """A run's `dataset.json`: enough to find its data again and to prove it is the same content."""

    name: str
    title: str
    classes: list[str]
    sha256: dict[str, str] | None  # file role -> SHA-256 of the decompressed IDX file; None: in memory
    source: str | None  # "built-in", "added", or None for in-memory data
    image_kind: str
    validation_size: int | None
    sizes: dict[str, int] | None  # images per split; None when the data was not loaded


def dataset_record(
    name: str,
    classes: Sequence[str],
    spec: DatasetSpec | None,
    validation_size: int | None,
    sizes: dict[str, int] | None,
) -> DatasetRecord:
    """The record of dataset `name`: `spec` is its registry entry, None for in-memory arrays."""
    return {
        "name": name,
        "title": name if spec is None else spec.display_name,
        "classes": list(classes),
        "sha256": None if spec is None else {role: f.sha256 for role, f in spec.files_by_role.items()},
        "source": None if spec is None else spec.source,
        "image_kind": "digits" if spec is None else spec.image_kind,
        "validation_size": validation_size,
        "sizes": sizes,
    }


def registered_record(name: str) -> DatasetRecord:
    """The record of a registered dataset without loading it (its sizes unknown)."""
    spec = get_dataset_spec(name)
    return dataset_record(spec.name, spec.classes, spec, spec.validation_size, None)


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    source: LocatedDataset | None = None

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DataError(f"Unknown split {name!r}; choose one of {', '.join(SPLITS)}.")
        return getattr(self, name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def record(self) -> DatasetRecord:
        """What a run directory stores about its data (dataset.json)."""
        spec = None if self.source is None else self.source.spec
        sizes = {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
        return dataset_record(self.name, self.classes, spec, len(self.val), sizes)

    def split_rule(self) -> str:
        """The split in words, as `data info` states it."""
        return (
            f"validation = the first {len(self.val):,} training images, train = the other "
            f"{len(self.train):,}, test = the {len(self.test):,} test images"
        )

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(
            self.name,
            self.classes,
            self.train.to(device),
            self.val.to(device),
            self.test.to(device),
            self.source,
        )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the paper's input scale."""
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def one_hot(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Class indices (N,) -> float32 one-hot rows (N, num_classes), the paper's label format."""
    return torch.nn.functional.one_hot(labels, num_classes).to(torch.float32)


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path} should hold uint8 images of shape (N, H, W), "
            f"found {images.dtype} of shape {images.shape}; it is not a dataset in the MNIST layout."
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{labels_path} should hold uint8 labels of shape (N,), "
            f"found {labels.dtype} of shape {labels.shape}; it is not a dataset in the MNIST layout."
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; the two files must come from the same dataset."
        )
    return images, labels


def _split(images: np.ndarray, labels: np.ndarray) -> Split:
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


def dataset_from_arrays(
    name: str,
    classes: tuple[str, ...],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    validation_size: int = VALIDATION_SIZE,
    source: LocatedDataset | None = None,
) -> Dataset:
    """Split raw (images, labels) arrays the paper's way."""
    train_images, train_labels = train
    if not 0 < validation_size < len(train_labels):
        raise DataError(
            f"validation_size must be between 1 and {len(train_labels) - 1}, got {validation_size}."
        )
    return Dataset(
        name=name,
        classes=classes,
        train=_split(train_images[validation_size:], train_labels[validation_size:]),
        val=_split(train_images[:validation_size], train_labels[:validation_size]),
        test=_split(*test),
        source=source,
    )


def load_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    progress: ProgressFn | None = None,
    validation_size: int | None = None,
) -> Dataset:
    """Find (or download), verify and parse a registered dataset into the paper's splits.

    `validation_size` defaults to the dataset's own (5,000 for MNIST and Fashion-MNIST).
    """
    spec = get_dataset_spec(name)
    validation_size = spec.validation_size if validation_size is None else validation_size
    located = locate_dataset(spec, data_dir, download=download, progress=progress)
    # Parsed once per content (the files were just verified against these hashes), then cached.
    arrays = tensor_cache.load_or_build([f.sha256 for f in spec.files], lambda: _parse(located.paths))
    train = arrays["train_images"], arrays["train_labels"]
    test = arrays["test_images"], arrays["test_labels"]
    return dataset_from_arrays(spec.name, spec.classes, train, test, validation_size, located)


def _parse(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    train_images, train_labels = _read_pair(paths["train_images"], paths["train_labels"])
    test_images, test_labels = _read_pair(paths["test_images"], paths["test_labels"])
    return {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }
