"""Fetch a dataset's files from its mirrors, verifying each one before it lands.

A file reaches `<dest_dir>/<filename>.gz` only once the SHA-256 of its decompressed
content matches the registry. Until then it lives in a hidden `.<filename>.gz.part-XXXX`
file beside its target, which is removed on every failure path, Ctrl-C included, so the
destination never holds a partial or unverified file. Any failure of a mirror (HTTP error,
network error, timeout, truncated body, corrupt gzip, wrong checksum) hands the turn to the
next one; when all fail, the error lists what went wrong with each.
"""

from __future__ import annotations

import http.client
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from mnistlab.data.spec import DatasetFile, DatasetSpec
from mnistlab.data.verify import sha256_of_content, verify_file
from mnistlab.errors import DataError, DownloadError

__all__ = ["ProgressFn", "download_dataset"]

ProgressFn = Callable[[int, int | None], None]
"""Progress callback: (bytes received of the current file, its total size or None)."""

_CHUNK = 1 << 16  # bytes per read from the network


class _MirrorFailed(Exception):
    """One mirror could not deliver one verified file; the message says why."""


def download_dataset(
    spec: DatasetSpec,
    dest_dir: Path,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    progress: ProgressFn | None = None,
) -> dict[str, Path]:
    """Make `dest_dir` hold the dataset's four verified `.gz` files; return their paths.

    Files already there and verified are kept. Others are fetched from `mirrors` (default:
    the spec's), trying each in order. `timeout` (seconds) bounds connecting and each read.
    Raises DownloadError naming every mirror's failure if no mirror delivers a file.
    """
    mirrors = spec.mirrors if mirrors is None else tuple(mirrors)
    dest_dir = Path(dest_dir)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"Cannot create the download directory {dest_dir} ({e.strerror}); "
            f"make it writable or choose another one."
        ) from None

    paths: dict[str, Path] = {}
    for role, file in spec.files_by_role.items():
        target = dest_dir / f"{file.filename}.gz"
        if not (target.is_file() and _is_verified(target, file)):
            _fetch_file(file, target, mirrors, timeout, progress)
        paths[role] = target
    return paths


def _is_verified(path: Path, file: DatasetFile) -> bool:
    try:
        verify_file(path, file.sha256)
    except DataError:
        return False
    return True


def _fetch_file(
    file: DatasetFile,
    target: Path,
    mirrors: Sequence[str],
    timeout: float,
    progress: ProgressFn | None,
) -> None:
    failures = []
    for mirror in mirrors:
        url = f"{mirror}{file.filename}.gz"
        try:
            _fetch_from(url, target, file.sha256, timeout, progress)
            return
        except _MirrorFailed as e:
            failures.append(f"{url} ({e})")
    tried = "; ".join(failures) if failures else "no mirrors were given"
    raise DownloadError(
        f"Could not download {file.filename}.gz from any mirror: {tried}; use a local copy "
        f"instead with --data-dir DIR or MNISTLAB_DATA=DIR."
    )


def _fetch_from(
    url: str, target: Path, expected_sha256: str, timeout: float, progress: ProgressFn | None
) -> None:
    part = target.parent / f".{target.name}.part-{secrets.token_hex(4)}"
    try:
        _stream(url, part, timeout, progress)
        try:
            found = sha256_of_content(part)
        except DataError:
            raise _MirrorFailed("corrupt or truncated gzip stream") from None
        if found != expected_sha256:
            raise _MirrorFailed(f"checksum mismatch: expected sha256 {expected_sha256}, found {found}")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)  # a no-op once the file has been moved into place


def _stream(url: str, part: Path, timeout: float, progress: ProgressFn | None) -> None:
    """Copy the body at `url` into the new file `part`, or raise _MirrorFailed."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "mnistlab"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "xb") as out:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            done = 0
            if progress is not None:
                progress(done, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as e:
        e.close()
        raise _MirrorFailed(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = "timed out" if isinstance(e.reason, TimeoutError) else str(e.reason)
        raise _MirrorFailed(f"cannot connect: {reason}") from None
    except TimeoutError:
        raise _MirrorFailed(f"timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as e:
        raise _MirrorFailed(f"{type(e).__name__}: {e}") from None
    except ValueError as e:  # urllib's answer to a malformed URL
        raise _MirrorFailed(f"invalid URL: {e}") from None
    # http.client silently stops at EOF, so a cut connection shows only as a short count.
    if total is not None and done < total:
        raise _MirrorFailed(f"truncated: received {done} of {total} bytes")
