"""A person's own dataset in the MNIST layout: validate it completely, then record it.

`add_dataset` reads all four IDX files before it writes anything: each must parse, images
must be uint8 (N, 28, 28), labels uint8 (N,) with one label per image (all four headers are
checked before any payload is read), every label must name a class (2 to 256 of them; with no
names given, every class up to the largest label must have training images), and the
validation split must leave training images. Only then is the record (folder, classes,
validation size, each file's content SHA-256) written, in one atomic step, to the user config
folder (see `mnistlab.data.registry`). The files stay where they are; later loads verify them
against the recorded digests.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mnistlab.data.idx import read_idx, read_idx_header
from mnistlab.data.registry import DATASETS, get_dataset_spec, identify_content, user_dataset_path
from mnistlab.data.spec import FILE_ROLES, IMAGE_KINDS, NAME_PATTERN, DatasetFile, DatasetSpec, spec_record
from mnistlab.data.splits import SIDE
from mnistlab.data.verify import remember_verified, sha256_of_content
from mnistlab.errors import DataError
from mnistlab.fileio import atomic_write_json

__all__ = ["MAX_CLASSES", "add_dataset", "default_validation_size", "parse_classes", "remove_dataset"]

MAX_CLASSES = 256  # labels are uint8
# The names a file of each role may have (each plain or .gz): MNIST's own, and the
# dotted variant that Kaggle's and several other copies use.
CANDIDATE_NAMES: dict[str, tuple[str, ...]] = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def default_validation_size(train_count: int) -> int:
    """5,000 images, or a tenth of the training set when that is smaller (MNIST's ratio is 1/12)."""
    return min(5000, train_count // 10)


def parse_classes(text: str, *, separator: str = ",", what: str = "--classes") -> tuple[str, ...]:
    """Class names from "a,b,c" (separator ",") or one per line ("\n"); blank entries are dropped."""
    names = tuple(name.strip() for name in text.split(separator) if name.strip())
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"{what} names class {duplicates[0]!r} more than once; give each class once.")
    if not 2 <= len(names) <= MAX_CLASSES:
        raise DataError(f"{what} gives {len(names)} class names; a dataset needs 2 to {MAX_CLASSES}.")
    return names


def _find(directory: Path) -> dict[str, Path]:
    try:
        present = set(os.listdir(directory))
    except OSError as exc:
        raise DataError(f"Folder {directory} cannot be read ({exc.strerror}); fix its permissions.") from None
    found: dict[str, Path] = {}
    for role, names in CANDIDATE_NAMES.items():
        for name in names:
            match = next(
                (c for c in (name, name + ".gz") if c in present and (directory / c).is_file()), None
            )
            if match is not None:
                found[role] = directory / match
                break
    missing = [names[0] for role, names in CANDIDATE_NAMES.items() if role not in found]
    if missing:
        raise DataError(
            f"Folder {directory} lacks {', '.join(missing)} (plain or .gz); a dataset needs the four "
            f"IDX files of MNIST's layout: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte."
        )
    return found


def _check_images(dtype: np.dtype, shape: tuple[int, ...], path: Path) -> None:
    if dtype != np.uint8 or len(shape) != 3:
        raise DataError(
            f"{path} holds {dtype} of shape {shape}, not images; an images file holds "
            f"uint8 of shape (N, {SIDE}, {SIDE})."
        )
    if shape[1:] != (SIDE, SIDE):
        raise DataError(
            f"{path} holds {shape[1]}x{shape[2]} images; mnistlab's models take "
            f"{SIDE}x{SIDE}, so resize them to {SIDE}x{SIDE} first."
        )
    if shape[0] == 0:
        raise DataError(f"{path} holds no images.")


def _check_labels(
    dtype: np.dtype, shape: tuple[int, ...], path: Path, image_count: int, images_path: Path
) -> None:
    if dtype != np.uint8 or len(shape) != 1:
        raise DataError(
            f"{path} holds {dtype} of shape {shape}, not labels; a labels file holds uint8 of shape (N,)."
        )
    if shape[0] != image_count:
        raise DataError(
            f"{path} holds {shape[0]} labels but {images_path} holds {image_count} images; "
            f"each image needs exactly one label."
        )


def _read_folder(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """Every file's header is checked before any payload is read (or inflated), then the files."""
    headers = {role: read_idx_header(paths[role]) for role in FILE_ROLES}
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        _check_images(*headers[f"{split}_images"], images_path)
        _check_labels(*headers[f"{split}_labels"], labels_path, headers[f"{split}_images"][1][0], images_path)
    return {role: read_idx(paths[role]) for role in FILE_ROLES}


def _first_label_from(labels: np.ndarray, lowest: int) -> tuple[int, int] | None:
    """(index, value) of the first label >= `lowest`, or None."""
    bad = np.flatnonzero(labels >= lowest)
    return (int(bad[0]), int(labels[bad[0]])) if bad.size else None


def _resolve_classes(
    classes: tuple[str, ...] | None, arrays: dict[str, np.ndarray], paths: dict[str, Path]
) -> tuple[str, ...]:
    roles = ("train_labels", "test_labels")
    if classes is None:
        # No names given: the labels declare the classes 0..K-1, so each must have training images
        # (a stray 11 among digits would otherwise add a class 10 with none, and an 11 with one).
        count = max(int(arrays[role].max()) for role in roles) + 1
        if count < 2:
            raise DataError(
                f"{paths['train_labels']} and {paths['test_labels']} hold only label 0; a dataset needs "
                f"at least 2 classes."
            )
        trained = np.bincount(arrays["train_labels"], minlength=count)
        missing = int(np.flatnonzero(trained == 0)[0]) if (trained == 0).any() else None
        if missing is not None:
            for role in roles:
                found = _first_label_from(arrays[role], missing)
                if found is not None:
                    index, value = found
                    raise DataError(
                        f"{paths[role]} holds label {value} at index {index}, but no training image has "
                        f"label {missing}; labels number the classes 0, 1, 2, ... with images of each, "
                        f"or name every class with --classes or --classes-file."
                    )
        return tuple(str(c) for c in range(count))
    for role in roles:
        found = _first_label_from(arrays[role], len(classes))
        if found is not None:
            index, value = found
            raise DataError(
                f"{paths[role]} holds label {value}, but only {len(classes)} classes were given "
                f"(labels 0-{len(classes) - 1}): the first label outside them is at index {index}; name "
                f"every class with --classes or --classes-file."
            )
    return classes


def add_dataset(
    name: str,
    directory: str | os.PathLike,
    *,
    classes: tuple[str, ...] | None = None,
    validation_size: int | None = None,
    image_kind: str = "digits",
) -> DatasetSpec:
    """Validate the four IDX files in `directory` and register them as dataset `name`.

    `classes` defaults to "0", "1", ... up to the largest label; `validation_size` to
    `default_validation_size`. Raises DataError, having written nothing, when anything is wrong.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise DataError(
            f"Dataset name {name!r} is not allowed; use lowercase letters, digits, '.', '_' or '-' "
            f"(at most 64, starting with a letter or digit)."
        )
    if name in DATASETS:
        raise DataError(f"{name!r} is a built-in dataset; choose another name for your files.")
    if user_dataset_path(name).exists():
        folder = get_dataset_spec(name).folder
        raise DataError(
            f"A dataset {name!r} was already added from {folder}; forget it first with "
            f"`mnistlab data remove {name}`, or choose another name."
        )
    if image_kind not in IMAGE_KINDS:
        raise DataError(f"The image kind must be one of {', '.join(IMAGE_KINDS)}, got {image_kind!r}.")
    directory = Path(directory).absolute()
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a folder"
        raise DataError(f"{directory} {what}; pass the folder that holds the four IDX files.")

    paths = _find(directory)
    arrays = _read_folder(paths)
    classes = _resolve_classes(classes, arrays, paths)
    train_count = arrays["train_labels"].shape[0]
    if validation_size is None:
        validation_size = default_validation_size(train_count)
    if not 0 < validation_size < train_count:
        raise DataError(
            f"The validation size must be between 1 and {train_count - 1} (the training set holds "
            f"{train_count} images), got {validation_size}; pass --val-size N."
        )

    digests = {role: sha256_of_content(path) for role, path in paths.items()}
    known = identify_content(digests)
    if known is not None:
        raise DataError(
            f"The files in {directory} are {known.display_name}, already registered as {known.name!r}; "
            f"use --dataset {known.name}."
        )
    files = [DatasetFile(paths[role].name.removesuffix(".gz"), digests[role]) for role in FILE_ROLES]
    spec = DatasetSpec(
        name,
        *files,
        classes=classes,
        validation_size=validation_size,
        image_kind=image_kind,
        folder=directory,
    )
    atomic_write_json(user_dataset_path(name), spec_record(spec))
    for role, path in paths.items():
        remember_verified(path, digests[role])
    return spec


def remove_dataset(name: str) -> Path | None:
    """Forget the user-added dataset `name` (its record only: the files are never touched).

    Returns the folder it was added from (None when its record was unreadable).
    """
    if name in DATASETS:
        raise DataError(f"{name!r} is built in and cannot be removed; only datasets you added can.")
    path = user_dataset_path(name)
    if not (NAME_PATTERN.fullmatch(name) and path.is_file()):
        raise DataError(f"No dataset {name!r} was added; `mnistlab data list` shows those that were.")
    try:
        folder = get_dataset_spec(name).folder
    except DataError:
        folder = None  # a broken record is exactly what a person wants to remove
    path.unlink()
    return folder
