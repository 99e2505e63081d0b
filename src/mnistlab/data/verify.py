"""Content checksums of dataset files, and stamps that remember a file already passed.

Checksums are SHA-256 of the DECOMPRESSED content: mirrors re-compress, so the .gz bytes
of the same data differ while the content does not. Hashing 55 MB on every run would be
wasteful, so a successful check leaves a stamp in the user cache (never beside the data,
which may be shared or read-only); the stamp holds while the file's size and mtime are
unchanged. Both `store` (locating) and `download` (fetching) build on this module.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from pathlib import Path

from mnistlab.errors import DataError
from mnistlab.fileio import atomic_write_bytes

__all__ = ["ChecksumError", "cache_root", "remember_verified", "sha256_of_content", "verify_file"]

_CHUNK = 1 << 20  # bytes per read while hashing


class ChecksumError(DataError):
    """A file's content is not the expected one. The caller knows whose file it is and so
    what the fix is (`mnistlab.data.store` words it); `found` lets it name what the file is."""

    def __init__(self, path: Path, expected: str, found: str) -> None:
        super().__init__(
            f"Dataset file {path} fails its checksum (SHA-256 of the decompressed content: "
            f"expected {expected}, found {found})."
        )
        self.path, self.expected, self.found = path, expected, found


def cache_root() -> Path:
    """mnistlab's user cache: $XDG_CACHE_HOME/mnistlab (default ~/.cache/mnistlab)."""
    # XDG says to ignore an empty or relative XDG_CACHE_HOME.
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "mnistlab"


def sha256_of_content(path: Path) -> str:
    """SHA-256 hex digest of the file's content, decompressed first if it is gzip."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if is_gzip else raw
            digest = hashlib.sha256()
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise DataError(f"Dataset file {path} does not exist.") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(
            f"Dataset file {path} is a corrupt gzip stream ({e}); replace it with an intact copy."
        ) from None
    except OSError as e:
        raise DataError(f"Dataset file {path} cannot be read ({e.strerror}).") from None
    return digest.hexdigest()


def _stamp(path: Path, expected_sha256: str) -> tuple[Path, dict]:
    """Where the stamp of `path` lives and what it must say for the file to count as verified."""
    try:
        resolved = path.resolve()
        stat = resolved.stat()
    except FileNotFoundError:
        raise DataError(f"Dataset file {path} does not exist.") from None
    # Keyed by path so that moving or replacing the file cannot reuse another file's stamp.
    key = hashlib.sha256(os.fsencode(resolved)).hexdigest()
    stamp = {
        "path": str(resolved),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": expected_sha256,
    }
    return cache_root() / "verified" / f"{key}.json", stamp


def verify_file(path: Path, expected_sha256: str, *, remember: bool = True) -> None:
    """Raise ChecksumError unless the decompressed content of `path` has `expected_sha256`.

    A stamp in the user cache remembers a success (unless `remember` is false), so an
    unchanged file is hashed once.
    """
    path = Path(path)
    stamp_path, stamp = _stamp(path, expected_sha256)
    try:
        if json.loads(stamp_path.read_text()) == stamp:
            return
    except (OSError, ValueError):
        pass  # no stamp, or an unreadable one: hash the file

    found = sha256_of_content(path)
    if found != expected_sha256:
        raise ChecksumError(path, expected_sha256, found)
    if remember:
        remember_verified(path, expected_sha256)


def remember_verified(path: Path, expected_sha256: str) -> None:
    """Write the stamp that lets later runs skip hashing `path` (best effort)."""
    stamp_path, stamp = _stamp(Path(path), expected_sha256)
    try:
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(stamp_path, json.dumps(stamp, indent=1).encode())
    except OSError:
        pass  # without a stamp the next run hashes again; that is all
