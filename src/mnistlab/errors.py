"""Errors a user can cause. The CLI turns each into one line and a non-zero exit.

Everything else (a bug) keeps its traceback. Messages are complete sentences that name
the thing at fault and, where there is one, the fix.
"""

from __future__ import annotations


class MnistlabError(Exception):
    """Base class of every error caused by input, files or flags rather than by a bug."""

    exit_code: int = 1


class UsageError(MnistlabError):
    """A bad flag or argument combination (exit status 2, like argparse)."""

    exit_code = 2


class DataError(MnistlabError):
    """A dataset file is missing, unreadable, corrupt or fails its checksum."""


class DownloadError(DataError):
    """Every mirror failed to deliver a verified file."""


class CheckpointError(MnistlabError):
    """A run directory or checkpoint is missing, truncated or belongs to another model."""


class ImageError(MnistlabError):
    """A user's image cannot be read or holds no digit."""


class ExportError(MnistlabError):
    """An export cannot be made: its optional packages are missing or it failed verification."""


class SiteError(MnistlabError):
    """A static page cannot be built: its runtime is missing or damaged, or its folder unwritable."""
