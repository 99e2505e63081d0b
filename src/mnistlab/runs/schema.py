"""The schema of each JSON file of a run folder, checked every time one is read.

config.json, state.json, results.json, calibration.json and dataset.json are validated with
pydantic in strict JSON mode (a number is a number, not a string that looks like one; no NaN or
infinity where a value must be finite) before anything acts on them, and a file that fails gets one
sentence naming it, the field and what was found. Keys a schema does not name are kept: a newer
mnistlab may write more. Imported on first read only: pydantic costs a fresh training run's
start-up about 0.13 s that it does not need.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from mnistlab.config import TrainConfig
from mnistlab.errors import CheckpointError, UsageError
from mnistlab.reader.abstention import SCORES
from mnistlab.reader.confidence import _INVERSE_T_BOUNDS
from mnistlab.runs.files import is_plain_name

# The temperatures `fit_temperature` can return (1/T searched in _INVERSE_T_BOUNDS): 0.01 sharpens
# the logits 100-fold, 100 flattens them as far. Outside, no fit wrote it: 0 or less divides by
# zero or inverts the ranking, 1e308 turns every image into the uniform guess.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1.0 / _INVERSE_T_BOUNDS[1], 1.0 / _INVERSE_T_BOUNDS[0]
# Bounds of the built-in models' options (mnistlab.models): far above any recipe (widths <= 192).
MAX_WIDTH, MAX_HIDDEN, MAX_DEPTH = 4096, 65536, 16


class _File(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="allow")


def _plain_name(name: str) -> str:
    if not is_plain_name(name):
        raise ValueError("should be a file name inside the run folder")
    return name


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


FileName = Annotated[str, AfterValidator(_plain_name)]
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
BestAccuracy = Annotated[float, Field(ge=-1.0, le=1.0)]  # -1 before the first validation
Temperature = Annotated[float, AfterValidator(_temperature)]
Threshold = Annotated[Annotated[float, Field(allow_inf_nan=True)] | None, AfterValidator(_threshold)]


class ModelOptions(_File):
    """The options of the built-in models; a model registered by a user may take others."""

    widths: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] | None = Field(None, min_length=1, max_length=8)
    hidden: Annotated[int, Field(ge=0, le=MAX_HIDDEN)] | None = None
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH)] | None = None
    kernel: Annotated[int, Field(ge=1, le=27)] | None = None
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    bias_init: float | None = None


class ConfigFile(_File):
    config: TrainConfig  # its own checks (__post_init__) run too
    runtime: dict[str, Any] = {}


class StateExtra(_File):
    val_accuracy: Fraction | None = None
    test_milestones: dict[Annotated[str, Field(pattern=r"^[0-9]+$")], Fraction] = {}
    train_seconds: Annotated[float, Field(ge=0.0)] = 0.0
    grad_scaler: dict[str, Any] | None = None


class StateFile(_File):
    format: Literal["mnistlab-run/1"] = "mnistlab-run/1"
    model: str
    step: Count
    best_val_accuracy: BestAccuracy
    best_step: Count
    model_file: FileName
    trainer_file: FileName
    extra: StateExtra = StateExtra()


class Milestone(_File):
    step: Count
    test_accuracy: Fraction


class TestSummary(_File):
    accuracy: Fraction | None = None
    confusion: list[list[Count]] | None = None
    count: Count | None = None
    errors: Count | None = None


class ResultsFile(_File):
    model: str | None = None
    recipe: str | None = None
    steps: Count | None = None
    interrupted: bool = False
    test_accuracy: Fraction | None = None
    test_checkpoint: Literal["best", "last"] = "last"
    test: TestSummary | None = None
    val_accuracy: Fraction | None = None
    best_val_accuracy: BestAccuracy | None = None
    best_step: Count | None = None
    train_seconds: Annotated[float, Field(ge=0.0)] | None = None
    test_milestones: list[Milestone] = []


class Rule(_File):
    score: Literal[SCORES]  # type: ignore[valid-type]
    temperature: Temperature
    threshold: Threshold
    quantile: Annotated[float, Field(ge=0.0, lt=0.5)]
    fitted_on: str


class CalibrationFile(_File):
    format: Literal["mnistlab-calibration/1"]
    temperature: Temperature
    rule: Rule
    validation: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_temperature(self) -> CalibrationFile:
        if self.rule.temperature != self.temperature:
            raise ValueError("rule.temperature should equal temperature")
        return self


class DatasetFile(_File):
    name: Annotated[str, Field(min_length=1)]
    classes: list[str] = Field(min_length=2)
    title: str | None = None
    image_kind: str | None = None
    source: str | None = None
    sha256: dict[str, str] | None = None
    validation_size: Count | None = None
    sizes: dict[str, Count] | None = None


# Each file: its schema, what a file failing it is not, and how to repair it.
SCHEMAS: dict[str, tuple[type[_File], str, str]] = {
    "config.json": (ConfigFile, "a valid run config", "restore it or train the run again"),
    "state.json": (StateFile, "a valid checkpoint state", "restore it or train the run again"),
    "results.json": (ResultsFile, "a valid results file", "restore it or train the run again"),
    "dataset.json": (DatasetFile, "a valid dataset record", "restore it or train the run again"),
    "calibration.json": (
        CalibrationFile,
        "a calibration file mnistlab wrote",
        "remove it and run `mnistlab calibrate {run_dir}`",
    ),
}


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else str(part)
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem(error: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """The first thing wrong, as "<field> <what it should be> (found <value>)"."""
    first = error.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    message = message.removeprefix("input ").replace("field required", "is missing")
    where = _field((*prefix, *first["loc"]))
    if not where and first["type"] in ("model_type", "dict_type"):
        return f"it should hold a JSON object (found {_shown(first['input'])})"
    if not where:
        return message
    found = "" if first["type"] == "missing" else f" (found {_shown(first['input'])})"
    return f"{where} {message}{found}"


def invalid(path: Path, why: str) -> CheckpointError:
    _, what, fix = SCHEMAS[path.name]
    return CheckpointError(
        f"{path} is not {what}: {why}; {fix.format(run_dir=shlex.quote(str(path.parent)))}."
    )


def validate(path: Path, text: str) -> Any:
    """The content of run-folder file `path` (`text`, JSON), once its schema holds.

    calibration.json's threshold comes back -inf where the file says null (never abstain).
    """
    schema, _, _ = SCHEMAS[path.name]
    try:
        checked = schema.model_validate_json(text, strict=True)
        if isinstance(checked, ConfigFile):
            options = json.loads(text)["config"].get("model_options", {})
            ModelOptions.model_validate(options, strict=True)
    except ValidationError as exc:
        prefix = ("config", "model_options") if exc.title == "ModelOptions" else ()
        raise invalid(path, problem(exc, prefix)) from None
    except UsageError as exc:  # TrainConfig's own checks
        raise invalid(path, str(exc).rstrip(".")) from None
    content = json.loads(text)
    if isinstance(checked, ConfigFile):
        try:  # keys it does not know, and those an older mnistlab wrote, are TrainConfig's to judge
            TrainConfig.from_dict(content["config"])
        except UsageError as exc:
            raise invalid(path, f"config: {str(exc).rstrip('.')}") from None
    if isinstance(checked, CalibrationFile) and checked.rule.threshold is None:
        content["rule"]["threshold"] = -math.inf
    return content
