"""A run's `calibration.json`: its temperature and when it abstains, fitted on its validation split.

Written when a run finishes (or by `mnistlab calibrate RUN` for a run trained before there
was one) and read by everything that shows or thresholds a probability: `predict`, the API
and page, `ensemble` and the ONNX metadata. The rule is stored as plain data; deciding with
it is `mnistlab.evaluation.abstention.AbstentionRule`.

    {"format": "mnistlab-calibration/1",
     "temperature": 1.31,                      # softmax(logits / temperature)
     "rule": {"score": "msp", "temperature": 1.31, "threshold": 0.62, "quantile": 0.005,
              "fitted_on": "mnist validation split (5,000 images)"},
     "validation": {"before": {"nll": ..., "ece": ...}, "after": {...}}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.errors import CheckpointError
from mnistlab.fileio import atomic_write_json
from mnistlab.runs.checkpoint import read_json

CALIBRATION_FILE = "calibration.json"
FORMAT = "mnistlab-calibration/1"
# What a run without calibration.json is read with: the raw softmax, the max-softmax rule
# with a threshold no probability is below, so it answers everything as before.
UNCALIBRATED: dict[str, Any] = {
    "format": FORMAT,
    "temperature": 1.0,
    "rule": {"score": "msp", "temperature": 1.0, "threshold": 0.0, "quantile": 0.0, "fitted_on": "none"},
    "validation": None,
}


def write_calibration(run_dir: str | Path, record: dict[str, Any]) -> Path:
    path = Path(run_dir) / CALIBRATION_FILE
    atomic_write_json(path, {"format": FORMAT, **record})
    return path


def read_calibration(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's calibration record, or None for a run trained before calibration existed."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    record = read_json(path, "calibration file")
    if not isinstance(record, dict) or record.get("format") != FORMAT or "rule" not in record:
        raise CheckpointError(
            f"{path} is not a calibration file mnistlab wrote; remove it and run `mnistlab calibrate {run_dir}`."
        )
    return record


def calibration_or_default(run_dir: str | Path) -> tuple[dict[str, Any], str | None]:
    """The run's calibration record and None, or `UNCALIBRATED` and a one-line note saying so."""
    record = read_calibration(run_dir)
    if record is not None:
        return record, None
    return UNCALIBRATED, (
        f"{run_dir} has no calibration.json (trained before calibration): reading with temperature 1 "
        f"and no abstention; `mnistlab calibrate {run_dir}` adds them."
    )
