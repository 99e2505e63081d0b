"""Typed, frozen configuration: the single source of truth for a training run.

Values are resolved in one direction only: a recipe's defaults, then a config file
(TOML or JSON), then command-line flags. The resolved `TrainConfig` is written next to
every checkpoint and result, so a run directory always says how it was made.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.errors import UsageError
from mnistlab.recipes import canonical_model, canonical_recipe, recipe_defaults


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the numbers a training run produces."""

    model: str = "softmax"
    recipe: str = "softmax"
    dataset: str = "mnist"
    steps: int = 1000
    batch_size: int = 100
    optimizer: str = "sgd"  # "sgd" | "adam" | "nesterov"
    lr: float = 0.5
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "constant"  # "constant" | "onecycle"
    warmup_fraction: float = 0.25  # of all steps; only read by "onecycle"
    label_smoothing: float = 0.0
    # Names from AUGMENTATIONS (mnistlab.training.augment implements them); empty: none.
    augmentations: tuple[str, ...] = ()
    eval_every: int = 100  # steps between validation passes
    log_every: int = 50  # steps between progress reports (each costs one host sync)
    seed: int = 0
    model_options: Mapping[str, Any] = field(default_factory=dict)
    precision: str = "fp32"  # "fp32" | "bf16" | "fp16" (CUDA): autocast; weights stay fp32
    # Steps at which the test split is evaluated to show accuracy against steps. Recorded
    # in results.json only: they select nothing (validation picks `best`).
    test_milestones: tuple[int, ...] = ()
    # Outlier exposure (Hendrycks, Mazeika & Dietterich 2019; `mnistlab.training.exposure`): with
    # a weight > 0 each step also sees outlier_fraction x batch_size images of `outlier_sets`
    # ("other": the other built-in dataset's training split), pulled towards the uniform prediction.
    outlier_exposure: float = 0.0
    outlier_fraction: float = 0.5
    outlier_sets: tuple[str, ...] = ("other", "uniform_noise", "blurred_noise", "random_strokes")
    # How the outliers are trained against: "uniform", "class" (one more output, "not a digit")
    # or "objectosphere" (`mnistlab.training.exposure`); the weight is 0 for the first
    # outlier_start x steps, then rises linearly over outlier_ramp x steps.
    outlier_loss: str = "uniform"
    outlier_start: float = 0.0
    outlier_ramp: float = 0.0
    augment_outliers: bool = False  # the outliers get the digits' augmentations too
    # The score the end-of-run calibration's abstention rule thresholds (`mnistlab.reader.abstention`).
    abstain_score: str = "msp"
    # Seconds of training between "last" checkpoints, besides the one after each validation:
    # what a crash (SIGKILL, power loss) can lose at most. Saving changes no number.
    checkpoint_seconds: float = 60.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "log_every"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be a positive integer, got {getattr(self, name)}.")
        if self.lr <= 0:
            raise UsageError(f"lr must be positive, got {self.lr}.")
        if not 0 < self.checkpoint_seconds < math.inf:
            raise UsageError(f"checkpoint_seconds must be a positive number, got {self.checkpoint_seconds}.")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        object.__setattr__(self, "test_milestones", tuple(int(s) for s in self.test_milestones))
        if any(s <= 0 for s in self.test_milestones):
            raise UsageError(f"test_milestones must be positive steps, got {list(self.test_milestones)}.")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}.")
        if isinstance(self.augmentations, str) or not all(isinstance(a, str) for a in self.augmentations):
            raise UsageError(f"augmentations must be a list of names, got {self.augmentations!r}.")
        object.__setattr__(self, "augmentations", tuple(self.augmentations))  # JSON/TOML give lists
        object.__setattr__(self, "outlier_sets", tuple(self.outlier_sets))
        if self.outlier_exposure < 0 or not 0 < self.outlier_fraction <= 4:
            raise UsageError(
                "outlier_exposure must be >= 0 and outlier_fraction in (0, 4], got "
                f"{self.outlier_exposure} and {self.outlier_fraction}."
            )
        if self.outlier_loss not in OUTLIER_LOSSES:
            raise UsageError(
                f"outlier_loss must be one of {', '.join(OUTLIER_LOSSES)}, got {self.outlier_loss!r}."
            )
        if self.abstain_score not in ABSTAIN_SCORES:
            raise UsageError(
                f"abstain_score must be one of {', '.join(ABSTAIN_SCORES)}, got {self.abstain_score!r}."
            )
        if not (0 <= self.outlier_start <= 1 and 0 <= self.outlier_ramp <= 1):
            raise UsageError(
                f"outlier_start and outlier_ramp must be fractions of the steps in [0, 1], got "
                f"{self.outlier_start} and {self.outlier_ramp}."
            )
        unknown_sets = [s for s in self.outlier_sets if s not in OUTLIER_SETS]
        if unknown_sets:
            raise UsageError(
                f"Unknown outlier set {unknown_sets[0]!r}; choose from {', '.join(OUTLIER_SETS)}."
            )
        if self.augmentations:
            unknown = [a for a in self.augmentations if a not in AUGMENTATIONS]
            if unknown:
                raise UsageError(
                    f"Unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)}."
                )

    def outputs(self, classes: int) -> int:
        """The model's outputs for a dataset of `classes`: one more, "not a digit", with the
        "class" outlier objective."""
        return classes + int(self.outlier_exposure > 0 and self.outlier_loss == "class")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model_options"] = dict(self.model_options)
        out["test_milestones"] = list(self.test_milestones)
        out["outlier_sets"] = list(self.outlier_sets)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from its keys; a run's config.json from before `augmentations` replaced the
        `augment` flag reads as the same augmentation (`augmentations_of`), a model's old name
        as its registered one (`recipes.OLD_MODEL_NAMES`), and the old "paper" recipe as its
        task's paper recipe."""
        values = augmentations_of(values)
        if isinstance(values.get("model"), str):
            values["model"] = canonical_model(values["model"])
        if isinstance(values.get("recipe"), str):
            values["recipe"] = canonical_recipe(values["recipe"], str(values.get("model", cls.model)))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(
                f"Unknown config key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(known))}."
            )
        return cls(**values)


OPTIMIZERS = ("sgd", "adam", "nesterov")
# The augmentations a config may name, in the order `mnistlab.training.augment` applies them.
AUGMENTATIONS = (
    "flip",
    "shift",
    "thickness",
    "elastic",
    "slant",
    "affine",
    "lowres",
    "erase",
    "contrast",
    "noise",
)
# What outlier exposure may train on (mnistlab.data.outliers.TRAINABLE, "other", and "pairs"
# of the run's own training digits, training.exposure.digit_pairs);
# letters and near-blank images are kept for evaluation.
# "pen_*": the pen-stroke negatives' training families (mnistlab.data.negatives).
OUTLIER_SETS = ("other", "uniform_noise", "blurred_noise", "random_strokes", "pairs")
OUTLIER_SETS += ("pen_letters", "pen_doodles", "pen_scribbles", "pen_joined_pairs")
OUTLIER_LOSSES = ("uniform", "class", "objectosphere")
ABSTAIN_SCORES = ("msp", "energy")  # mnistlab.reader.abstention.SCORES (tested equal)
PRECISIONS = ("fp32", "bf16", "fp16")


def augmentations_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the retired `augment` flag read as it was: `augment = true` trained with the
    random affine maps unless `augmentations` named others, `augment = false` added nothing."""
    values = dict(values)
    if values.pop("augment", False) and not values.get("augmentations"):
        values["augmentations"] = ("affine",)
    return values


SCHEDULES = ("constant", "onecycle")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or JSON (.json) file of TrainConfig keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot read config file {path}: {exc.strerror}.") from None
    try:
        if path.suffix == ".toml":
            import tomllib  # Python >= 3.11; on 3.10 use a JSON config file.

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except ModuleNotFoundError:
        raise UsageError(f"Reading {path} needs Python 3.11+; use a .json config file instead.") from None
    except ValueError as exc:
        raise UsageError(f"Config file {path} is not valid {path.suffix[1:] or 'JSON'}: {exc}.") from None
    if not isinstance(values, dict):
        raise UsageError(f"Config file {path} must hold a table of keys, not {type(values).__name__}.")
    return values


def resolve_config(
    task: str,
    recipe: str | None = None,
    file_values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Defaults of `recipe` (None: the task's paper recipe), then the config file, then flags
    (None = not given)."""
    values = recipe_defaults(task, recipe)
    file_values = file_values or {}
    if (
        file_values.get("augment") is False
        and "augmentations" not in file_values
        and values.get("augmentations")
    ):
        # `augment = false` switched off the affine maps `best` had from the flag and no recipe's
        # named ones: what it asks of a recipe that names augmentations is for the file to say.
        names = ", ".join(f'"{a}"' for a in values["augmentations"])
        raise UsageError(
            f"The config key augment is gone: write augmentations = [] for no augmentation, "
            f"or keep recipe {values['recipe']}'s augmentations = [{names}] by removing augment."
        )
    values.update(file_values)  # `augment` is read with the recipe's augmentations (from_dict)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return TrainConfig.from_dict(values)
