"""The schema of each JSON file of a run folder, checked every time one is read.

config.json, state.json, results.json and dataset.json are validated with
pydantic in strict JSON mode (a number is a number, not a string that looks like one; no NaN or
infinity where a value must be finite) before anything acts on them, and a file that fails gets one
sentence naming it, the field and what was found. Keys a schema does not name are kept: a newer
mnistlab may write more. Imported on first read only: pydantic costs a fresh training run's
start-up about 0.13 s that it does not need. calibration.json's schema is the reader's
(`mnistlab.reader.calibration_file`), built on `problem` and `invalid` here.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mnistlab.config import TrainConfig
from mnistlab.errors import CheckpointError, UsageError
from mnistlab.runs.files import is_plain_name

# Bounds of the built-in models' options (mnistlab.models): far above any recipe (widths <= 192).
MAX_WIDTH, MAX_HIDDEN, MAX_DEPTH = 4096, 65536, 16


class FileSchema(BaseModel):
    """A run-folder JSON file: strict JSON types, no NaN or infinity, unknown keys kept."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="allow")


def _plain_name(name: str) -> str:
    if not is_plain_name(name):
        raise ValueError("should be a file name inside the run folder")
    return name


FileName = Annotated[str, AfterValidator(_plain_name)]
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
BestAccuracy = Annotated[float, Field(ge=-1.0, le=1.0)]  # -1 before the first validation


class ModelOptions(FileSchema):
    """The options of the built-in models; a model registered by a user may take others."""

    widths: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] | None = Field(None, min_length=1, max_length=8)
    hidden: Annotated[int, Field(ge=0, le=MAX_HIDDEN)] | None = None
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH)] | None = None
    kernel: Annotated[int, Field(ge=1, le=27)] | None = None
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    bias_init: float | None = None


class ConfigFile(FileSchema):
    config: TrainConfig  # its own checks (__post_init__) run too
    runtime: dict[str, Any] = {}


class StateExtra(FileSchema):
    val_accuracy: Fraction | None = None
    test_milestones: dict[Annotated[str, Field(pattern=r"^[0-9]+$")], Fraction] = {}
    train_seconds: Annotated[float, Field(ge=0.0)] = 0.0
    grad_scaler: dict[str, Any] | None = None


class StateFile(FileSchema):
    format: Literal["mnistlab-run/1"] = "mnistlab-run/1"
    model: str
    step: Count
    best_val_accuracy: BestAccuracy
    best_step: Count
    model_file: FileName
    trainer_file: FileName
    extra: StateExtra = StateExtra()


class Milestone(FileSchema):
    step: Count
    test_accuracy: Fraction


class TestSummary(FileSchema):
    accuracy: Fraction | None = None
    confusion: list[list[Count]] | None = None
    count: Count | None = None
    errors: Count | None = None


class ResultsFile(FileSchema):
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


class DatasetFile(FileSchema):
    name: Annotated[str, Field(min_length=1)]
    classes: list[str] = Field(min_length=2)
    title: str | None = None
    image_kind: str | None = None
    source: str | None = None
    sha256: dict[str, str] | None = None
    validation_size: Count | None = None
    sizes: dict[str, Count] | None = None


# Each file: its schema, what a file failing it is not, and how to repair it.
SCHEMAS: dict[str, tuple[type[FileSchema], str, str]] = {
    "config.json": (ConfigFile, "a valid run config", "restore it or train the run again"),
    "state.json": (StateFile, "a valid checkpoint state", "restore it or train the run again"),
    "results.json": (ResultsFile, "a valid results file", "restore it or train the run again"),
    "dataset.json": (DatasetFile, "a valid dataset record", "restore it or train the run again"),
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


def invalid(path: Path, why: str, what: str | None = None, fix: str | None = None) -> CheckpointError:
    """One sentence: `path` is not `what` (a file of SCHEMAS by default), `why`, and `fix`."""
    if what is None or fix is None:
        _, what, fix = SCHEMAS[path.name]
    return CheckpointError(
        f"{path} is not {what}: {why}; {fix.format(run_dir=shlex.quote(str(path.parent)))}."
    )


def validate(path: Path, text: str, content: Any) -> Any:
    """`content`, run-folder file `path` parsed from `text`, once its schema holds on `text`."""
    schema, _, _ = SCHEMAS[path.name]
    try:
        checked = schema.model_validate_json(text, strict=True)
        if isinstance(checked, ConfigFile):
            options = content["config"].get("model_options", {})
            ModelOptions.model_validate(options, strict=True)
    except ValidationError as exc:
        prefix = ("config", "model_options") if exc.title == "ModelOptions" else ()
        raise invalid(path, problem(exc, prefix)) from None
    except UsageError as exc:  # TrainConfig's own checks
        raise invalid(path, str(exc).rstrip(".")) from None
    if isinstance(checked, ConfigFile):
        try:  # keys it does not know, and those an older mnistlab wrote, are TrainConfig's to judge
            TrainConfig.from_dict(content["config"])
        except UsageError as exc:
            raise invalid(path, f"config: {str(exc).rstrip('.')}") from None
    return content
