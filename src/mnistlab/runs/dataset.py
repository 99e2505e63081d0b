"""The data a trained run is read with: its own dataset, or another with the same classes.

Every run directory records what it was trained on (`checkpoint.read_dataset_record`, a
`DatasetRecord`).
Commands that read runs (evaluate, ensemble, predict, serve, weights) load that dataset by
name, so nobody has to repeat `--dataset`. Naming another dataset is a domain-shift test
(an MNIST model on a person's own digits) and needs the same class list; runs of different
datasets never mix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mnistlab.data.download import ProgressFn
from mnistlab.data.splits import Dataset, DatasetRecord, load_dataset
from mnistlab.errors import DataError, UsageError
from mnistlab.runs.checkpoint import read_dataset_record

__all__ = ["RunData", "common_dataset_record", "load_run_data"]


@dataclass(frozen=True)
class RunData:
    """The dataset to read runs with, and what they were trained on."""

    dataset: Dataset
    trained_on: DatasetRecord  # the runs' dataset record
    domain_shift: bool  # True when `dataset` is not the one the runs were trained on


def _same_data(a: DatasetRecord, b: DatasetRecord) -> bool:
    if a["name"] != b["name"]:
        return False
    return a.get("sha256") is None or b.get("sha256") is None or a["sha256"] == b["sha256"]


def common_dataset_record(run_dirs: Sequence[str | Path]) -> DatasetRecord:
    """The dataset record the runs share; UsageError when any two were trained on different data."""
    if not run_dirs:
        raise UsageError("At least one run directory is needed.")
    first = read_dataset_record(run_dirs[0])
    for run_dir in run_dirs[1:]:
        record = read_dataset_record(run_dir)
        if not _same_data(first, record):
            other = record["title"] if record["name"] != first["name"] else f"other {record['title']} files"
            raise UsageError(
                f"{run_dirs[0]} was trained on {first['title']} and {run_dir} on {other}; "
                f"runs read together must share one dataset."
            )
    return first


def load_run_data(
    run_dirs: Sequence[str | Path],
    requested: str | None = None,
    data_dir: str | Path | None = None,
    *,
    progress: ProgressFn | None = None,
) -> RunData:
    """Load the runs' own dataset, or `requested` when its class list is the same."""
    trained_on = common_dataset_record(run_dirs)
    dataset = load_dataset(requested or trained_on["name"], data_dir, progress=progress)
    if dataset.name == trained_on["name"]:
        if not _same_data(trained_on, dataset.record()):
            raise DataError(
                f"{run_dirs[0]} was trained on other {trained_on['title']} files than those registered "
                f"as {dataset.name!r} now; add the files it was trained on under another name and pass "
                f"--dataset NAME."
            )
        return RunData(dataset, trained_on, domain_shift=False)
    if list(dataset.classes) != list(trained_on["classes"]):
        raise UsageError(
            f"{run_dirs[0]} was trained on {trained_on['title']} (classes {', '.join(trained_on['classes'])}), "
            f"but {dataset.name} has other classes ({', '.join(dataset.classes)}); a run can only be "
            f"evaluated on a dataset with the same class list."
        )
    return RunData(dataset, trained_on, domain_shift=True)
