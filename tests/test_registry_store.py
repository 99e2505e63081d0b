"""The dataset registry, locating a dataset's files, and checksum verification."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

from mnistlab.data import verify
from mnistlab.data.idx import read_idx, write_idx
from mnistlab.data.registry import DATASETS, MNIST, get_dataset_spec
from mnistlab.data.spec import DatasetFile, DatasetSpec
from mnistlab.data.store import default_cache_dir, find_files, locate_dataset
from mnistlab.data.verify import verify_file
from mnistlab.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- a tiny fake dataset ---------------------------------------------------------------


def _tiny_contents() -> dict[str, bytes]:
    """Uncompressed IDX bytes of a four-file dataset of 3 training and 2 test images."""
    rng = np.random.default_rng(0)
    arrays = {
        "tiny-train-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "tiny-train-labels-idx1-ubyte": np.array([0, 1, 2], dtype=np.uint8),
        "tiny-t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 4, 4), dtype=np.uint8),
        "tiny-t10k-labels-idx1-ubyte": np.array([2, 1], dtype=np.uint8),
    }
    contents = {}
    for filename, array in arrays.items():
        buffer = io.BytesIO()
        write_idx(buffer, array, compress=False)
        contents[filename] = buffer.getvalue()
    return contents


CONTENTS = _tiny_contents()
TINY = DatasetSpec(
    "tiny",
    *(DatasetFile(name, hashlib.sha256(data).hexdigest()) for name, data in CONTENTS.items()),
    classes=("a", "b", "c"),
    mirrors=("http://127.0.0.1:9/",),  # never contacted: tests that download patch it out
)


def _write_tiny(directory: Path, *, gz: bool = True, only: int = 4) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for filename, data in list(CONTENTS.items())[:only]:
        if gz:
            (directory / f"{filename}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (directory / filename).write_bytes(data)
    return directory


def _listing(directory: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")
    )


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Point the user cache and MNISTLAB_DATA at empty places inside tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)


# --- registry --------------------------------------------------------------------------


def test_mnist_spec_matches_the_shared_readme():
    spec = get_dataset_spec("mnist")
    assert spec is MNIST is DATASETS["mnist"]
    # Copied from /work/shared/data/README.md, in DatasetSpec.files order.
    assert [f"{f.sha256}  {f.filename}" for f in spec.files] == [
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte",
    ]
    assert spec.classes == tuple("0123456789")
    assert spec.mirrors == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DataError, match="Unknown dataset 'digits'; choose one of: mnist"):
        get_dataset_spec("digits")


def test_dataset_file_rejects_compressed_names_and_bad_digests():
    with pytest.raises(ValueError):
        DatasetFile("train-images-idx3-ubyte.gz", "0" * 64)
    with pytest.raises(ValueError):
        DatasetFile("train-images-idx3-ubyte", "ABC")


# --- locating --------------------------------------------------------------------------


def test_default_cache_dir_follows_xdg(tmp_path, monkeypatch):
    assert default_cache_dir("mnist") == tmp_path / "xdg-cache" / "mnistlab" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir("mnist") == Path.home() / ".cache" / "mnistlab" / "mnist"


def test_resolution_order_data_dir_then_env_then_cache(tmp_path):
    arg_dir = _write_tiny(tmp_path / "arg")
    env_dir = _write_tiny(tmp_path / "env")
    _write_tiny(default_cache_dir("tiny"))
    env = {"MNISTLAB_DATA": str(env_dir)}

    found = locate_dataset(TINY, arg_dir, env=env, download=False)
    assert (found.source, found.root) == ("--data-dir", arg_dir)
    assert found.paths["train_images"] == arg_dir / "tiny-train-images-idx3-ubyte.gz"
    found = locate_dataset(TINY, env=env, download=False)
    assert (found.source, found.root) == ("MNISTLAB_DATA", env_dir)
    found = locate_dataset(TINY, env={}, download=False)
    assert (found.source, found.root) == ("cache", default_cache_dir("tiny"))


def test_env_defaults_to_os_environ(tmp_path, monkeypatch):
    env_dir = _write_tiny(tmp_path / "env")
    monkeypatch.setenv("MNISTLAB_DATA", str(env_dir))
    assert locate_dataset(TINY, download=False).source == "MNISTLAB_DATA"


def test_download_is_the_last_resort(tmp_path, monkeypatch):
    from mnistlab.data import download

    calls = []

    def fake_download(spec, dest_dir, *, progress=None):
        calls.append(dest_dir)
        _write_tiny(dest_dir)
        return find_files(spec, dest_dir)

    monkeypatch.setattr(download, "download_dataset", fake_download)
    found = locate_dataset(TINY, env={})
    assert (found.source, found.root) == ("download", default_cache_dir("tiny"))
    assert calls == [default_cache_dir("tiny")]
    assert locate_dataset(TINY, env={}).source == "cache"


def test_a_corrupt_cache_is_repaired_by_downloading(monkeypatch):
    from mnistlab.data import download

    cache = _write_tiny(default_cache_dir("tiny"))
    (cache / "tiny-train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"garbage"))
    with pytest.raises(DataError, match="fails its checksum"):
        locate_dataset(TINY, env={}, download=False)

    def fake_download(spec, dest_dir, *, progress=None):
        _write_tiny(dest_dir)
        return find_files(spec, dest_dir)

    monkeypatch.setattr(download, "download_dataset", fake_download)
    assert locate_dataset(TINY, env={}).source == "download"
    assert locate_dataset(TINY, env={}, download=False).source == "cache"


def test_no_data_and_no_download_says_how_to_get_it():
    with pytest.raises(DataError) as info:
        locate_dataset(TINY, env={}, download=False)
    assert "mnistlab data download" in str(info.value) and "--data-dir" in str(info.value)


@pytest.mark.parametrize("source", ["--data-dir", "MNISTLAB_DATA"])
def test_explicit_directory_without_files_does_not_fall_through(tmp_path, source):
    _write_tiny(default_cache_dir("tiny"))  # would be found if the lookup fell through
    empty = tmp_path / "empty"
    empty.mkdir()
    data_dir, env = (empty, {}) if source == "--data-dir" else (None, {"MNISTLAB_DATA": str(empty)})
    with pytest.raises(DataError) as info:
        locate_dataset(TINY, data_dir, env=env, download=False)
    message = str(info.value)
    assert source in message and str(empty) in message
    assert "tiny-train-images-idx3-ubyte" in message


def test_plain_gz_and_subfolder_layouts(tmp_path):
    gz_dir = _write_tiny(tmp_path / "gz", gz=True)
    assert find_files(TINY, gz_dir)["test_labels"].name == "tiny-t10k-labels-idx1-ubyte.gz"
    plain_dir = _write_tiny(tmp_path / "plain", gz=False)
    assert find_files(TINY, plain_dir)["test_labels"].name == "tiny-t10k-labels-idx1-ubyte"
    both = _write_tiny(_write_tiny(tmp_path / "both", gz=True), gz=False)
    assert all(p.suffix != ".gz" for p in find_files(TINY, both).values())
    parent = tmp_path / "parent"
    _write_tiny(parent / "tiny")
    found = locate_dataset(TINY, parent, download=False)
    assert found.root == parent / "tiny"
    assert read_idx(found.paths["train_labels"]).tolist() == [0, 1, 2]
    (tmp_path / "empty").mkdir()
    assert find_files(TINY, tmp_path / "empty") is None


def test_partial_directory_names_the_missing_files(tmp_path):
    partial = _write_tiny(tmp_path / "partial", only=2)
    with pytest.raises(DataError) as info:
        find_files(TINY, partial)
    message = str(info.value)
    assert str(partial) in message
    assert "tiny-t10k-images-idx3-ubyte" in message and "tiny-t10k-labels-idx1-ubyte" in message
    assert "tiny-train-images-idx3-ubyte," not in message


def test_nonexistent_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        locate_dataset(TINY, tmp_path / "missing", download=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="is a file"):
        find_files(TINY, tmp_path / "file")


def test_nothing_is_written_into_the_data_dir(tmp_path):
    data_dir = _write_tiny(tmp_path / "data")
    before = _listing(data_dir)
    locate_dataset(TINY, data_dir, download=False)
    locate_dataset(TINY, data_dir, download=False)
    assert _listing(data_dir) == before
    assert list((tmp_path / "xdg-cache" / "mnistlab" / "verified").glob("*.json"))


# --- verification ----------------------------------------------------------------------


def test_checksum_mismatch_names_file_expected_and_found(tmp_path):
    data_dir = _write_tiny(tmp_path / "data", gz=False)
    path = data_dir / "tiny-train-labels-idx1-ubyte"
    path.write_bytes(CONTENTS["tiny-train-labels-idx1-ubyte"][:-1] + b"\x09")
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DataError) as info:
        locate_dataset(TINY, data_dir, download=False)
    message = str(info.value)
    assert str(path) in message and TINY.train_labels.sha256 in message and found in message


def test_gz_is_hashed_after_decompression(tmp_path):
    data_dir = _write_tiny(tmp_path / "data", gz=True)
    path = data_dir / "tiny-train-images-idx3-ubyte.gz"
    assert verify.sha256_of_content(path) == TINY.train_images.sha256
    verify_file(path, TINY.train_images.sha256)


def test_corrupt_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"0123456789" * 100)[:30])
    with pytest.raises(DataError, match="corrupt gzip stream"):
        verify_file(path, "0" * 64)


def test_stamp_skips_hashing_until_the_file_changes(tmp_path, monkeypatch):
    data_dir = _write_tiny(tmp_path / "data", gz=False)
    path = data_dir / "tiny-train-labels-idx1-ubyte"
    verify_file(path, TINY.train_labels.sha256)

    def must_not_hash(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(verify, "sha256_of_content", must_not_hash)
    verify_file(path, TINY.train_labels.sha256)  # the stamp answers

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(AssertionError, match="hashed"):
        verify_file(path, TINY.train_labels.sha256)
    with pytest.raises(AssertionError, match="hashed"):  # another digest, same file
        verify_file(path, "0" * 64)


def test_a_stamp_that_cannot_be_written_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    data_dir = _write_tiny(tmp_path / "data")
    assert locate_dataset(TINY, data_dir, download=False).source == "--data-dir"


# --- the real data ---------------------------------------------------------------------


def _real_data_dir() -> Path | None:
    configured = os.environ.get("MNISTLAB_DATA")
    if configured:
        return REPO_ROOT / configured  # an absolute value replaces REPO_ROOT
    fallback = REPO_ROOT.parent / "shared" / "data"
    return fallback if fallback.is_dir() else None


REAL_DATA = _real_data_dir()


@pytest.mark.skipif(REAL_DATA is None, reason="no MNISTLAB_DATA and no ../shared/data")
def test_real_mnist_matches_the_registry():
    found = locate_dataset(MNIST, REAL_DATA, env={}, download=False)  # hashes all 55 MB
    assert found.source == "--data-dir"
    assert found.root.name == "mnist"
    labels = read_idx(found.paths["test_labels"])
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert read_idx(found.paths["test_images"]).shape == (10000, 28, 28)
