"""The reader section's tables as text cells: calibration and abstention on the test split, and
the outlier sets, each row the mean over the seeds that finished (from results.json only)."""

from __future__ import annotations

from typing import Any

from mnistlab.report.cells import percent

CALIBRATION_COLUMNS = (
    ("experiment", "Experiment"),
    ("seeds", "Seeds"),
    ("temperature", "Temperature"),
    ("ece", "ECE, T = 1 → calibrated"),
    ("nll", "NLL"),
    ("brier", "Brier"),
    ("abstained", "Test images refused"),
    ("selective", "Accuracy on the answered (all)"),
)

OUTLIER_COLUMNS = (
    ("experiment", "Experiment"),
    ("outliers", "Outlier set"),
    ("images", "Images"),
    ("auroc", "AUROC"),
    ("fpr", "FPR at 95 % TPR"),
    ("abstained", "Refused"),
)


def _arrow(before: float, after: float, digits: int) -> str:
    return f"{before:.{digits}f} → {after:.{digits}f}"


def calibration_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """Per row with results: temperature, ECE/NLL/Brier before and after it, and the rule on the test split."""
    cells = []
    for row in results["experiments"]:
        r = row.get("reader")
        if not r:
            continue
        before, after, inside = r["calibration"]["before"], r["calibration"]["after"], r["inside"]
        ece = f"{100 * before['ece']:.2f} → {100 * after['ece']:.2f} %"
        if r["seeds"] > 1:
            ece += " (" + " / ".join(f"{100 * e:.2f}" for e in r["ece_after_each_seed"]) + ")"
        cells.append(
            {
                "experiment": row["title"] + ("" if r["calibrated"] else " (not calibrated)"),
                "seeds": str(r["seeds"]),
                "temperature": f"{r['temperature']:.3f}",
                "ece": ece,
                "nll": _arrow(before["nll"], after["nll"], 4),
                "brier": _arrow(before["brier"], after["brier"], 4),
                "abstained": percent(inside["abstained"]),
                "selective": f"{percent(inside['selective_accuracy'])} ({percent(inside['accuracy'])})",
            }
        )
    return cells


def outlier_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """Per row and outlier set: AUROC, FPR at 95 % TPR and the share the run's rule refuses."""
    return [
        {
            "experiment": row["title"],
            "outliers": o["outliers"].replace("_", " "),
            "images": f"{o['images']:,}",
            "auroc": f"{o['auroc']:.4f}",
            "fpr": percent(o["fpr_at_95_tpr"]),
            "abstained": percent(o["abstained"]),
        }
        for row in results["experiments"]
        if row.get("reader")
        for o in row["reader"]["outliers"]
    ]


CALIBRATION_NOTE = (
    "Test split, mean over the seeds that finished (after the ECE: each seed's calibrated ECE). "
    "Each run's temperature and abstention rule are its calibration.json, fitted on its validation "
    "split when it finished; ECE in 15 equal-width bins, NLL in nats, Brier summed over classes, "
    "first with the raw softmax (T = 1), then calibrated: the clean rows of `mnistlab evaluate RUN "
    "--calibration`. Refused: the test images the rule abstains on; then the accuracy on the rest, "
    "and in brackets answering all (`mnistlab evaluate RUN --ood`). A run marked not calibrated has "
    "no calibration.json (T = 1, never refuses)."
)

OUTLIER_NOTE = (
    "The outlier sets of `mnistlab evaluate RUN --ood` (test seed): the other dataset's test split "
    "and the made sets (src/mnistlab/data/outliers.py). AUROC: the probability that a test "
    "image of the dataset scores above an outlier; FPR at 95 % TPR: the share of outliers still "
    "answered when 95 % of the test images are; Refused: the share the run's own rule abstains on. "
    "Mean over the seeds that finished."
)
