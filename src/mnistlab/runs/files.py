"""Which paths of a run folder may be read: regular files inside the folder, of a bounded size.

A run folder may have been copied, edited or made by hand, so a name it holds is input: it is
read only when it is a plain file name, resolves (links followed) inside the folder, and is a
regular file, never a folder, a device or a pipe, which could not be read or never end.
"""

from __future__ import annotations

import stat
from pathlib import Path

from mnistlab.errors import CheckpointError
from mnistlab.fileio import NotRegularFile, open_regular

# A run's JSON files are a few kB (results.json, with its confusion matrix, is the largest);
# this leaves room for any dataset's class list and refuses a file that would only fill memory.
MAX_JSON_BYTES = 16 * 2**20


def is_plain_name(name: object) -> bool:
    """Whether `name` is a file name without any folder part: what mnistlab writes into state.json."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def run_file(path: Path, what: str) -> Path:
    """`path`, a file of the run folder `path.parent`, once known to resolve to a regular file inside it.

    A missing file raises FileNotFoundError, for the caller to say what is missing.
    """
    path = Path(path)
    root = path.parent.resolve()
    resolved = path.resolve(strict=True)  # FileNotFoundError when missing, or a link to nothing
    if not resolved.is_relative_to(root):
        raise CheckpointError(
            f"The {what} {path} leads out of its run folder (to {resolved}); it is not read."
        )
    if not stat.S_ISREG(resolved.stat().st_mode):
        raise CheckpointError(
            f"The {what} {path} is not a regular file (a folder, device or pipe); the run folder is damaged."
        )
    return path


def read_run_file(path: Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of `run_file(path)`, at most `limit` of them (None: no limit)."""
    path = run_file(path, what)
    try:  # checked again on the file opened: one swapped for a pipe is refused, not waited on
        f, _ = open_regular(path)
    except NotRegularFile:
        raise CheckpointError(
            f"The {what} {path} is not a regular file; the run folder is damaged."
        ) from None
    with f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise CheckpointError(
            f"The {what} {path} is larger than {limit // 2**20} MiB; no run writes one so big."
        )
    return data
