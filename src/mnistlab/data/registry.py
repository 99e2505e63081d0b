"""The datasets mnistlab knows: built in (MNIST, Fashion-MNIST) or added by the user.

Each built-in file is fetched as `<mirror><filename>.gz` and checked against the SHA-256 of
its decompressed content (`mnistlab.data.spec`).

A dataset added with `mnistlab data add` is a JSON record in the user's config folder,
$XDG_CONFIG_HOME/mnistlab/datasets/<name>.json (default ~/.config/mnistlab/...): the
folder of its files, each file's content SHA-256, its classes and validation size. This
module reads those records; `mnistlab.data.userdata` validates and writes them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mnistlab.data.spec import NAME_PATTERN, DatasetFile, DatasetSpec, spec_from_record
from mnistlab.errors import DataError

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
    title="MNIST",
)

# Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747; github.com/zalandoresearch/
# fashion-mnist). The SHA-256 digests are of the decompressed files as listed in the project's
# shared/data/README.md (Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1, upstream's
# content). The publisher gives md5 sums of its own .gz files only (train images
# 8d4fb7e6c68d591d4c3dfef9ec88bf0d, train labels 25c81989df183df01b3e8a0aad5dffbe, test images
# bef4ecab320f06d8554ea6380940ec79, test labels bb300cfdad3c16e7a12a480ee83cd310); a mirror
# that re-compresses changes those but not the content checked here. Mirrors: the
# publisher's S3 site (the one torchvision's FashionMNIST uses), then the repository's files.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    train_images=DatasetFile(
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    train_labels=DatasetFile(
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    test_images=DatasetFile(
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    test_labels=DatasetFile(
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    title="Fashion-MNIST",
    image_kind="objects",
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


# -- datasets added by the user ---------------------------------------------------------


def config_root() -> Path:
    """mnistlab's user config folder: $XDG_CONFIG_HOME/mnistlab (default ~/.config/mnistlab)."""
    # XDG says to ignore an empty or relative XDG_CONFIG_HOME.
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / "mnistlab"


def user_datasets_dir() -> Path:
    return config_root() / "datasets"


def user_dataset_path(name: str) -> Path:
    return user_datasets_dir() / f"{name}.json"


def _read_user_spec(name: str) -> DatasetSpec | None:
    path = user_dataset_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataError(f"The dataset record {path} cannot be read ({exc.strerror}).") from None
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise DataError(
            f"The dataset record {path} is corrupt ({exc}); remove it with `mnistlab data remove {name}` "
            f"and add the folder again."
        ) from None
    return spec_from_record(record, path)


def user_dataset_names() -> list[str]:
    folder = user_datasets_dir()
    try:
        return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith("."))
    except OSError:
        return []


def get_dataset_spec(name: str) -> DatasetSpec:
    """Return the built-in or user-added dataset called `name`."""
    if name in DATASETS:
        return DATASETS[name]
    spec = _read_user_spec(name) if NAME_PATTERN.fullmatch(name) else None
    if spec is None:
        known = ", ".join([*DATASETS, *user_dataset_names()])
        raise DataError(
            f"Unknown dataset {name!r}; choose one of: {known} (or register your own files with "
            f"`mnistlab data add {name} DIR`)."
        )
    return spec


def identify_content(found: dict[str, str], *, exclude: str | None = None) -> DatasetSpec | None:
    """The registered dataset whose files have the `found` SHA-256 digests (keyed by role)."""
    for name in [*DATASETS, *user_dataset_names()]:
        if name == exclude or not found:
            continue
        try:
            spec = get_dataset_spec(name)
        except DataError:
            continue  # a broken record identifies nothing; `data list` reports it
        expected = spec.files_by_role
        if all(expected[role].sha256 == digest for role, digest in found.items()):
            return spec
    return None
