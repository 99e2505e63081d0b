"""What `mnistlab data info` and `data list` show, as plain values: a loaded dataset's files and
label counts, every dataset's record, and the classes file of `data add`."""

from __future__ import annotations

from typing import Any

import torch

from mnistlab.data.registry import DATASETS, get_dataset_spec, user_dataset_names
from mnistlab.data.spec import DatasetSpec
from mnistlab.data.splits import SPLITS, Dataset
from mnistlab.errors import DataError
from mnistlab.fileio import open_named

# 256 class names of a few hundred characters each fit many times over.
MAX_CLASSES_FILE_BYTES = 1_000_000


def dataset_info(data: Dataset) -> dict[str, Any]:
    """Where `data` was found and verified, its classes, split rule and each split's label counts."""
    located = data.source
    splits = {}
    for name in SPLITS:
        split = data.split(name)
        histogram = torch.bincount(split.labels, minlength=len(data.classes)).tolist()
        splits[name] = {"count": len(split), "labels": dict(zip(data.classes, histogram, strict=True))}
    return {
        "dataset": data.name,
        "title": located.spec.display_name if located else data.name,
        "classes": list(data.classes),
        "split_rule": data.split_rule(),
        "source": located.source if located else None,
        "root": str(located.root) if located else None,
        "files": {role: str(path) for role, path in located.paths.items()} if located else {},
        "verified": "sha256 of the decompressed content matches the "
        + ("record of `mnistlab data add`" if located and located.spec.folder else "registry"),
        "image_shape": list(data.train.images.shape[1:]),
        "splits": splits,
    }


def spec_info(spec: DatasetSpec) -> dict[str, object]:
    """A dataset's record: where it comes from, its classes, validation size and file digests."""
    return {
        "name": spec.name,
        "title": spec.display_name,
        "source": spec.source,
        "folder": None if spec.folder is None else str(spec.folder),
        "mirrors": list(spec.mirrors),
        "classes": list(spec.classes),
        "validation_size": spec.validation_size,
        "image_kind": spec.image_kind,
        "sha256": {role: f.sha256 for role, f in spec.files_by_role.items()},
    }


def all_datasets() -> list[dict[str, object]]:
    """Every built-in dataset, then every added one; an unreadable record as its name and error."""
    rows: list[dict[str, object]] = [spec_info(spec) for spec in DATASETS.values()]
    for name in user_dataset_names():
        try:
            rows.append(spec_info(get_dataset_spec(name)))
        except DataError as exc:  # one broken record must not hide the others
            rows.append({"name": name, "source": "added", "error": str(exc)})
    return rows


def read_classes_file(path: str) -> str:
    """The text of a --classes-file: a regular file (never a FIFO or a device) of at most 1 MB."""
    file, size = open_named(path, f"Classes file {path}", DataError, "pass a text file")
    with file:
        try:
            data = file.read(MAX_CLASSES_FILE_BYTES + 1) if size <= MAX_CLASSES_FILE_BYTES else b""
        except OSError as exc:
            raise DataError(f"Classes file {path} cannot be read ({exc.strerror or exc}).") from None
    if size > MAX_CLASSES_FILE_BYTES or len(data) > MAX_CLASSES_FILE_BYTES:
        raise DataError(
            f"Classes file {path} is over {MAX_CLASSES_FILE_BYTES:,} bytes; it should hold one class name a line."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"Classes file {path} cannot be read ({exc}).") from None
