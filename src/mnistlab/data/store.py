"""Where a dataset's files come from, and proof that they hold the right content.

For a built-in dataset, locate_dataset looks, in order, in: the `data_dir` argument (the
CLI's --data-dir), the MNISTLAB_DATA environment variable, the user cache, and finally
downloads into the cache. The first place that answers wins. An explicit directory that
holds no files is an error rather than a reason to fall through: the user asked for that
directory. A user-added dataset is read from `data_dir` when given, else from the folder
it was added from; it is never downloaded.

Every located file is checked against the registry's SHA-256 of its decompressed content
(`mnistlab.data.verify`, which remembers a passed file so it is hashed once). When the
content is wrong, the error says what to do, which depends on whose files they are: files
that match another registered dataset are named as such; mnistlab's own cache may be
fetched again; a person's files are never to be deleted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mnistlab.data.registry import identify_content
from mnistlab.data.spec import DatasetSpec
from mnistlab.data.verify import ChecksumError, cache_root, remember_verified, verify_file
from mnistlab.errors import DataError

if TYPE_CHECKING:
    from mnistlab.data.download import ProgressFn

__all__ = [
    "ENV_VAR",
    "LocatedDataset",
    "default_cache_dir",
    "find_files",
    "locate_dataset",
]

ENV_VAR = "MNISTLAB_DATA"


@dataclass(frozen=True)
class LocatedDataset:
    """A dataset's four verified files and where they were found."""

    spec: DatasetSpec
    paths: dict[str, Path]  # keys: "train_images", "train_labels", "test_images", "test_labels"
    source: str  # "--data-dir", "MNISTLAB_DATA", "cache", "download" or "registered folder"
    root: Path  # the folder holding the files


def default_cache_dir(name: str) -> Path:
    """The user cache folder of dataset `name`: $XDG_CACHE_HOME/mnistlab/<name>."""
    return cache_root() / name


def find_files(
    spec: DatasetSpec, directory: str | os.PathLike, *, label: str = "Data directory"
) -> dict[str, Path] | None:
    """Find the dataset's four files in `directory` or in its `<spec.name>/` subfolder.

    Each file may be plain or .gz (plain wins when both exist). Returns None when neither
    folder holds any of the files, and raises DataError when a folder holds only some.
    `label` starts error messages, e.g. "--data-dir directory".
    """
    directory = Path(directory)
    if not directory.exists():
        raise DataError(
            f"{label} {directory} does not exist; create it or pass the folder that "
            f"holds the {spec.name} files."
        )
    if not directory.is_dir():
        raise DataError(f"{label} {directory} is a file; pass the folder that holds it.")
    for folder in (directory, directory / spec.name):
        try:
            present = set(os.listdir(folder)) if folder.is_dir() else set()
        except OSError as e:
            raise DataError(f"{label} {folder} cannot be read ({e.strerror}); fix its permissions.") from None
        found: dict[str, Path] = {}
        for role, file in spec.files_by_role.items():
            for candidate in (file.filename, file.filename + ".gz"):
                if candidate in present and (folder / candidate).is_file():
                    found[role] = folder / candidate
                    break
        if len(found) == len(spec.files):
            return found
        if found:
            missing = [f.filename for r, f in spec.files_by_role.items() if r not in found]
            raise DataError(
                f"{label} {folder} holds only some of the {spec.name} files: "
                f"{', '.join(missing)} (plain or .gz) are missing; add them or remove the rest."
            )
    return None


def locate_dataset(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    download: bool = True,
    progress: ProgressFn | None = None,
) -> LocatedDataset:
    """Find (or download) the dataset's four files and verify them.

    `env` supplies MNISTLAB_DATA and defaults to os.environ; the cache location always
    follows the process's XDG_CACHE_HOME. `progress` is passed on to a download.
    """
    if spec.folder is not None:
        return _locate_added(spec, data_dir)
    env = os.environ if env is None else env
    explicit = [("--data-dir", data_dir), (ENV_VAR, env.get(ENV_VAR) or None)]
    for source, directory in explicit:
        if directory is None:
            continue
        paths = find_files(spec, directory, label=f"{source} directory")
        if paths is None:
            wanted = ", ".join(f.filename for f in spec.files)
            raise DataError(
                f"{source} directory {directory} holds no {spec.name} files: looked for "
                f"{wanted} (plain or .gz) in it and in its {spec.name}/ subfolder."
            )
        return _verified(spec, paths, source)

    cache = default_cache_dir(spec.name)
    # A partial or corrupt cache is repaired by downloading, which keeps the good files.
    try:
        paths = find_files(spec, cache, label="Cache directory") if cache.is_dir() else None
        if paths is not None:
            return _verified(spec, paths, "cache")
    except DataError:
        if not download:
            raise
    if not download:
        raise DataError(
            f"The {spec.name} dataset is not in the cache {cache}; fetch it with "
            f"`mnistlab data download` or point --data-dir (or {ENV_VAR}) at a local copy."
        )
    from mnistlab.data.download import download_dataset  # urllib only when a download is due

    paths = download_dataset(spec, cache, progress=progress)
    return LocatedDataset(spec=spec, paths=paths, source="download", root=cache)


def _locate_added(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> LocatedDataset:
    """A user-added dataset: in `data_dir` when given, else in the folder it was added from."""
    source, directory = (
        ("--data-dir", Path(data_dir)) if data_dir is not None else ("registered folder", spec.folder)
    )
    assert directory is not None
    wanted = ", ".join(f.filename for f in spec.files)
    if source == "registered folder" and not directory.is_dir():
        raise DataError(
            f"The folder {directory} that dataset {spec.name!r} was added from is gone; restore it, "
            f"pass --data-dir DIR where its files are now, or forget it with `mnistlab data remove {spec.name}`."
        )
    paths = find_files(spec, directory, label=f"{source} directory")
    if paths is None:
        raise DataError(
            f"The {source} {directory} holds no {spec.name} files: looked for {wanted} (plain or .gz); "
            f"restore them or pass --data-dir DIR where they are now."
        )
    return _verified(spec, paths, source)


def _verified(spec: DatasetSpec, paths: dict[str, Path], source: str) -> LocatedDataset:
    # All four must pass before any is remembered: a failed start leaves nothing new behind.
    mismatched: dict[str, ChecksumError] = {}
    for role, file in spec.files_by_role.items():
        try:
            verify_file(paths[role], file.sha256, remember=False)
        except ChecksumError as exc:
            mismatched[role] = exc
    if mismatched:
        raise DataError(_wrong_content(spec, mismatched, source))
    for role, file in spec.files_by_role.items():
        remember_verified(paths[role], file.sha256)
    return LocatedDataset(spec=spec, paths=paths, source=source, root=paths["train_images"].parent)


def _wrong_content(spec: DatasetSpec, mismatched: dict[str, ChecksumError], source: str) -> str:
    """One sentence: what the files are instead, and the fix that fits whose files they are."""
    first = next(iter(mismatched.values()))
    other = identify_content({role: exc.found for role, exc in mismatched.items()}, exclude=spec.name)
    if other is not None:
        return (
            f"The files in {first.path.parent} are {other.display_name}, not {spec.display_name}; "
            f"use --dataset {other.name}."
        )
    checksum = str(first).rstrip(".")
    if source in ("cache", "download"):  # mnistlab put these files there itself
        return (
            f"{checksum}; delete it and fetch it again with `mnistlab data download --dataset {spec.name}`."
        )
    if spec.folder is not None:
        return (
            f"{checksum}: it changed since `mnistlab data add {spec.name}` recorded it; restore the "
            f"original, or record the new files with `mnistlab data remove {spec.name}` and "
            f"`mnistlab data add {spec.name} DIR`."
        )
    return (
        f"{checksum}: these files are not {spec.display_name}; point {source} at the genuine "
        f"{spec.display_name} files, or register your own with `mnistlab data add NAME DIR`."
    )
