"""What an export produced: the typed result `export_run` returns and MODEL_CARD.md renders.

Kept apart from `export` (which needs the card) and `model_card` (which reads the result), so
neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig
from mnistlab.data.splits import DatasetRecord
from mnistlab.evaluation.metrics import Evaluation
from mnistlab.reader.abstention import AbstentionRule


@dataclass(frozen=True)
class Verification:
    """How closely onnxruntime's logits follow torch's on the same images."""

    count: int
    max_abs_logit_diff: float
    argmax_agreement: float  # fraction of images with the same top class, in [0, 1]
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_abs_logit_diff < self.tolerance and self.argmax_agreement == 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "max_abs_logit_diff": self.max_abs_logit_diff,
            "argmax_agreement": self.argmax_agreement,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class ExportResult:
    """A kept export: where it is, what it holds and how it was checked."""

    path: Path
    card_path: Path
    size_bytes: int
    sha256: str  # of the file's bytes
    run_dir: Path
    config: TrainConfig
    checkpoint: str  # the weights exported: "best" or "last" ("final" resolved)
    step: int | None  # the training step of those weights, when the run records it
    dataset: DatasetRecord
    test: Evaluation  # of the exported weights, from the verification pass
    verification: Verification
    metadata: dict[str, str]  # the ONNX metadata_props, as written
    rule: AbstentionRule  # when the exported model abstains; the metadata's 'abstention'
    calibration: dict[str, Any] | None  # the run's calibration.json; None: never calibrated
    opset: int
    export_seconds: float  # torch.onnx.export and serialisation
    verify_seconds: float  # torch and onnxruntime over the test split
    versions: dict[str, str] = field(default_factory=dict)
    # On the verification's test split: calibration_summary (ECE/NLL/Brier before and after the
    # temperature) and "inside", the rule's abstention and accuracy on the rest.
    test_decision: dict[str, Any] | None = None
