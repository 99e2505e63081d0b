"""Shared fixtures. The real MNIST comes from $MNISTLAB_DATA (CI: ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnistlab.config import resolve_config
from mnistlab.data import Dataset, Split, load_dataset
from mnistlab.training.loop import train

REPO = Path(__file__).resolve().parents[1]
# Debian's Chromium (.ci/run installs it; no browser download works here), started as the
# browser tests need it: no sandbox as root, and no background requests to a closed network.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def real_data_dir() -> Path | None:
    candidates = [os.environ.get("MNISTLAB_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Verification stamps and downloads go to a throwaway cache, never the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = real_data_dir()
    if found is None:
        pytest.skip("real MNIST not found: set MNISTLAB_DATA to the folder holding mnist/")
    return found


@pytest.fixture(scope="session")
def mnist(data_dir: Path) -> Dataset:
    return load_dataset("mnist", data_dir)


@pytest.fixture(scope="session")
def small(mnist: Dataset) -> Dataset:
    """All training images, but 500 validation and 1,000 test images, to keep evaluation cheap."""
    return Dataset(
        mnist.name,
        mnist.classes,
        mnist.train,
        Split(mnist.val.images[:500], mnist.val.labels[:500]),
        Split(mnist.test.images[:1000], mnist.test.labels[:1000]),
    )


@pytest.fixture(scope="session")
def softmax_run(mnist: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished paper-recipe softmax run (1,000 steps, about 2 s)."""
    run_dir = tmp_path_factory.mktemp("runs") / "softmax"
    train(resolve_config("softmax", "softmax", overrides={"seed": 0}), mnist, run_dir=run_dir)
    return run_dir


@pytest.fixture(scope="session")
def cnn_run(mnist: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short paper-CNN run (300 steps, about 30 s on 2 cores; ~92 % test accuracy)."""
    run_dir = tmp_path_factory.mktemp("runs") / "cnn"
    config = resolve_config("cnn", "cnn", overrides={"steps": 300, "eval_every": 100, "seed": 0})
    train(config, mnist, run_dir=run_dir)
    return run_dir
