"""A study: created or continued on its storage, then trials until `n_trials` or the timeout.

The study records, as Optuna user attributes, the space it searches (`Space.identity`), the
dataset's name and file hashes, the machine that created it and the versions of torch and
mnistlab; every trial records its host, CPU, torch and run folder. A study is continued
only with the same space and data: anything else is refused before a trial is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mnistlab import __version__
from mnistlab.errors import MnistlabError, UsageError
from mnistlab.tune.objective import TrialContext, run_trial
from mnistlab.tune.space import Space
from mnistlab.tune.storage import fail_dead_trials, import_optuna

SPACE_ATTR = "space"
DATASET_ATTR = "dataset"


def study_attrs(space: Space, dataset: Mapping[str, Any], runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The user attributes a new study is given."""
    machine = {k: runtime.get(k) for k in ("cpu", "cpu_count", "cpu_flags", "platform", "device", "gpu")}
    return {
        SPACE_ATTR: space.identity(),
        DATASET_ATTR: {"name": dataset["name"], "sha256": dataset["sha256"], "sizes": dataset.get("sizes")},
        "machine": {k: v for k, v in machine.items() if v is not None},
        "torch": runtime.get("torch"),
        "python": runtime.get("python"),
        "mnistlab": __version__,
    }


def sampler_and_pruner(space: Space) -> tuple[Any, Any]:
    optuna = import_optuna()
    if space.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=space.seed)
    elif space.sampler == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=space.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=space.seed, n_startup_trials=space.startup_trials)
    pruner = optuna.pruners.NopPruner()
    if space.pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials)
    return sampler, pruner


def directions(space: Space) -> list[str]:
    return ["maximize", *(["minimize"] if len(space.objectives) == 2 else [])]


def open_study(
    space: Space, name: str, storage: Any, *, attrs: Mapping[str, Any], trials_dir: Path
) -> tuple[Any, list[int]]:
    """The study `name` on `storage`, created or checked against `attrs`; returns it and the
    numbers of this host's trials found dead (now failed)."""
    optuna = import_optuna()
    sampler, pruner = sampler_and_pruner(space)
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        held = trials_dir.is_dir() and any(trials_dir.iterdir())
        if held and name not in optuna.study.get_all_study_names(storage):  # not another process's new study
            raise MnistlabError(
                f"{trials_dir} holds trials but its storage has no study {name!r}; pass the storage "
                "they belong to, or another study folder."
            ) from None
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=sampler, pruner=pruner,
            directions=directions(space), load_if_exists=True,
        )  # fmt: skip
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is None and study.trials:
        raise MnistlabError(f"Study {name!r} was not made by `mnistlab tune`; name another with --study.")
    if stored is not None:
        _check_same(name, study.user_attrs, attrs)
        return study, fail_dead_trials(study, optuna)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if space.baseline:
        study.enqueue_trial(space.base_values(), user_attrs={"baseline": True}, skip_if_exists=True)
    return study, []


def _check_same(name: str, stored: Any, attrs: Mapping[str, Any]) -> None:
    """A study continues only with the same space, on the same data (name and file hashes)."""
    if stored[SPACE_ATTR] != attrs[SPACE_ATTR]:
        raise UsageError(
            f"Study {name!r} searches another space than this file (its recipe, fixed values, "
            "parameters or objectives differ); pass --study NEW_NAME to start another study."
        )
    data, here = stored.get(DATASET_ATTR) or {}, attrs[DATASET_ATTR]
    if (data.get("name"), data.get("sha256")) != (here["name"], here["sha256"]):
        raise UsageError(
            f"Study {name!r} was run on {data.get('name')} with other file hashes than the "
            f"{here['name']} loaded here; point --data-dir at its data or start another study."
        )


def run_study(
    study: Any,
    context: TrialContext,
    *,
    n_trials: int | None,
    timeout: float | None,
    on_trial: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Trials in this process until `n_trials` of them ended or `timeout` seconds passed (checked
    between trials); returns this process's finished trials (Optuna's FrozenTrial)."""
    done: list[Any] = []

    def callback(_study: Any, trial: Any) -> None:
        done.append(trial)
        if on_trial is not None:
            on_trial(trial)

    study.optimize(
        lambda trial: run_trial(context, trial), n_trials=n_trials, timeout=timeout, callbacks=[callback]
    )
    return done


def search_summary(study: Any, done: list[Any], study_dir: Path) -> dict[str, Any]:
    """What a search leaves: this process's trials, the study's trials by state, the best one."""
    states = [t.state.name for t in study.trials]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = max(complete, key=lambda t: t.values[0], default=None)
    return {
        "study": study.study_name,
        "study_dir": str(study_dir),
        "this_process": [{"number": t.number, "state": t.state.name, "values": t.values} for t in done],
        "trials": {s: states.count(s) for s in sorted(set(states))},
        "best": None
        if best is None
        else {"number": best.number, "values": best.values, "params": best.params},
    }
