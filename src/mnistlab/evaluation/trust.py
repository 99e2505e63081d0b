"""How far the reader's answers can be trusted: its temperature and abstention rule, measured.

The run's calibration (`mnistlab.reader.calibration`, fitted on the validation split alone) is
measured here on any split: `calibration_report` and `ood_report` (`reader_calibration` and
`reader_ood` of a `Reader`, what `evaluate --report calibration,ood` prints); the outlier sets
are the other dataset (Fashion-MNIST for a digits run, MNIST for a clothing run) and the
images `mnistlab.data.outliers` makes, from a seed that depends on the split, so the
images a recipe is chosen on (`val`) are not those it is reported on (`test`); for digits also
the pen-stroke negatives of `mnistlab.data.negatives` ("pen_letters", "pen_doodles",
"pen_scribbles", "pen_joined_pairs"), each split from its own fonts, shapes and digits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from mnistlab.data import negatives, outliers
from mnistlab.data.splits import Dataset, Split
from mnistlab.evaluation.corruptions import CORRUPTIONS, corrupt
from mnistlab.fileio import atomic_write_json
from mnistlab.reader.abstention import AbstentionRule, fit_rule, selective, separation
from mnistlab.reader.calibration import DEFAULT_QUANTILE, summary
from mnistlab.reader.confidence import calibration_metrics
from mnistlab.reader.prediction import predict_logits

if TYPE_CHECKING:
    from mnistlab.reader.reader import Reader

OUTLIERS_PER_SET = 2000
NEGATIVES_PER_FAMILY = 500  # pen-stroke negatives per family (~3 ms each to make, then cached)
SEEDS = {"val": outliers.VALIDATION_SEED, "test": outliers.TEST_SEED}
OOD_FILE = "ood.json"  # `evaluate --ood` of the test split, kept in the run folder for the model card


def calibration_report(
    model: nn.Module, split: Split, temperature: float, *, severity: int = 3
) -> dict[str, Any]:
    """ECE, NLL, Brier and the reliability bins before and after scaling, clean and corrupted.

    The corrupted split holds each image once, under one corruption at `severity`, the corruptions
    taken in turn (image i gets corruption i mod 12): as many images as the clean split.
    """
    sets = {"clean": split, "corrupted": one_corruption_each(split, severity)}
    report: dict[str, Any] = {"temperature": temperature, "severity": severity}
    for name, images in sets.items():
        logits = predict_logits(model, images.images).cpu()
        labels = images.labels.cpu()
        report[name] = {
            "images": len(images),
            "before": calibration_metrics(logits, labels, 1.0).to_dict(),
            "after": calibration_metrics(logits, labels, temperature).to_dict(),
        }
    return report


def reader_calibration(reader: Reader, split: Split, *, severity: int = 3) -> dict[str, Any]:
    """`calibration_report` of the reader's model on `split` at the reader's temperature."""
    return calibration_report(reader.model, split, reader.temperature, severity=severity)


def one_corruption_each(split: Split, severity: int) -> Split:
    """`split` with image i under corruption i mod len(CORRUPTIONS), in the original order."""
    images = split.images.clone()
    for c, name in enumerate(CORRUPTIONS):
        images[c :: len(CORRUPTIONS)] = corrupt(split.images[c :: len(CORRUPTIONS)], name, severity)
    return Split(images, split.labels)


def outlier_images(data: Dataset, other: Dataset | None, split: str) -> dict[str, torch.Tensor]:
    """The outlier sets of `split` ("val" or "test"): the other dataset's split, the made ones,
    and for digits the pen-stroke negatives of the split's own fonts, shapes and digits."""
    sets: dict[str, torch.Tensor] = {}
    if other is not None:
        sets[other.name] = other.split(split).images
    for name in outliers.MAKERS:
        sets[name] = outliers.make(name, OUTLIERS_PER_SET, SEEDS[split])
    if outliers.other_dataset_name(data) == "fashion-mnist":  # a digits run
        digits = data.split(split).images
        for family in negatives.FAMILIES:
            pairs = digits if family == "joined_pairs" else None
            sets[f"pen_{family}"] = negatives.cached_negatives(
                family, NEGATIVES_PER_FAMILY, split=split, seed=0, digits=pairs
            )
    return sets


def ood_report(
    model: nn.Module,
    data: Dataset,
    rule: AbstentionRule,
    split: str,
    other: Dataset | None,
    *,
    logits: torch.Tensor | None = None,
    sets: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """The rule on `data`'s `split` (abstention, selective accuracy) and on every outlier set.

    `logits` (of the split's images) and `sets` (`outlier_images(data, other, split)`) may be
    given when already at hand; `sets={}` measures the split alone ("outliers" is then empty).
    """
    inside = data.split(split)
    if logits is None:
        logits = predict_logits(model, inside.images).cpu()
    result: dict[str, Any] = {
        "split": split,
        "rule": rule.to_dict(),
        "inside": selective(rule, logits, inside.labels.cpu()).to_dict(),
        "outliers": [],
    }
    for name, images in (outlier_images(data, other, split) if sets is None else sets).items():
        outside = predict_logits(model, images).cpu()
        result["outliers"].append(separation(rule, logits, outside, name).to_dict())
    return result


def reader_ood(reader: Reader, data: Dataset, split: str, data_dir: str | Path | None) -> dict[str, Any]:
    """`ood_report` of the reader's rule on `data`'s `split`, the other built-in dataset included
    when it is on this machine (in `data_dir`)."""
    other = outliers.other_dataset(data, data_dir)
    return ood_report(reader.model, data, reader.rule, split, other)


def reader_summary(
    model: nn.Module,
    data: Dataset,
    record: dict[str, Any],
    sets: dict[str, torch.Tensor],
) -> dict[str, Any]:
    """What the reproduce report shows of a run: calibration and abstention on the test split.

    `record` is the run's calibration record (`reader.calibration.calibration_or_default`);
    "calibration" holds ECE, NLL, Brier and accuracy with the raw softmax ("before") and the
    run's temperature ("after"), the numbers of `calibration_report`'s clean split without its
    bins; "ood" is `ood_report` on the test split with the outlier sets `sets` (`{}`: none).
    One forward pass over the test split serves both.
    """
    logits = predict_logits(model, data.test.images).cpu()
    temperature = record["temperature"]
    rule = AbstentionRule.from_dict(record["rule"])
    return {
        "temperature": temperature,
        "calibration": calibration_summary(logits, data.test.labels.cpu(), temperature),
        "ood": ood_report(model, data, rule, "test", None, logits=logits, sets=sets),
    }


def calibration_summary(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> dict[str, Any]:
    """ECE, NLL, Brier and accuracy of labelled `logits` with the raw softmax ("before") and at
    `temperature` ("after"): the numbers of `calibration_report`, without the reliability bins."""
    return {
        "images": int(labels.numel()),
        "before": summary(calibration_metrics(logits, labels, 1.0)),
        "after": summary(calibration_metrics(logits, labels, temperature)),
    }


def decision_summary(logits: torch.Tensor, labels: torch.Tensor, rule: AbstentionRule) -> dict[str, Any]:
    """`calibration_summary` at the rule's temperature, and "inside": the rule's `selective` result."""
    logits, labels = logits.cpu(), labels.cpu()
    measured = calibration_summary(logits, labels, rule.temperature)
    return {**measured, "inside": selective(rule, logits, labels).to_dict()}


def write_ood(run_dir: str | Path, report: dict[str, Any]) -> Path:
    """Store an `ood_report` of the test split as RUN_DIR/ood.json, which the model card reads."""
    path = Path(run_dir) / OOD_FILE
    atomic_write_json(path, report)
    return path


def keep_ood(run_dir: str | Path, report: dict[str, Any]) -> tuple[Path | None, str | None]:
    """`write_ood`, and None; or None and why not: a folder that cannot be written to (an
    installed, read-only run) keeps the report on the screen only, and so does the shipped
    reader's folder itself (its files are hashed: `models.pretrained`)."""
    from mnistlab.models.pretrained import READER_DIR

    if Path(run_dir).resolve() == READER_DIR:
        return None, f"{OOD_FILE} not written into the shipped reader's folder."
    try:
        return write_ood(run_dir, report), None
    except OSError as exc:
        return None, f"{run_dir}/{OOD_FILE} not written ({exc.strerror or exc})."


def read_ood(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's stored `ood_report`, or None when `evaluate --ood` never wrote one (or it is unreadable)."""
    try:
        report = json.loads((Path(run_dir) / OOD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and {"rule", "inside", "outliers"} <= report.keys() else None


def compare_scores(
    model: nn.Module,
    data: Dataset,
    temperature: float,
    other: Dataset | None,
    quantile: float = DEFAULT_QUANTILE,
) -> dict[str, dict[str, Any]]:
    """Each score's rule, fitted on validation and measured on the validation outliers."""
    logits = predict_logits(model, data.val.images).cpu()
    where = f"{data.name} validation split ({len(data.val):,} images)"
    return {
        name: ood_report(model, data, fit_rule(logits, name, temperature, quantile, where), "val", other)
        for name in ("msp", "energy")
    }
