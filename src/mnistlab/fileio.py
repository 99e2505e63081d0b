"""Safe file reads and atomic file writes.

Writes: readers see the old file or the new one, never half of either; every file mnistlab
writes (data, stamps, checkpoints, results, figures) goes through here.

Reads of a file a person names: a FIFO, a device or a socket passed where a file is expected
would hang the read (a FIFO with no writer) or never end it (/dev/zero), so `open_regular`
refuses them before reading a byte.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder, fsync, then rename.

    The temporary file lives in the same directory because os.replace is only atomic within
    one file system; it is removed if anything fails, including KeyboardInterrupt.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    # os.open with 0o666 lets the umask decide the mode, as for any new file (mkstemp: 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def pending_file(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name next to `path`, renamed to `path` if the block ends without an error.

    For files that must be checked after they are written (an exported model run by another
    library): on any error, including KeyboardInterrupt, the temporary file is removed and
    `path` is left as it was. The folder must exist.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_KINDS = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "named pipe (FIFO)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


class NotRegularFile(Exception):
    """The path names something other than a regular file; `kind` says what, e.g. "folder"."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _check(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFile(next((kind for test, kind in _KINDS if test(mode)), "special file"))


def open_regular(path: str | os.PathLike) -> tuple[BinaryIO, int]:
    """(binary file open for reading, its size in bytes) when `path` is a regular file.

    Raises NotRegularFile for anything else, and OSError (FileNotFoundError, PermissionError, ...)
    as `open` would. The path is checked before it is opened, so no device is ever opened, and
    again after, on the file actually opened; O_NONBLOCK means even a FIFO swapped in between
    cannot make the open wait for a writer.
    """
    _check(os.stat(path).st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        _check(info.st_mode)
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def open_named(path: str | os.PathLike, what: str, error: type[Exception], fix: str) -> tuple[BinaryIO, int]:
    """`open_regular` for a file a person named, each way it fails one sentence as `error`:
    "{what} does not exist", "is a directory" or "is a {kind}, not a regular file" (then `fix`),
    or "cannot be read" with the system's reason."""
    try:
        return open_regular(path)
    except FileNotFoundError:
        raise error(f"{what} does not exist; check the path.") from None
    except NotRegularFile as exc:
        if exc.kind == "folder":
            raise error(f"{what} is a directory; {fix}.") from None
        raise error(f"{what} is a {exc.kind}, not a regular file; {fix}.") from None
    except OSError as exc:
        raise error(f"{what} cannot be read ({exc.strerror or exc}).") from None
