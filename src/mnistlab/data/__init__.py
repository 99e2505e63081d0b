"""MNIST-format data: IDX files, the dataset registry, location and download, splits, batches."""

from mnistlab.data.batches import BatchSampler, epoch_permutation
from mnistlab.data.idx import IDXFormatError, read_idx, write_idx
from mnistlab.data.registry import DATASETS, DatasetFile, DatasetSpec, get_dataset_spec
from mnistlab.data.splits import (
    SPLITS,
    VALIDATION_SIZE,
    Dataset,
    Split,
    dataset_from_arrays,
    load_dataset,
    normalize,
    one_hot,
)
from mnistlab.data.store import LocatedDataset, locate_dataset

__all__ = [
    "DATASETS",
    "SPLITS",
    "VALIDATION_SIZE",
    "BatchSampler",
    "Dataset",
    "DatasetFile",
    "DatasetSpec",
    "IDXFormatError",
    "LocatedDataset",
    "Split",
    "dataset_from_arrays",
    "epoch_permutation",
    "get_dataset_spec",
    "load_dataset",
    "locate_dataset",
    "normalize",
    "one_hot",
    "read_idx",
    "write_idx",
]
