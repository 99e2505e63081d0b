"""The schema of calibration.json, checked every time one is read (`reader.calibration.read_calibration`).

Built on the run folder's schemas (`mnistlab.runs.schema`: strict JSON, one sentence naming the
file, the field and what was found). Imported on first read only, for pydantic's start-up cost.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from mnistlab.reader.abstention import SCORES
from mnistlab.reader.confidence import INVERSE_T_BOUNDS
from mnistlab.runs.schema import FileSchema, invalid, problem

# The temperatures `fit_temperature` can return (1/T searched in INVERSE_T_BOUNDS): 0.01 sharpens
# the logits 100-fold, 100 flattens them as far. Outside, no fit wrote it: 0 or less divides by
# zero or inverts the ranking, 1e308 turns every image into the uniform guess.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1.0 / INVERSE_T_BOUNDS[1], 1.0 / INVERSE_T_BOUNDS[0]
WHAT = "a calibration file mnistlab wrote"
FIX = "remove it and run `mnistlab calibrate {run_dir}`"


def _temperature(t: float) -> float:
    if not MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:
        raise ValueError(
            f"should be between {MIN_TEMPERATURE:g} and {MAX_TEMPERATURE:g}, the range it is fitted in"
        )
    return t


def _threshold(t: float | None) -> float | None:
    # None (and -inf in files written before null was) is the rule that never abstains.
    if t is not None and (math.isnan(t) or t == math.inf):
        raise ValueError("should be a finite number, or null for a rule that never abstains")
    return t


Temperature = Annotated[float, AfterValidator(_temperature)]
Threshold = Annotated[Annotated[float, Field(allow_inf_nan=True)] | None, AfterValidator(_threshold)]


class Rule(FileSchema):
    score: Literal[SCORES]  # type: ignore[valid-type]
    temperature: Temperature
    threshold: Threshold
    quantile: Annotated[float, Field(ge=0.0, lt=0.5)]
    fitted_on: str


class CalibrationFile(FileSchema):
    format: Literal["mnistlab-calibration/1"]
    temperature: Temperature
    rule: Rule
    validation: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_temperature(self) -> CalibrationFile:
        if self.rule.temperature != self.temperature:
            raise ValueError("rule.temperature should equal temperature")
        return self


def check_calibration(path: Path, text: str, content: dict[str, Any]) -> dict[str, Any]:
    """`content`, calibration.json `path` parsed from `text`, once its schema holds on `text`; a
    threshold of null (never abstain) comes back as -inf, the rule's own value."""
    try:
        checked = CalibrationFile.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise invalid(path, problem(exc), WHAT, FIX) from None
    if checked.rule.threshold is None:
        content["rule"]["threshold"] = -math.inf
    return content
