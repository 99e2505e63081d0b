"""MNIST-format data: IDX files, the dataset registry, location and download, splits, batches,
seeded images that are not of the classes (outliers), and what `mnistlab data info` and
`data list` show (describe)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "batches": ["BatchSampler", "epoch_permutation"],
        "idx": ["IDXFormatError", "read_idx", "write_idx"],
        "registry": ["DATASETS", "get_dataset_spec"],
        "spec": ["DatasetFile", "DatasetSpec"],
        "splits": [
            "SIDE",
            "SPLITS",
            "VALIDATION_SIZE",
            "Dataset",
            "Split",
            "dataset_from_arrays",
            "load_dataset",
            "normalize",
            "one_hot",
        ],
        "store": ["LocatedDataset", "locate_dataset"],
    },
)
