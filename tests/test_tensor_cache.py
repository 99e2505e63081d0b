"""The uint8 cache of parsed IDX files: exact round trip, keyed by content, rebuilt when damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnistlab.data import tensor_cache
from mnistlab.data.idx import read_idx

HASHES = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]


def sample_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 7, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 3, dtype=np.uint8),
    }


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype == np.uint8 and a[name].shape == b[name].shape
        assert np.array_equal(a[name], b[name]), name


def test_arrays_round_trip_exactly(tmp_path: Path) -> None:
    arrays = sample_arrays()
    tensor_cache.write_arrays(tmp_path / "x.u8", arrays)
    assert_same(tensor_cache.read_arrays(tmp_path / "x.u8"), arrays)


def test_real_idx_files_round_trip(data_dir: Path, tmp_path: Path) -> None:
    folder = data_dir / "mnist"
    arrays = {
        "test_images": read_idx(folder / "t10k-images-idx3-ubyte.gz"),
        "test_labels": read_idx(folder / "t10k-labels-idx1-ubyte.gz"),
    }
    tensor_cache.write_arrays(tmp_path / "mnist.u8", arrays)
    assert_same(tensor_cache.read_arrays(tmp_path / "mnist.u8"), arrays)


def test_the_key_follows_the_content_hashes() -> None:
    key = tensor_cache.cache_key(HASHES)
    assert len(key) == 64 and key == tensor_cache.cache_key(list(HASHES))
    assert key != tensor_cache.cache_key(["e" * 64, *HASHES[1:]])
    assert key != tensor_cache.cache_key(HASHES[::-1])  # roles are positional
    assert tensor_cache.cache_path(key).parent.name == "tensors"


def test_load_or_build_parses_once_then_reads_the_cache() -> None:
    calls = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return sample_arrays()

    hashes = ["1" * 64, *HASHES[1:]]
    first = tensor_cache.load_or_build(hashes, build)
    second = tensor_cache.load_or_build(hashes, build)
    assert len(calls) == 1
    assert_same(first, second)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) - 5],  # truncated payload
        lambda b: b + b"x",  # trailing bytes
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # one flipped payload bit: CRC-32 mismatch
        lambda b: b"NOTMAGIC" + b[8:],
        lambda b: b[:12] + b"{not json" + b[21:],
        lambda b: b"",
    ],
    ids=["truncated", "trailing", "bit-flip", "magic", "header", "empty"],
)
def test_a_damaged_cache_reads_as_missing_and_is_rebuilt(damage, tmp_path: Path) -> None:
    hashes = ["2" * 64, *HASHES[1:]]
    path = tensor_cache.cache_path(tensor_cache.cache_key(hashes))
    arrays = sample_arrays()
    tensor_cache.write_arrays(path, arrays)
    path.write_bytes(damage(path.read_bytes()))
    assert tensor_cache.read_arrays(path) is None
    rebuilt = tensor_cache.load_or_build(hashes, sample_arrays)
    assert_same(rebuilt, arrays)
    assert_same(tensor_cache.read_arrays(path), arrays)  # written again


def test_an_unwritable_cache_still_returns_the_arrays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(tensor_cache, "cache_path", lambda key: blocker / "tensors" / f"{key}.u8")
    assert_same(tensor_cache.load_or_build(HASHES, sample_arrays), sample_arrays())


def test_only_uint8_arrays_are_cached(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        tensor_cache.write_arrays(tmp_path / "x.u8", {"labels": np.zeros(3, dtype=np.int64)})
