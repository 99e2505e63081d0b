"""Opening a file a person names: regular files only, and an open that cannot block.

A FIFO, a device or a socket passed where a file is expected would hang the read (a FIFO with
no writer) or never end it (/dev/zero), so `open_regular` refuses them before reading a byte.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["NotRegularFile", "open_regular"]

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
