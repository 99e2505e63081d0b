"""What an exported file says about itself: the ONNX `metadata_props`, strings only.

Besides the data, classes, pre-processing, recipe and accuracy, the metadata carries the run's
decision (calibration.json): the temperature of its calibrated probabilities and its abstention
rule, so that onnxruntime alone reproduces what `mnistlab predict` answers and when it says
"not a digit" (`DECISION` spells it out; `tests/test_export.py` does it with numpy).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from mnistlab import __version__
from mnistlab.config import TrainConfig
from mnistlab.data.layout import BOX, CENTRE
from mnistlab.data.splits import SIDE, DatasetRecord
from mnistlab.evaluation.metrics import Evaluation
from mnistlab.reader.abstention import AbstentionRule
from mnistlab.runs import checkpoint as ckpt

METADATA_FORMAT = "mnistlab-onnx/1"
INPUT_NAME = "images"
OUTPUT_NAME = "logits"

PREPROCESSING = (
    f"Input: float32 (N, 1, {SIDE}, {SIDE}) in [0, 1], MNIST's uint8 pixels divided by 255, "
    "light ink on a black background. A digit that is not from the dataset must first be made "
    "like MNIST's (what `mnistlab predict` does): grey -> light-on-dark (inverted when the border "
    "is light) -> background subtracted, pixels under 20 % of the strongest ink dropped -> "
    f"cropped to the ink -> longer side scaled to {BOX} px (Lanczos) -> strongest ink = 255 -> "
    f"pasted into a {SIDE}x{SIDE} field with its centre of mass at (row, column) "
    f"({CENTRE:g}, {CENTRE:g}) -> /255. Output: logits; softmax(logits / temperature) gives the "
    "calibrated class probabilities (see 'temperature' and 'decision')."
)
DECISION = (
    "z = logits / temperature (float64); p = softmax(z); score 'msp' = max(p), score 'energy' = "
    "temperature * logsumexp(z). Answer argmax(p) when score >= abstention.threshold, else abstain "
    "(not one of the classes, or unsure); a null threshold never abstains."
)


def abstention_record(rule: AbstentionRule) -> dict[str, Any]:
    """The rule as JSON data; JSON has no infinity, so a threshold of -inf (never abstain) is null."""
    record = rule.to_dict()
    record["threshold"] = rule.threshold if math.isfinite(rule.threshold) else None
    return record


def onnx_metadata(
    run_dir: Path,
    config: TrainConfig,
    checkpoint: str,
    step: int | None,
    dataset: DatasetRecord,
    test: Evaluation,
    rule: AbstentionRule,
    calibrated: bool,
) -> dict[str, str]:
    """The ONNX metadata_props (strings only; JSON where a value has structure). Floats are
    written with repr (JSON does the same), which reads back to the same float."""
    results = ckpt.read_results(run_dir) or {}
    return {
        "mnistlab.format": METADATA_FORMAT,
        "mnistlab.version": __version__,
        "model": config.model,
        "recipe": config.recipe,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "checkpoint": checkpoint,
        "step": "" if step is None else str(step),
        "dataset": dataset["name"],
        "dataset_sha256": json.dumps(dict(dataset["sha256"] or {}), sort_keys=True),
        "classes": json.dumps(list(dataset["classes"])),
        "input": f"{INPUT_NAME}: float32 (N, 1, {SIDE}, {SIDE}) in [0, 1], light ink on black",
        "output": f"{OUTPUT_NAME}: float32 (N, {len(dataset['classes'])}), one per class in 'classes'",
        "preprocessing": PREPROCESSING,
        "temperature": repr(rule.temperature),
        "abstention": json.dumps(abstention_record(rule), sort_keys=True),
        "calibrated": json.dumps(calibrated),  # "false": trained before calibration, never abstains
        "decision": DECISION,
        "test_accuracy": repr(test.accuracy),
        "test_count": str(test.count),
        "run_test_accuracy": "" if results.get("test_accuracy") is None else repr(results["test_accuracy"]),
        "torch": torch.__version__,
    }
