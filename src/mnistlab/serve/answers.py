"""What `POST /api/predict` answers for one model: `mnistlab predict --json`'s fields, and the API's own.

Each model reads the upload as `predict` reads a file (`inference.number.read_number`), so its
answer holds `predict`'s fields (`inference.number.number_fields`): `number` (null when a digit
is refused), `digits` (each with its `box` in the upload's own pixels, `label`, `class`,
calibrated `probability`, `abstain`, `score`, `threshold`, `reason`, `top` as [class,
probability] pairs and `probabilities`, plus the 28x28 `input` the model saw for it) and
`dropped` (specks left out). For a one-digit reading the model's own fields are that digit's,
as before numbers were read: `probabilities`, `top` (the index of the most probable class, as
the API always had it), `label`, `abstain`, `score`, `threshold`, `reason`. With several digits
`label`, `class`, `top`, `probability`, `probabilities` and `score` are null, `abstain` says
whether any digit is refused and `reason` names the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mnistlab.inference.number import NumberReading, number_fields
from mnistlab.inference.reader import Reader


def finite(value: float | None) -> float | None:
    """JSON has no infinity (a rule fitted with quantile 0 has threshold -inf): null instead."""
    return value if value is None or math.isfinite(value) else None


@dataclass(frozen=True)
class NumberAnswer:
    """One model's reading of one upload: its digits, left to right, and how long it took."""

    name: str
    reader: Reader
    reading: NumberReading
    milliseconds: float  # this model's whole reading (ink, cuts, forward passes), lock wait excluded

    def to_dict(self) -> dict[str, Any]:
        fields = number_fields(self.reading, self.reader)
        digits = [
            {
                **entry,
                "score": finite(entry["score"]),
                "threshold": finite(entry["threshold"]),
                "input": digit.image.tolist(),
            }
            for entry, digit in zip(fields["digits"], self.reading.digits, strict=True)
        ]
        one = digits[0] if len(digits) == 1 else None
        return {
            "name": self.name,
            "number": fields["number"],
            "label": fields["label"],
            "class": fields["class"],
            "abstain": fields["abstain"],
            "reason": fields["reason"],
            "probabilities": None if one is None else one["probabilities"],
            "top": None if one is None else int(self.reading.digits[0].reading.prediction.label),
            "probability": None if one is None else one["probability"],
            "score": None if one is None else one["score"],
            "threshold": finite(self.reader.rule.threshold),
            "digits": digits,
            "dropped": fields["dropped"],
            "ms": round(self.milliseconds, 3),
        }
