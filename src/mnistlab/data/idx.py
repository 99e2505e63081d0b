"""Read and write the IDX format, plain or gzip-compressed.

An IDX file (the format MNIST ships in, described on LeCun's MNIST page) is:

    00 00 TT NN    magic: two zero bytes, a type code TT, the number of dimensions NN
    NN x uint32    the size of each dimension, big-endian
    payload        every element in C order, big-endian where an element has several bytes

Compression is detected from the gzip magic bytes (1f 8b), never from the file name, so a
misnamed file still reads. Any malformed input raises IDXFormatError naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import BinaryIO

import numpy as np

from mnistlab.errors import DataError
from mnistlab.fileio import atomic_write_bytes

__all__ = ["IDXFormatError", "read_idx", "write_idx"]

# Type code -> element dtype as stored on disk (big-endian).
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: dict[tuple[str, int], int] = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
# 6 is zlib's own default: within 1% of level 9's size on MNIST at a fraction of the time.
_GZIP_LEVEL = 6


class IDXFormatError(DataError):
    """A file is not valid IDX: bad magic, unknown type, truncated or with trailing bytes."""


def read_idx(source: str | os.PathLike | BinaryIO, *, name: str | None = None) -> np.ndarray:
    """Read a whole IDX file (plain or gzip) into a native-endian array of its shape.

    `source` is a path or a binary file object (read to its end, not closed). `name` is how
    error messages refer to the source; it defaults to the path or the file object's name.
    """
    if isinstance(source, (str, os.PathLike)):
        name = name or str(source)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise DataError(f"IDX file {name} does not exist; check the path.") from None
        except OSError as e:
            raise DataError(f"IDX file {name} cannot be read ({e.strerror}).") from None
    else:
        if name is None:
            stream_name = getattr(source, "name", None)
            name = stream_name if isinstance(stream_name, str) else "<stream>"
        data = source.read()

    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise IDXFormatError(f"{name} is not a valid gzip stream ({e}).") from None
    return _parse(data, name)


def _parse(data: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file."""
    if len(data) < 4:
        raise IDXFormatError(
            f"{name} has a truncated IDX header: expected at least 4 bytes, found {len(data)}."
        )
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{name} is not an IDX file: it starts with bytes {data[:4].hex(' ')}, "
            f"expected 00 00 followed by a type code and a dimension count."
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise IDXFormatError(f"{name} has unknown IDX type code 0x{code:02X} (known: {known}).")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(
            f"{name} has a truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"found {len(data)}."
        )

    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise IDXFormatError(
            f"{name} is truncated: shape {shape} expected {expected} bytes of payload, found {found}."
        )
    if found > expected:
        raise IDXFormatError(f"{name} has {found - expected} bytes after the payload of shape {shape}.")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_len)
    # The copy makes the result writable, native-endian, and frees `data` once we return.
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(dest: str | os.PathLike | BinaryIO, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write `array` as IDX to a path (atomically) or to a binary file object.

    `compress` defaults to whether the destination's name ends in ".gz". The gzip header
    carries no timestamp, so equal arrays give byte-identical files.
    """
    array = np.asarray(array)
    code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        allowed = "uint8, int8, int16, int32, float32 or float64"
        raise ValueError(f"IDX cannot hold dtype {array.dtype}; convert the array to {allowed}.")
    if array.ndim > 255 or any(n > 0xFFFFFFFF for n in array.shape):
        raise ValueError(f"IDX cannot hold shape {array.shape}: at most 255 dims of < 2**32.")

    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    data = header + payload

    dest_name = os.fspath(dest) if isinstance(dest, (str, os.PathLike)) else getattr(dest, "name", "")
    if compress is None:
        compress = isinstance(dest_name, str) and dest_name.endswith(".gz")
    if compress:
        data = gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)

    if isinstance(dest, (str, os.PathLike)):
        atomic_write_bytes(dest, data)
    else:
        dest.write(data)
