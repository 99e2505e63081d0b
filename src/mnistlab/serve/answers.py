"""What `POST /api/predict` answers for one model: `mnistlab predict --json`'s fields, and the API's own.

Each model reads the upload as `predict` reads a file (`inference.number.read_number`), so its
answer holds `predict`'s fields (`inference.number.number_fields`), one shape however many digits
the upload holds: `number` (null when a digit is refused), `abstain`, `reason` (the first refused
digit's), `digits` (each with its `box` in the upload's own pixels, `label`, `class`, calibrated
`probability`, `abstain`, `score`, `threshold`, `reason`, `top` as [label, probability] pairs and
`probabilities`) and `dropped` (specks left out). The API adds the model's `name`, its `ms` and,
per digit, the 28x28 `input` the model saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mnistlab.inference.number import NumberReading, number_fields
from mnistlab.reader.reader import Reader

# The version of the API's answers: 2 gives every reading one shape (one digit is a number of one
# digit); 1 (mnistlab 0.1.0 before it) gave a one-digit reading its own top-level fields.
API_VERSION = "2"


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
        return {"name": self.name, **fields, "digits": digits, "ms": round(self.milliseconds, 3)}
