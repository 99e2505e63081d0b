"""Finishing a run killed after its last checkpoint: the test, calibration.json and results.json.

Such a run trained every step but died before its test evaluation and calibration (a SIGKILL, a
power loss); `mnistlab calibrate RUN` finishes it here, as its training would have
(`calibrate_run`), and otherwise fits its calibration anew (`mnistlab.reader.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnistlab.errors import CheckpointError
from mnistlab.reader.calibration import (
    CALIBRATION_FILE,
    DEFAULT_QUANTILE,
    calibrate,
    read_calibration,
)
from mnistlab.runs.checkpoint import read_run_config, require_run_dir
from mnistlab.runs.dataset import load_run_data
from mnistlab.runs.progress import unfinished
from mnistlab.runtime import describe_runtime
from mnistlab.training.loop import train
from mnistlab.training.result import TrainResult


def finish_run(
    run_dir: str | Path, data_dir: str | Path | None = None, device: torch.device | str = "cpu"
) -> TrainResult | None:
    """Finish `run_dir` when it is unfinished after its last step; None when it is not unfinished.

    A run stopped before its last step is refused with the command that continues it: calibrating
    its weights of the moment would make a half-trained run look finished.
    """
    run_dir = require_run_dir(run_dir)
    stopped = unfinished(run_dir)
    if stopped is None:
        return None
    if stopped.step < stopped.steps:
        raise CheckpointError(
            f"{run_dir} is unfinished ({stopped.where}); {stopped.fix} continues it and calibrates it "
            f"when it ends."
        )
    config, _ = read_run_config(run_dir)
    data = load_run_data([run_dir], None, data_dir).dataset
    # No step is left: the resumed loop only tests, calibrates and writes results.json. It draws no
    # outlier, so a run with outlier exposure gets an empty pool instead of loading one.
    no_outliers = torch.zeros(0, 28, 28, dtype=torch.uint8)
    device = torch.device(device)
    return train(
        config,
        data,
        run_dir=run_dir,
        resume=True,
        device=device,
        runtime=describe_runtime(device),
        outliers=no_outliers,
    )


@dataclass(frozen=True)
class Calibrated:
    """What `calibrate_run` did: the calibration record written, where, and the run's test when it
    finished a run killed before it (None otherwise)."""

    record: dict[str, Any]
    path: Path
    finished: TrainResult | None


def calibrate_run(
    run_dir: str | Path,
    data_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    *,
    score: str | None = None,
    quantile: float = DEFAULT_QUANTILE,
    checkpoint: str = "final",
) -> Calibrated:
    """Fit and write `run_dir`'s calibration.json on its validation split with `score` (None: the
    run config's `abstain_score`); a run killed before its test is finished first (`finish_run`),
    and its calibration kept when it was fitted as asked."""
    own = read_run_config(require_run_dir(run_dir))[0].abstain_score
    score = own if score is None else score
    finished = finish_run(run_dir, data_dir, device)
    if finished is not None and (score, quantile, checkpoint) == (own, DEFAULT_QUANTILE, "final"):
        record = read_calibration(run_dir)  # just fitted by the finish, as training would have
        return Calibrated(record, Path(run_dir) / CALIBRATION_FILE, finished)
    record, path = calibrate(run_dir, data_dir, device, score=score, quantile=quantile, checkpoint=checkpoint)
    return Calibrated(record, path, finished)
