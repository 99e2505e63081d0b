"""What a dataset in the MNIST layout is: four IDX files with their digests, class names, kind.

Checksums are SHA-256 of the DECOMPRESSED IDX files. Mirrors re-compress (the .gz bytes
of the same content differ between mirrors), so only the content's digest identifies the
data. A dataset added with `mnistlab data add` is stored as the JSON record `spec_record`
writes and `spec_from_record` reads back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.errors import DataError

# The four files of every dataset, in the order of DatasetSpec.files; also the keys of
# LocatedDataset.paths and of what download_dataset returns.
FILE_ROLES: tuple[str, ...] = ("train_images", "train_labels", "test_images", "test_labels")
# What the images show, which decides how `predict` turns a person's picture into 28x28:
# "digits" are pen strokes (MNIST's size-normalisation), "objects" are photographed things
# scaled whole into the field (Fashion-MNIST's conversion).
IMAGE_KINDS: tuple[str, ...] = ("digits", "objects")
RECORD_FORMAT = "mnistlab-dataset/1"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A user dataset's name is also a file and folder name: no separators, no leading dot.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


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
    """A dataset in the MNIST layout: four IDX files, class names and where to find them."""

    name: str  # also the cache folder and the optional subfolder of a data directory
    train_images: DatasetFile
    train_labels: DatasetFile
    test_images: DatasetFile
    test_labels: DatasetFile
    classes: tuple[str, ...]  # class names, indexed by label value
    mirrors: tuple[str, ...] = ()  # base URLs ending in "/", tried in order
    title: str = ""  # how people write it, e.g. "Fashion-MNIST" (default: the name)
    validation_size: int = 5000  # the first this many training images are the validation split
    image_kind: str = "digits"  # one of IMAGE_KINDS
    folder: Path | None = None  # where a user-added dataset's files are; None when built in

    def __post_init__(self) -> None:
        if self.image_kind not in IMAGE_KINDS:
            raise ValueError(f"DatasetSpec.image_kind must be one of {IMAGE_KINDS}, got {self.image_kind!r}.")
        if not 2 <= len(self.classes) <= 256:
            raise ValueError(f"A dataset needs 2 to 256 classes, got {len(self.classes)}.")
        if self.validation_size <= 0:
            raise ValueError(f"DatasetSpec.validation_size must be positive, got {self.validation_size}.")

    @property
    def files(self) -> tuple[DatasetFile, ...]:
        """The four files in the order train images, train labels, test images, test labels."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    @property
    def files_by_role(self) -> dict[str, DatasetFile]:
        """The four files keyed by FILE_ROLES ("train_images", ...)."""
        return dict(zip(FILE_ROLES, self.files, strict=True))

    @property
    def display_name(self) -> str:
        return self.title or self.name

    @property
    def source(self) -> str:
        """ "built-in", or "added" for a dataset registered with `mnistlab data add`."""
        return "built-in" if self.folder is None else "added"


def spec_record(spec: DatasetSpec) -> dict[str, Any]:
    """The JSON record of a user-added dataset (the inverse of `spec_from_record`)."""
    return {
        "format": RECORD_FORMAT,
        "name": spec.name,
        "folder": str(spec.folder),
        "classes": list(spec.classes),
        "validation_size": spec.validation_size,
        "image_kind": spec.image_kind,
        "files": {
            role: {"filename": f.filename, "sha256": f.sha256} for role, f in spec.files_by_role.items()
        },
    }


def spec_from_record(record: Any, where: Path) -> DatasetSpec:
    """Rebuild a user-added dataset from its JSON record; DataError if it is not one."""
    try:
        if record["format"] != RECORD_FORMAT:
            raise ValueError(f"format {record['format']!r}")
        files = [
            DatasetFile(record["files"][role]["filename"], record["files"][role]["sha256"])
            for role in FILE_ROLES
        ]
        spec = DatasetSpec(
            str(record["name"]),
            *files,
            classes=tuple(str(c) for c in record["classes"]),
            validation_size=int(record["validation_size"]),
            image_kind=str(record["image_kind"]),
            folder=Path(record["folder"]),
        )
        if spec.name != where.stem or not NAME_PATTERN.fullmatch(spec.name):
            raise ValueError(f"name {spec.name!r} in {where.name}")
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"The dataset record {where} is not one mnistlab wrote ({exc}); remove it with "
            f"`mnistlab data remove {where.stem}` and add the folder again."
        ) from None
    return spec
