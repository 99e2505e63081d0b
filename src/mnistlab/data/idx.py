"""Read and write the IDX format, plain or gzip-compressed.

An IDX file (the format MNIST ships in, described on LeCun's MNIST page) is:

    00 00 TT NN    magic: two zero bytes, a type code TT, the number of dimensions NN
    NN x uint32    the size of each dimension, big-endian
    payload        every element in C order, big-endian where an element has several bytes

Compression is detected from the gzip magic bytes (1f 8b), never from the file name, so a
misnamed file still reads. Any malformed input raises IDXFormatError naming the file. The
header's shape bounds what is read: a gzip stream is inflated no further than it declares.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO, TypeVar

import numpy as np

from mnistlab.errors import DataError
from mnistlab.fileio import atomic_write_bytes, open_named

__all__ = ["IDXFormatError", "read_idx", "read_idx_header", "write_idx"]

T = TypeVar("T")

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
# Bytes read or inflated at a time: bounds what a stream can add before it is checked.
_CHUNK = 1 << 20
_EXTRA_CHECKED = 16 * _CHUNK
# 6 is zlib's own default: within 1% of level 9's size on MNIST at a fraction of the time.
_GZIP_LEVEL = 6


class IDXFormatError(DataError):
    """A file is not valid IDX: bad magic, unknown type, truncated or with trailing bytes."""


def read_idx(source: str | os.PathLike | BinaryIO, *, name: str | None = None) -> np.ndarray:
    """Read a whole IDX file (plain or gzip) into a native-endian array of its shape.

    `source` is a path (a regular file: a FIFO or a device is refused) or a binary file object
    (read to its end, not closed). `name` is how error messages refer to the source; it
    defaults to the path or the file object's name. A gzip stream is inflated only as far as
    the header's shape declares, so one that inflates to more is refused without holding it.
    """
    return _with_stream(source, name, _parse)


def read_idx_header(
    source: str | os.PathLike | BinaryIO, *, name: str | None = None
) -> tuple[np.dtype, tuple]:
    """(native-endian element dtype, shape) that an IDX file declares, from its header alone."""

    def header(stream: BinaryIO | _Prefixed, name: str, *, compressed: bool) -> tuple[np.dtype, tuple]:
        dtype, shape, _ = _header(stream, name)
        return dtype.newbyteorder("="), shape

    return _with_stream(source, name, header)


def _with_stream(source: str | os.PathLike | BinaryIO, name: str | None, parse: Callable[..., T]) -> T:
    """`parse(stream, name, compressed=...)` on the uncompressed bytes of a path or a stream."""
    if isinstance(source, (str, os.PathLike)):
        name = name or str(source)
        file, _ = open_named(source, f"IDX file {name}", DataError, "pass the file itself")
        with file:
            try:
                return _uncompressed(file, name, parse)
            except OSError as e:
                raise DataError(f"IDX file {name} cannot be read ({e.strerror or e}).") from None
    if name is None:
        stream_name = getattr(source, "name", None)
        name = stream_name if isinstance(stream_name, str) else "<stream>"
    return _uncompressed(source, name, parse)


class _Prefixed:
    """A stream whose first bytes were already read: `prefix`, then the rest of `stream`."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self.prefix, self.stream = prefix, stream

    def read(self, size: int = -1) -> bytes:
        if not self.prefix:
            return self.stream.read(size)
        if size < 0:
            head, self.prefix = self.prefix, b""
            return head + self.stream.read()
        head, self.prefix = self.prefix[:size], self.prefix[size:]
        return head


def _uncompressed(source: BinaryIO, name: str, parse: Callable[..., T]) -> T:
    magic = source.read(2)
    if magic != _GZIP_MAGIC:
        return parse(_Prefixed(magic, source), name, compressed=False)
    try:
        with gzip.GzipFile(fileobj=_Prefixed(magic, source), mode="rb") as inflated:  # type: ignore[arg-type]
            return parse(inflated, name, compressed=True)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise IDXFormatError(f"{name} is not a valid gzip stream ({e}).") from None


def _read_up_to(stream: BinaryIO | _Prefixed, size: int) -> bytes:
    """Up to `size` bytes: fewer only where the stream ends."""
    parts, left = [], size
    while left > 0:
        part = stream.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _skip(stream: BinaryIO | _Prefixed, limit: int | None = None) -> int:
    """Read and drop the rest of the stream, or `limit` bytes of it; how many bytes there were."""
    skipped = 0
    while limit is None or skipped < limit:
        part = stream.read(_CHUNK if limit is None else min(_CHUNK, limit - skipped))
        if not part:
            break
        skipped += len(part)
    return skipped


def _header(stream: BinaryIO | _Prefixed, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(element dtype as stored, shape, header length in bytes) from the start of an IDX stream."""
    data = _read_up_to(stream, 4)
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
    data += _read_up_to(stream, header_len - 4)
    if len(data) < header_len:
        raise IDXFormatError(
            f"{name} has a truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"found {len(data)}."
        )

    return _DTYPES[code], struct.unpack(f">{ndim}I", data[4:header_len]), header_len


def _parse(stream: BinaryIO | _Prefixed, name: str, *, compressed: bool) -> np.ndarray:
    """Decode an uncompressed IDX stream: the header, then exactly the payload it declares."""
    dtype, shape, header_len = _header(stream, name)
    count = math.prod(shape)
    expected = count * dtype.itemsize
    try:
        # Pages are committed as they are filled, so a header that lies costs only what arrives.
        array = np.empty(count, dtype=dtype)
    except (MemoryError, ValueError):
        raise IDXFormatError(
            f"{name} declares shape {shape}, {expected:,} bytes, more than this machine can hold."
        ) from None
    payload = memoryview(array).cast("B")
    found = 0
    while found < expected:
        part = stream.read(min(expected - found, _CHUNK))
        if not part:
            break
        payload[found : found + len(part)] = part
        found += len(part)
    if found < expected:
        raise IDXFormatError(
            f"{name} is truncated: shape {shape} expected {expected} bytes of payload, found {found}."
        )
    if compressed:
        # Past the payload, at most _EXTRA_CHECKED more bytes are inflated (and dropped): enough
        # for a damaged stream to fail its CRC, while a bomb stops here.
        if _skip(stream, _EXTRA_CHECKED):
            raise IDXFormatError(
                f"{name} inflates to more than the {header_len + expected:,} bytes its IDX header "
                f"declares (shape {shape}); it is corrupt or not an IDX file."
            )
    else:
        extra = _skip(stream)
        if extra:
            raise IDXFormatError(f"{name} has {extra} bytes after the payload of shape {shape}.")
    if not dtype.isnative:  # in place: the result is writable, native-endian and not a copy
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array.reshape(shape)


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
