"""Fashion-MNIST built in, and helpful errors when a folder holds another dataset's files."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mnistlab.cli import main
from mnistlab.data import load_dataset, write_idx
from mnistlab.data.registry import FASHION_MNIST, MNIST, get_dataset_spec, identify_content
from mnistlab.data.store import default_cache_dir, locate_dataset
from mnistlab.errors import DataError

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """A throwaway user cache and config; MNISTLAB_DATA unset unless a test sets it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _one_line_error(capsys, argv: list[str], status: int = 1) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mnistlab: error: ")
    return lines[0].removeprefix("mnistlab: error: ")


def _write_random_mnist_layout(folder: Path, n_train: int = 20, n_test: int = 10) -> Path:
    """Valid IDX files under MNIST's names whose content is no registered dataset."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n_test, dtype=np.uint8))
    return folder


# --- Fashion-MNIST in the registry ------------------------------------------------------


def test_fashion_spec_matches_the_shared_readme():
    spec = get_dataset_spec("fashion-mnist")
    assert spec is FASHION_MNIST
    # Copied from shared/data/README.md (SHA-256 of the uncompressed IDX), in FILES order.
    assert [(f.filename, f.sha256) for f in spec.files] == [
        ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ]
    assert spec.classes == (
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
    )
    assert spec.mirrors == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    )
    assert (spec.title, spec.validation_size, spec.image_kind, spec.source) == (
        "Fashion-MNIST",
        5000,
        "objects",
        "built-in",
    )
    assert (MNIST.image_kind, MNIST.title) == ("digits", "MNIST")


def test_identify_content_by_digest():
    found = {role: f.sha256 for role, f in FASHION_MNIST.files_by_role.items()}
    assert identify_content(found) is FASHION_MNIST
    assert identify_content(found, exclude="fashion-mnist") is None
    assert identify_content({"test_labels": MNIST.test_labels.sha256}) is MNIST
    assert identify_content({"test_labels": "0" * 64}) is None


def test_fashion_from_the_data_root_subfolder(data_dir: Path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_DATA", str(data_dir))
    data = load_dataset("fashion-mnist")
    assert data.source is not None and data.source.root == data_dir / "fashion-mnist"
    assert data.source.source == "MNISTLAB_DATA"
    assert (len(data.train), len(data.val), len(data.test)) == (55000, 5000, 10000)
    # The publisher's test set holds exactly 1,000 images of each class.
    assert np.bincount(data.test.labels.numpy()).tolist() == [1000] * 10
    record = data.record()
    assert record["name"] == "fashion-mnist" and record["classes"][9] == "Ankle boot"
    assert record["sha256"]["test_labels"] == FASHION_MNIST.test_labels.sha256
    assert (record["source"], record["image_kind"], record["validation_size"]) == (
        "built-in",
        "objects",
        5000,
    )


def test_data_info_states_the_split_rule(capsys, data_dir: Path):
    argv = ["data", "info", "--dataset", "fashion-mnist", "--data-dir", str(data_dir), "--json"]
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["title"] == "Fashion-MNIST"
    assert info["split_rule"] == (
        "validation = the first 5,000 training images, train = the other 55,000, test = the 10,000 test images"
    )
    assert info["splits"]["test"]["labels"]["Ankle boot"] == 1000
    assert main(["data", "info", "--dataset", "fashion-mnist", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "split: validation = the first 5,000 training images" in out and "Ankle boot" in out


# --- wrong data -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "folder", "expected"),
    [
        (None, "fashion-mnist", "are Fashion-MNIST, not MNIST; use --dataset fashion-mnist."),
        ("fashion-mnist", "mnist", "are MNIST, not Fashion-MNIST; use --dataset mnist."),
    ],
)
def test_another_datasets_files_are_named(capsys, data_dir: Path, asked, folder, expected):
    cache = Path(os.environ["XDG_CACHE_HOME"])
    before = _snapshot(cache)
    argv = ["data", "info", "--data-dir", str(data_dir / folder)] + (["--dataset", asked] if asked else [])
    line = _one_line_error(capsys, argv)
    assert line == f"The files in {data_dir / folder} {expected}"
    assert _snapshot(cache) == before


def test_unknown_files_are_not_the_dataset_and_point_at_data_add(capsys, tmp_path: Path):
    folder = _write_random_mnist_layout(tmp_path / "mine")
    line = _one_line_error(capsys, ["data", "info", "--data-dir", str(folder)])
    assert f"Dataset file {folder / 'train-images-idx3-ubyte.gz'} fails its checksum" in line
    assert "these files are not MNIST" in line and "`mnistlab data add NAME DIR`" in line
    assert "delete" not in line


def test_only_mnistlabs_own_cache_is_to_be_fetched_again(tmp_path: Path):
    cache = _write_random_mnist_layout(default_cache_dir("mnist"))
    with pytest.raises(DataError) as info:
        locate_dataset(MNIST, download=False)
    assert str(cache) in str(info.value)
    assert str(info.value).endswith(
        "delete it and fetch it again with `mnistlab data download --dataset mnist`."
    )


def test_a_corrupt_gzip_is_not_to_be_deleted(capsys, tmp_path: Path):
    folder = _write_random_mnist_layout(tmp_path / "mine")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    line = _one_line_error(capsys, ["data", "info", "--data-dir", str(folder)])
    assert "is a corrupt gzip stream" in line and "delete" not in line
