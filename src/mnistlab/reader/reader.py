"""A reader: a trained run's model with its temperature and its rule for saying "not a digit".

`Reader.from_run` loads what `predict`, the server and the exports share: the weights, the
run's classes and kind of images, and `calibration.json` (its temperature and abstention rule,
fitted on the validation split). A run trained before calibration existed is read with
temperature 1 and a threshold of 0 (it answers everything), and `note` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.reader.abstention import AbstentionRule
from mnistlab.reader.calibration import calibration_or_default
from mnistlab.reader.prediction import Prediction, image_logits, predictions
from mnistlab.runs.checkpoint import load_model, read_dataset_record


@dataclass(frozen=True)
class Reading:
    """What the reader says about one image: its calibrated probabilities, and whether it answers."""

    prediction: Prediction  # calibrated: softmax(logits / temperature)
    abstain: bool
    score: float  # the rule's score; the reader answers when score >= threshold
    threshold: float

    @property
    def label(self) -> int | None:
        """The most probable class, or None when the reader abstains."""
        return None if self.abstain else self.prediction.label


@dataclass(frozen=True)
class Reader:
    model: nn.Module
    dataset: str  # the name of the dataset the run trained on
    title: str  # how people write it ("Fashion-MNIST")
    classes: tuple[str, ...]
    image_kind: str  # "digits" or "objects": how an image is made its input (`inference.preprocessing`)
    rule: AbstentionRule
    note: str | None = None  # set when the run has no calibration.json

    @property
    def temperature(self) -> float:
        return self.rule.temperature

    @property
    def refusal(self) -> str:
        """What an abstention is called: "not a digit", or "not one of the classes"."""
        return "not a digit" if self.image_kind == "digits" else "not one of the classes"

    def reason(self, reading: Reading) -> str | None:
        if not reading.abstain:
            return None
        return f"{self.refusal}: {self.rule.score} {reading.score:.3f} is below the threshold {reading.threshold:.3f}"

    def read(self, images: np.ndarray | torch.Tensor) -> list[Reading]:
        """Readings for pre-processed images (N, 28, 28) uint8."""
        return self.readings(image_logits(self.model, images))

    def readings(self, logits: torch.Tensor) -> list[Reading]:
        """Readings from the model's logits (N, C): `read` after its forward pass. The server
        runs the forward pass under its lock and decides outside it, one pass per request."""
        if logits.shape[0] == 0:
            return []
        scores = self.rule.scores(logits).tolist()
        return [
            Reading(p, s < self.rule.threshold, s, self.rule.threshold)
            for p, s in zip(predictions(logits, self.temperature), scores, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """What the API and the exports state about the decision."""
        return {
            "temperature": self.temperature,
            "abstention": self.rule.to_dict(),
            "calibrated": self.note is None,
        }

    @classmethod
    def from_run(
        cls, run_dir: str | Path, checkpoint: str = "final", device: torch.device | str = "cpu"
    ) -> Reader:
        model, _ = load_model(run_dir, checkpoint, device)
        return cls.with_model(model, run_dir)

    @classmethod
    def with_model(cls, model: nn.Module, run_dir: str | Path) -> Reader:
        """The reader of `run_dir` with its weights `model`, already loaded (`load_model`)."""
        trained_on = read_dataset_record(run_dir)
        record, note = calibration_or_default(run_dir)
        return cls(
            model=model,
            dataset=trained_on["name"],
            title=trained_on["title"],
            classes=tuple(trained_on["classes"]),
            image_kind=trained_on["image_kind"],
            rule=AbstentionRule.from_dict(record["rule"]),
            note=note,
        )
