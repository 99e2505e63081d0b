"""A search space: SPACE.toml read, checked and turned into trial configs.

A space names a base recipe (`[study] task`, `recipe`), values every trial shares
(`[fixed]`, any `TrainConfig` key, as in a config file) and the parameters to search
(`[params]`): floats (linear or log), ints, or categoricals, over any `TrainConfig` field or
`model_options.<key>`::

    [study]
    task = "softmax"
    recipe = "softmax"              # default: the task's (paper) recipe
    objectives = ["val_accuracy"]   # a second, "train_seconds" or "train_flops", gives a Pareto front
    sampler = "tpe"                 # "tpe" | "random" | "nsga2"
    pruner = "median"               # "median" | "none" (two objectives: none)

    [fixed]
    steps = 300

    [params]
    lr = { type = "float", low = 0.05, high = 2.0, log = true }
    batch_size = { type = "categorical", choices = [50, 100, 200] }

Everything is checked here, before any study or file exists: an unknown key, a range of the
wrong type for its field, or a value `TrainConfig` or the model refuses is one `UsageError`.
Nothing here imports Optuna: `suggest` takes any object with Optuna's `suggest_*` methods.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig, read_config_file
from mnistlab.errors import UsageError
from mnistlab.recipes import recipe_defaults

OBJECTIVES = ("val_accuracy",)  # the first objective, maximised
SECOND_OBJECTIVES = ("train_seconds", "train_flops")  # minimised
SAMPLERS = ("tpe", "random", "nsga2")
PRUNERS = ("median", "none")
STUDY_KEYS = ("task", "recipe", "objectives", "sampler", "pruner", "startup_trials", "seed", "baseline")
RANGE_KEYS = {
    "float": ("low", "high", "log", "step"),
    "int": ("low", "high", "log", "step"),
    "categorical": ("choices",),
}
OPTIONS = "model_options."
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


@dataclass(frozen=True)
class Param:
    """One searched parameter: a float or int range, or a list of choices."""

    name: str  # a TrainConfig field, or "model_options.<key>"
    kind: str  # "float" | "int" | "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The trial's value (Optuna's `suggest_*`); list choices travel as JSON strings."""
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step or 1)
        return self.decode(trial.suggest_categorical(self.name, self.encoded_choices()))

    def encoded_choices(self) -> list[Any]:
        return [json.dumps(c) if isinstance(c, list | dict) else c for c in self.choices]

    def decode(self, value: Any) -> Any:
        """A stored value back to the config's: JSON strings of list choices become lists."""
        encoded = self.encoded_choices()
        return (
            self.choices[encoded.index(value)] if self.kind == "categorical" and value in encoded else value
        )

    def corners(self) -> list[Any]:
        """The values `check` builds a config with: both ends of a range, every choice."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class Space:
    task: str
    recipe: str
    objectives: tuple[str, ...]
    sampler: str
    pruner: str
    startup_trials: int
    seed: int | None
    baseline: bool  # enqueue the recipe's own values as the study's first trial
    fixed: Mapping[str, Any]
    params: tuple[Param, ...]

    def config(self, values: Mapping[str, Any]) -> TrainConfig:
        """The TrainConfig of a trial with parameter values `values` (name -> value)."""
        merged = {**recipe_defaults(self.task, self.recipe), **self.fixed}
        options = dict(merged.get("model_options", {}))
        for param in self.params:
            value = param.decode(values[param.name])
            if param.name.startswith(OPTIONS):
                options[param.name[len(OPTIONS) :]] = value
            else:
                merged[param.name] = value
        return TrainConfig.from_dict({**merged, "model_options": options})

    def base_values(self) -> dict[str, Any]:
        """The recipe's (with `[fixed]`) own values of the searched parameters, for `baseline`."""
        base = TrainConfig.from_dict({**recipe_defaults(self.task, self.recipe), **self.fixed}).to_dict()
        out = {}
        for p in self.params:
            if p.name.startswith(OPTIONS):
                value = base["model_options"].get(p.name[len(OPTIONS) :])
            else:
                value = base[p.name]
            if value is not None:  # an option the recipe leaves to the model's default: sampled instead
                out[p.name] = json.dumps(list(value)) if isinstance(value, list | tuple) else value
        return out

    def identity(self) -> dict[str, Any]:
        """What makes two studies the same search; a study refuses a space that differs in it."""
        return json.loads(
            json.dumps(
                {
                    "task": self.task,
                    "recipe": self.recipe,
                    "objectives": list(self.objectives),
                    "fixed": dict(self.fixed),
                    "params": [dataclasses.asdict(p) for p in self.params],
                },
                sort_keys=True,
            )
        )


def read_space(path: str | Path) -> Space:
    """SPACE.toml (or .json) read and checked; a UsageError names what is wrong."""
    return parse_space(read_config_file(path), str(path))


def parse_space(values: Mapping[str, Any], source: str) -> Space:
    _only(values, ("study", "fixed", "params"), f"{source}")
    study = _table(values, "study", source)
    _only(study, STUDY_KEYS, f"{source} [study]")
    fixed = _table(values, "fixed", source)
    searched = dict(_table(values, "params", source))
    options = searched.pop("model_options", None)  # TOML's dotted keys: model_options.dropout = {...}
    if isinstance(options, Mapping) and "type" not in options:
        searched.update({f"{OPTIONS}{k}": v for k, v in options.items()})
    elif options is not None:
        searched["model_options"] = options  # refused below: search model_options.<key>
    params = tuple(_param(name, spec, source) for name, spec in searched.items())
    if not params:
        raise UsageError(f"{source} searches nothing; add parameters under [params].")
    objectives = tuple(study.get("objectives", ["val_accuracy"]))
    if (
        not 1 <= len(objectives) <= 2
        or objectives[0] not in OBJECTIVES
        or (len(objectives) == 2 and objectives[1] not in SECOND_OBJECTIVES)
    ):
        raise UsageError(
            f'{source}: objectives must be ["val_accuracy"] or ["val_accuracy", X] with X one of '
            f"{', '.join(SECOND_OBJECTIVES)}, got {list(objectives)}."
        )
    pruner = study.get("pruner", "median" if len(objectives) == 1 else "none")
    space = Space(
        task=str(study.get("task", "")),
        recipe=str(study.get("recipe", study.get("task", ""))),
        objectives=objectives,
        sampler=_choice(study.get("sampler", "tpe"), SAMPLERS, "sampler", source),
        pruner=_choice(pruner, PRUNERS, "pruner", source),
        startup_trials=_int(study.get("startup_trials", 5), "startup_trials", source),
        seed=None if study.get("seed") is None else _int(study["seed"], "seed", source),
        baseline=bool(study.get("baseline", False)),
        fixed=dict(fixed),
        params=params,
    )
    if space.pruner != "none" and len(objectives) == 2:
        raise UsageError(f'{source}: Optuna prunes single-objective studies only; set pruner = "none".')
    _check(space, source)
    return space


def _check(space: Space, source: str) -> None:
    """Build the config at each end of every range and with every choice, and its model once each."""
    if not space.task:
        raise UsageError(f'{source} [study] must name a task, e.g. task = "cnn".')
    recipe_defaults(space.task, space.recipe)  # an unknown recipe is one sentence
    first = {p.name: p.corners()[0] for p in space.params}
    built: set[str] = set()
    for param in space.params:
        for value in param.corners():
            try:
                config = space.config({**first, param.name: value})
            except UsageError as exc:
                raise UsageError(f"{source}: with {param.name} = {value!r}: {exc}") from None
            key = json.dumps([config.model, dict(config.model_options)], sort_keys=True)
            if key not in built:
                from mnistlab.models import create_model  # torch: only once the file itself is sound

                built.add(key)
                create_model(config.model, **config.model_options)


def _param(name: str, spec: Any, source: str) -> Param:
    where = f"{source} [params] {name}"
    field = name if not name.startswith(OPTIONS) else None
    if field is not None and (field not in _FIELD_TYPES or field in ("model_options", "recipe")):
        known = ", ".join(sorted(k for k in _FIELD_TYPES if k not in ("model_options", "recipe")))
        raise UsageError(
            f"{where}: unknown field; search a TrainConfig field ({known}) or model_options.<key>."
        )
    if not isinstance(spec, Mapping) or spec.get("type") not in RANGE_KEYS:
        raise UsageError(f'{where} must be a table with type = "float", "int" or "categorical".')
    kind = spec["type"]
    _only(spec, ("type", *RANGE_KEYS[kind]), where)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"{where}: choices must be a non-empty list.")
        param = Param(name, kind, choices=tuple(choices))
    else:
        number = int if kind == "int" else (int, float)
        ends = [spec.get("low"), spec.get("high"), *([spec["step"]] if "step" in spec else [])]
        if any(isinstance(v, bool) or not isinstance(v, number) for v in ends):
            raise UsageError(
                f"{where}: low, high (and step) must be {'integers' if kind == 'int' else 'numbers'}, got {ends}."
            )
        if not spec["low"] < spec["high"] or (spec.get("log") and spec["low"] <= 0):
            raise UsageError(
                f"{where}: need low < high (and low > 0 with log = true), got {spec['low']} and {spec['high']}."
            )
        if spec.get("log") and "step" in spec:
            raise UsageError(f"{where}: a log range takes no step.")
        cast = int if kind == "int" else float
        step = cast(spec["step"]) if "step" in spec else None
        param = Param(name, kind, cast(spec["low"]), cast(spec["high"]), bool(spec.get("log", False)), step)
    if field is not None:
        _check_field_type(param, _FIELD_TYPES[field], where)
    return param


def _check_field_type(param: Param, annotation: str, where: str) -> None:
    """An int field takes an int range, a float field a numeric one, other fields choices of their type."""
    values = param.corners()
    if annotation == "int":
        ok = param.kind in ("int", "categorical") and all(type(v) is int for v in values)
    elif annotation == "float":
        ok = param.kind != "categorical" or all(type(v) in (int, float) for v in values)
    elif annotation == "bool":
        ok = param.kind == "categorical" and all(type(v) is bool for v in values)
    elif annotation == "str":
        ok = param.kind == "categorical" and all(type(v) is str for v in values)
    else:  # tuple fields
        ok = param.kind == "categorical" and all(isinstance(v, list) for v in values)
    if not ok:
        raise UsageError(
            f"{where}: the field is {annotation}, which a {param.kind} search over {values} does not give."
        )


def _table(values: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    table = values.get(key, {})
    if not isinstance(table, Mapping):
        raise UsageError(f"{source}: [{key}] must be a table.")
    return table


def _only(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}.")


def _choice(value: Any, known: tuple[str, ...], key: str, source: str) -> str:
    if value not in known:
        raise UsageError(f"{source}: {key} must be one of {', '.join(known)}, got {value!r}.")
    return str(value)


def _int(value: Any, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{source}: {key} must be a non-negative integer, got {value!r}.")
    return value
