"""A ready uint8 copy of a dataset's parsed IDX files in the user cache, keyed by their content.

Parsing the gzip'd IDX files costs about 0.3 s on every run (55 MB to decompress). After
the first parse the four arrays are kept as one raw file, named by a SHA-256 over the four
files' content SHA-256s (the registry's, which `verify` has checked), so new content never
meets an old cache. Layout: an 8-byte magic, a 4-byte little-endian header length, a JSON
header (names, shapes, the payload's size and CRC-32), then the arrays' bytes back to back.
Anything unexpected on reading (missing, truncated, corrupt, another layout) yields None
and the caller parses again; writes are atomic and best effort.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mnistlab.data.verify import cache_root
from mnistlab.fileio import atomic_write_bytes

__all__ = ["cache_key", "cache_path", "load_or_build", "read_arrays", "write_arrays"]

MAGIC = b"MNLABU8\x01"  # the last byte is the layout version
_LENGTH = struct.Struct("<I")


def cache_key(content_sha256s: Sequence[str]) -> str:
    """The cache's name for arrays parsed from files with these content hashes (order matters)."""
    return hashlib.sha256("\n".join(content_sha256s).encode()).hexdigest()


def cache_path(key: str) -> Path:
    return cache_root() / "tensors" / f"{key}.u8"


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write uint8 `arrays` to `path` atomically; on a read-only or full cache, write nothing."""
    if any(a.dtype != np.uint8 for a in arrays.values()):
        raise ValueError("the tensor cache holds uint8 arrays only")
    payload = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values())
    header = json.dumps(
        {
            "arrays": [[name, list(a.shape)] for name, a in arrays.items()],
            "nbytes": len(payload),
            "crc32": zlib.crc32(payload),
        }
    ).encode()
    # Without a cache the next run parses again; that is all.
    with contextlib.suppress(OSError):
        atomic_write_bytes(path, MAGIC + _LENGTH.pack(len(header)) + header + payload)


def read_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays written to `path` (read-only views of it), or None if it is not exactly what was written."""
    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            (length,) = _LENGTH.unpack(f.read(_LENGTH.size))
            header = json.loads(f.read(length))
            nbytes = int(header["nbytes"])
            start = f.tell()
        if path.stat().st_size != start + nbytes:
            return None
        # Mapped, not read: the pages come straight from the OS cache, and the caller's
        # split copies them once (a file replaced later leaves this mapping intact).
        payload = np.memmap(path, dtype=np.uint8, mode="r", offset=start, shape=(nbytes,))
        if zlib.crc32(payload) != header["crc32"]:
            return None
        arrays, offset = {}, 0
        for name, shape in header["arrays"]:
            size = int(np.prod(shape, dtype=np.int64))
            arrays[str(name)] = payload[offset : offset + size].reshape(shape)
            offset += size
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    return arrays if offset == nbytes else None


def load_or_build(
    content_sha256s: Sequence[str], build: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The cached arrays for these content hashes, or `build()`'s, which are then cached."""
    path = cache_path(cache_key(content_sha256s))
    arrays = read_arrays(path)
    if arrays is None:
        arrays = dict(build())
        write_arrays(path, arrays)
    return arrays
