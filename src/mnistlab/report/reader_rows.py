"""The report's reader section: how sure each model is, and when it says "not a digit".

Each finished run of every row except the ablations is measured by
`mnistlab.evaluation.trust.reader_summary` on the test split, with the temperature and the
abstention rule of its own calibration.json (fitted on its validation split when it finished):
ECE, NLL and Brier score with the raw softmax and calibrated, the share of test images the
rule refuses and the accuracy on the rest, and, in a full report, for each outlier set the
AUROC, the FPR at 95 % TPR and the share refused: the numbers `mnistlab evaluate RUN
--calibration` (clean split) and `--ood` print. A --quick report leaves the outlier sets out
(they are 20,000 more images through each model); its rows have the test split alone.

A run's result is cached under the report's analysis folder, keyed by its results.json and
calibration.json, so a rerun measures only new or recalibrated runs; the outlier sets are
made once per report update, and only when a run needs them.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mnistlab.data import outliers
from mnistlab.data.splits import Dataset
from mnistlab.evaluation.trust import OUTLIERS_PER_SET, outlier_images, reader_summary
from mnistlab.fileio import atomic_write_json
from mnistlab.reader.calibration import CALIBRATION_FILE, calibration_or_default
from mnistlab.report.rows import ANALYSIS_DIR, cached, results_digest
from mnistlab.runs import checkpoint as ckpt


class OutlierSets:
    """The test outlier sets of `evaluate --ood`: `other`'s test split (when there) and the made ones."""

    def __init__(self, data: Dataset, other: Dataset | None) -> None:
        self.data, self.other = data, other
        self.names = ([other.name] if other is not None else []) + list(outliers.MAKERS)
        self._sets: dict[str, torch.Tensor] | None = None

    def get(self) -> dict[str, torch.Tensor]:
        if self._sets is None:
            self._sets = outlier_images(self.data, self.other, "test")
        return self._sets


def _source(run_dir: Path, count: int, sets: OutlierSets | None) -> str:
    calibration = run_dir / CALIBRATION_FILE
    fitted = hashlib.sha256(calibration.read_bytes()).hexdigest()[:16] if calibration.is_file() else "none"
    where = "none" if sets is None else f"{','.join(sets.names)}:{OUTLIERS_PER_SET}:seed{outliers.TEST_SEED}"
    return f"{results_digest(run_dir)}:{fitted}:{count}:{where}"


def run_reader(out_dir: Path, run: dict[str, Any], data: Dataset, sets: OutlierSets | None) -> dict[str, Any]:
    """One finished run's reader summary, from the cache or measured (and cached)."""
    run_dir = out_dir / run["run_dir"]
    source = _source(run_dir, len(data.test), sets)
    cache = out_dir / ANALYSIS_DIR / f"reader-{run_dir.name}.json"
    result = cached(cache, source)
    if result is None:
        record, note = calibration_or_default(run_dir)
        model, _ = ckpt.load_model(run_dir)
        summary = reader_summary(model, data, record, {} if sets is None else sets.get())
        # In JSON's types (lists, not tuples), so results.json read back equals the dict returned.
        result = json.loads(json.dumps({**summary, "calibrated": note is None}))
        atomic_write_json(cache, {"source": source, "result": result})
    return result


def add_reader(
    rows: Sequence[dict[str, Any]], out_dir: Path, data: Dataset, sets: OutlierSets | None
) -> None:
    """Give each finished run of each non-ablation row its reader summary, and each row the mean over seeds (in place)."""
    for row in rows:
        if row.get("baseline"):
            continue
        finished = [run for run in row["runs"] if run["status"] == "finished"]
        for run in finished:
            run["reader"] = run_reader(out_dir, run, data, sets)
        if finished:
            row["reader"] = _row_mean([run["reader"] for run in finished])


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def _row_mean(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of every number of the section; `calibrated` only if every seed was."""
    first = results[0]
    calibration = {
        when: {k: _mean([r["calibration"][when][k] for r in results]) for k in first["calibration"][when]}
        for when in ("before", "after")
    }
    inside = {
        k: _mean([r["ood"]["inside"][k] for r in results])
        for k in ("abstained", "accuracy", "selective_accuracy", "aurc")
    }
    names = [o["outliers"] for o in first["ood"]["outliers"]]
    sets = [
        {
            "outliers": name,
            "images": first["ood"]["outliers"][i]["images"],
            **{
                k: _mean([r["ood"]["outliers"][i][k] for r in results])
                for k in ("auroc", "fpr_at_95_tpr", "abstained")
            },
        }
        for i, name in enumerate(names)
    ]
    return {
        "seeds": len(results),
        "split": "test",
        "images": first["calibration"]["images"],
        "calibrated": all(r["calibrated"] for r in results),
        "temperature": _mean([r["temperature"] for r in results]),
        "ece_after_each_seed": [r["calibration"]["after"]["ece"] for r in results],
        "calibration": calibration,
        "inside": inside,
        "outliers": sets,
    }
