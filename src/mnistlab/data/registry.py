"""The datasets mnistlab knows: their files, the checksums of those files, and mirrors.

Checksums are SHA-256 of the DECOMPRESSED IDX files. Mirrors re-compress (the .gz bytes
of the same content differ between mirrors), so only the content's digest identifies the
data. Each file is fetched as `<mirror><filename>.gz`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mnistlab.errors import DataError

__all__ = ["DATASETS", "FILE_ROLES", "MNIST", "DatasetFile", "DatasetSpec", "get_dataset_spec"]

# The four files of every dataset, in the order of DatasetSpec.files; also the keys of
# LocatedDataset.paths and of what download_dataset returns.
FILE_ROLES: tuple[str, ...] = ("train_images", "train_labels", "test_images", "test_labels")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DatasetFile:
    """One IDX file of a dataset."""

    filename: str  # the uncompressed name, e.g. "train-images-idx3-ubyte"
    sha256: str  # lowercase hex digest of the DECOMPRESSED content

    def __post_init__(self) -> None:
        if "/" in self.filename or self.filename.endswith(".gz"):
            raise ValueError(f"DatasetFile.filename must be a bare uncompressed name, got {self.filename!r}.")
        if not _SHA256_HEX.fullmatch(self.sha256):
            raise ValueError(f"DatasetFile.sha256 must be 64 lowercase hex digits, got {self.sha256!r}.")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset in the MNIST layout: four IDX files, class names and download mirrors."""

    name: str  # also the cache folder and the optional subfolder of a data directory
    train_images: DatasetFile
    train_labels: DatasetFile
    test_images: DatasetFile
    test_labels: DatasetFile
    classes: tuple[str, ...]  # class names, indexed by label value
    mirrors: tuple[str, ...]  # base URLs ending in "/", tried in order

    @property
    def files(self) -> tuple[DatasetFile, ...]:
        """The four files in the order train images, train labels, test images, test labels."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    @property
    def files_by_role(self) -> dict[str, DatasetFile]:
        """The four files keyed by FILE_ROLES ("train_images", ...)."""
        return dict(zip(FILE_ROLES, self.files, strict=True))


# MNIST (LeCun, Cortes, Burges), http://yann.lecun.com/exdb/mnist/. The SHA-256 digests are
# of the uncompressed IDX files whose md5 sums are the published ones torchvision checks
# (train images 6bbc9ace898e44ae57da46a324031adb, train labels a25bea736e30d166cdddb491f175f624,
# test images 2646ac647ad5339dbf082846283269ea, test labels 27ae3e4e09519cfbb04c329615203637).
# yann.lecun.com now answers 403/404 but is the original home, so it stays as the last resort.
MNIST = DatasetSpec(
    name="mnist",
    train_images=DatasetFile(
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    train_labels=DatasetFile(
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    test_images=DatasetFile(
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    test_labels=DatasetFile(
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
    classes=tuple(str(digit) for digit in range(10)),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
)

# Fashion-MNIST is absent on purpose: its publishers give md5 sums of the .gz files only,
# and no trustworthy SHA-256 of its decompressed files was found to pin it by content.
DATASETS: dict[str, DatasetSpec] = {MNIST.name: MNIST}


def get_dataset_spec(name: str) -> DatasetSpec:
    """Return the registered dataset called `name`."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"Unknown dataset {name!r}; choose one of: {known}.") from None
