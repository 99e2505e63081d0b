"""IDX reading and writing: hand-written golden bytes, round trips and every error."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest

from mnistlab.data.idx import IDXFormatError, read_idx, write_idx
from mnistlab.errors import DataError

# A 2x3 uint8 array: magic (00 00, type 08, 2 dims), sizes 2 and 3 as big-endian uint32,
# then the six elements in C order.
UINT8_2X3 = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
UINT8_2X3_BYTES = bytes.fromhex("00000802 00000002 00000003 010203040506")

# int16 [1, -2, 256]: type 0B, one dim of 3, each element two bytes big-endian.
INT16_BYTES = bytes.fromhex("00000B01 00000003 0001 FFFE 0100")

# float32 [1.0, -2.5]: type 0D; IEEE-754 big-endian 3F800000 and C0200000.
FLOAT32_BYTES = bytes.fromhex("00000D01 00000002 3F800000 C0200000")

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def _written(array: np.ndarray, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    write_idx(buffer, array, compress=compress)
    return buffer.getvalue()


def _read_bytes(data: bytes, name: str = "golden.idx") -> np.ndarray:
    return read_idx(io.BytesIO(data), name=name)


# --- golden bytes ----------------------------------------------------------------------


def test_uint8_golden_bytes():
    assert len(UINT8_2X3_BYTES) == 4 + 8 + 6
    assert _written(UINT8_2X3) == UINT8_2X3_BYTES
    out = _read_bytes(UINT8_2X3_BYTES)
    assert out.dtype == np.uint8 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, UINT8_2X3)


def test_int16_golden_bytes_are_big_endian():
    array = np.array([1, -2, 256], dtype=np.int16)
    assert _written(array) == INT16_BYTES
    assert _written(array.astype(">i2")) == INT16_BYTES  # input byte order does not matter
    out = _read_bytes(INT16_BYTES)
    assert out.dtype == np.dtype("int16") and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_float32_golden_bytes_are_big_endian():
    array = np.array([1.0, -2.5], dtype=np.float32)
    assert _written(array) == FLOAT32_BYTES
    out = _read_bytes(FLOAT32_BYTES)
    assert out.dtype == np.dtype("float32") and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_result_is_writable():
    out = _read_bytes(UINT8_2X3_BYTES)
    out[0, 0] = 9
    assert out[0, 0] == 9


def test_gzip_is_detected_by_magic_not_by_suffix(tmp_path):
    misnamed = tmp_path / "images.idx"  # gzip content, no .gz suffix
    misnamed.write_bytes(gzip.compress(UINT8_2X3_BYTES))
    np.testing.assert_array_equal(read_idx(misnamed), UINT8_2X3)
    plain_named_gz = tmp_path / "images.idx.gz"  # plain content, .gz suffix
    plain_named_gz.write_bytes(UINT8_2X3_BYTES)
    np.testing.assert_array_equal(read_idx(plain_named_gz), UINT8_2X3)


def test_gz_suffix_compresses_and_output_is_deterministic(tmp_path):
    path = tmp_path / "a.idx.gz"
    write_idx(path, UINT8_2X3)
    first = path.read_bytes()
    assert first[:2] == b"\x1f\x8b"
    assert gzip.decompress(first) == UINT8_2X3_BYTES
    write_idx(path, UINT8_2X3)
    assert path.read_bytes() == first
    write_idx(tmp_path / "b.idx", UINT8_2X3)
    assert (tmp_path / "b.idx").read_bytes() == UINT8_2X3_BYTES
    write_idx(tmp_path / "c.idx", UINT8_2X3, compress=True)
    assert gzip.decompress((tmp_path / "c.idx").read_bytes()) == UINT8_2X3_BYTES


def test_path_write_leaves_no_temporary_files(tmp_path):
    write_idx(tmp_path / "a.idx", UINT8_2X3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.idx"]


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_stream(dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    out = read_idx(io.BytesIO(_written(array, compress=compress)))
    assert out.dtype == np.dtype(dtype) and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
def test_round_trip_path(tmp_path, dtype, suffix):
    array = np.arange(24).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / f"x{suffix}"
    write_idx(path, array)
    np.testing.assert_array_equal(read_idx(path), array)
    np.testing.assert_array_equal(read_idx(str(path)), array)


def test_round_trip_edge_shapes():
    for array in [np.zeros((0, 28, 28), np.uint8), np.arange(7, dtype=np.int32)]:
        out = read_idx(io.BytesIO(_written(array)))
        assert out.shape == array.shape
        np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "int64", "float16", "bool", "complex64"])
def test_write_rejects_dtypes_idx_cannot_hold(dtype):
    with pytest.raises(ValueError, match=f"IDX cannot hold dtype {dtype}"):
        write_idx(io.BytesIO(), np.zeros(3, dtype=dtype))


# --- errors ----------------------------------------------------------------------------


def _error(data: bytes, name: str = "bad.idx") -> str:
    with pytest.raises(IDXFormatError) as info:
        _read_bytes(data, name)
    return str(info.value)


def test_bad_magic_shows_the_bytes_found():
    message = _error(bytes.fromhex("01020801") + UINT8_2X3_BYTES[4:])
    assert "bad.idx" in message and "01 02 08 01" in message


def test_unknown_type_code():
    message = _error(bytes.fromhex("00000A01 00000001 00"))
    assert "bad.idx" in message and "unknown IDX type code 0x0A" in message


def test_truncated_header():
    message = _error(UINT8_2X3_BYTES[:7])
    assert "bad.idx" in message and "truncated IDX header" in message
    assert "2 dimensions need 12 bytes, found 7" in message


def test_empty_file_is_a_truncated_header(tmp_path):
    path = tmp_path / "empty.idx"
    path.write_bytes(b"")
    with pytest.raises(IDXFormatError, match=r"empty\.idx has a truncated IDX header"):
        read_idx(path)


def test_truncated_payload():
    message = _error(UINT8_2X3_BYTES[:-2])
    assert "bad.idx" in message and "expected 6 bytes of payload, found 4" in message


def test_trailing_garbage():
    message = _error(UINT8_2X3_BYTES + b"\x00\x00")
    assert "bad.idx has 2 bytes after the payload" in message


def test_truncated_gzip_stream():
    data = gzip.compress(UINT8_2X3_BYTES)
    message = _error(data[: len(data) // 2])
    assert "bad.idx is not a valid gzip stream" in message


def test_corrupt_gzip_stream():
    data = bytearray(gzip.compress(UINT8_2X3_BYTES * 50))
    data[20] ^= 0xFF  # inside the deflate data: a bad block or a CRC mismatch
    assert "bad.idx is not a valid gzip stream" in _error(bytes(data))


def test_missing_file_is_a_data_error(tmp_path):
    path = tmp_path / "nope.idx"
    with pytest.raises(DataError, match=r"nope\.idx does not exist"):
        read_idx(path)


def test_error_names_the_source():
    with pytest.raises(IDXFormatError, match=r"^<stream> "):
        read_idx(io.BytesIO(b"\x00"))
    stream = io.BytesIO(b"\x00")
    stream.name = "from-attr.idx"
    with pytest.raises(IDXFormatError, match=r"^from-attr\.idx "):
        read_idx(stream)
