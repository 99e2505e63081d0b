"""A run's calibration: its temperature and when it abstains, fitted on its validation split alone,
and stored as `calibration.json`.

`fit_calibration` fits both: the temperature that minimises the validation NLL
(`mnistlab.reader.confidence`), then the threshold below which `DEFAULT_QUANTILE` of the
validation digits score (`mnistlab.reader.abstention`). The record is written when a run finishes (or by `mnistlab calibrate RUN` for a run trained before there was
one, or killed before it was written) and read by everything that shows or thresholds a
probability: `predict`, the API and page, `ensemble` and the ONNX metadata. The rule is stored
as plain data; deciding with it is `mnistlab.reader.abstention.AbstentionRule`.

    {"format": "mnistlab-calibration/1",
     "temperature": 1.31,                      # softmax(logits / temperature)
     "rule": {"score": "msp", "temperature": 1.31, "threshold": 0.62, "quantile": 0.005,
              "fitted_on": "mnist validation split (5,000 images)"},   # threshold null: never abstains
     "validation": {"before": {"nll": ..., "ece": ...}, "after": {...}}}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.fileio import atomic_write_json
from mnistlab.reader.abstention import fit_rule
from mnistlab.reader.confidence import CalibrationMetrics, calibration_metrics, fit_temperature
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import CALIBRATION_FILE, load_model, present, read_json
from mnistlab.runs.dataset import load_run_data
from mnistlab.runs.progress import unfinished

DEFAULT_SCORE = "msp"
DEFAULT_QUANTILE = 0.005  # refuse the 0.5 % least sure validation digits (and all below them)

FORMAT = "mnistlab-calibration/1"
# What a run without calibration.json is read with: the raw softmax, the max-softmax rule
# with a threshold no probability is below, so it answers everything as before.
UNCALIBRATED: dict[str, Any] = {
    "format": FORMAT,
    "temperature": 1.0,
    "rule": {"score": "msp", "temperature": 1.0, "threshold": 0.0, "quantile": 0.0, "fitted_on": "none"},
    "validation": None,
}


def fit_calibration(
    model: nn.Module,
    val: Split,
    dataset: str,
    *,
    score: str = DEFAULT_SCORE,
    quantile: float = DEFAULT_QUANTILE,
) -> dict[str, Any]:
    """The record `write_calibration` stores, fitted on the validation split `val` of `dataset`
    (a name, for the record) only."""
    logits = predict_logits(model, val.images).cpu()
    labels = val.labels.cpu()
    temperature = fit_temperature(logits, labels)
    where = f"{dataset} validation split ({len(val):,} images)"
    rule = fit_rule(logits, score, temperature, quantile, where)
    return {
        "temperature": temperature,
        "rule": rule.to_dict(),
        "validation": {
            "before": summary(calibration_metrics(logits, labels, 1.0)),
            "after": summary(calibration_metrics(logits, labels, temperature)),
        },
    }


def calibrate(
    run_dir: str | Path,
    data_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    *,
    score: str = DEFAULT_SCORE,
    quantile: float = DEFAULT_QUANTILE,
    checkpoint: str = "final",
) -> tuple[dict[str, Any], Path]:
    """Fit `run_dir`'s calibration with its `checkpoint` weights on its validation split, and
    write it: the record and the path of calibration.json."""
    model, _ = load_model(run_dir, checkpoint, device)
    data = load_run_data([run_dir], None, data_dir).dataset
    record = fit_calibration(model, data.val, data.name, score=score, quantile=quantile)
    return record, write_calibration(run_dir, record)


def summary(metrics: CalibrationMetrics) -> dict[str, float]:
    """ECE, NLL, Brier and accuracy: `metrics` without its reliability bins."""
    return {"ece": metrics.ece, "nll": metrics.nll, "brier": metrics.brier, "accuracy": metrics.accuracy}


def calibration_content(record: dict[str, Any]) -> dict[str, Any]:
    """calibration.json's content for `record`; a threshold of -inf (quantile 0: never abstain) is
    written as null, JSON having no infinity."""
    rule = dict(record["rule"])
    if rule["threshold"] == -math.inf:
        rule["threshold"] = None
    return {"format": FORMAT, **record, "rule": rule}


def write_calibration(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Store `record` as `run_dir`'s calibration.json (`calibration_content`)."""
    path = Path(run_dir) / CALIBRATION_FILE
    atomic_write_json(path, calibration_content(record))
    return path


def read_calibration(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's calibration record (checked: `mnistlab.reader.calibration_file`), or None when it has none."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not present(path):
        return None
    from mnistlab.reader.calibration_file import check_calibration  # pydantic, on first read only

    return read_json(path, "calibration file", check_calibration)


def calibration_or_default(run_dir: str | Path) -> tuple[dict[str, Any], str | None]:
    """The run's calibration record and None, or `UNCALIBRATED` and a one-line note saying why."""
    record = read_calibration(run_dir)
    if record is not None:
        return record, None
    stopped = unfinished(run_dir)
    if stopped is not None:
        return UNCALIBRATED, (
            f"{run_dir} is unfinished ({stopped.where}, before its test and calibration): reading with "
            f"temperature 1 and no abstention; {stopped.fix} finishes it."
        )
    return UNCALIBRATED, (
        f"{run_dir} has no calibration.json (trained before calibration): reading with temperature 1 "
        f"and no abstention; `mnistlab calibrate {run_dir}` adds them."
    )
