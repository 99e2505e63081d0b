"""What a study found: its best trials, Optuna's parameter importances, figures and the best config.

`write_report(study, out_dir)` writes, atomically each:

- `history.png`: Optuna's optimisation history (`optuna.visualization.matplotlib`), of the
  validation accuracy; `pareto.png`, the Pareto front, for two objectives;
  `importances.png`, the parameter importances, once there are enough finished trials;
- `best.toml`: the best trial's whole config, which `mnistlab train TASK --config best.toml`
  trains unchanged (for two objectives: the front's most accurate trial);
- `trials.json`: every trial (number, state, values, params, what it recorded);
- `summary.json`: the summary it returns.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from mnistlab.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from mnistlab.tune.configfile import toml_text
from mnistlab.tune.space import Param, Space
from mnistlab.tune.storage import import_optuna
from mnistlab.tune.study import SPACE_ATTR

TARGET_NAMES = {"val_accuracy": "validation accuracy", "train_seconds": "training seconds",
                "train_flops": "training FLOPs"}  # fmt: skip
BEST_SHOWN = 5


def stored_space(study: Any) -> Space:
    """The space a study searches, rebuilt from what it recorded (`Space.identity`)."""
    identity = study.user_attrs.get(SPACE_ATTR)
    if identity is None:
        from mnistlab.errors import MnistlabError

        raise MnistlabError(f"Study {study.study_name!r} was not made by `mnistlab tune`.")
    params = tuple(Param(**{**p, "choices": tuple(p["choices"])}) for p in identity["params"])
    return Space(identity["task"], identity["recipe"], tuple(identity["objectives"]), "tpe", "none", 0, None,
                 False, identity["fixed"], params)  # fmt: skip


def trial_record(trial: Any) -> dict[str, Any]:
    attrs = dict(trial.user_attrs)
    run_dir = attrs.pop("run_dir", None)
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": trial.values,
        "params": trial.params,
        "run": None if run_dir is None else Path(run_dir).name,
        "seconds": None if trial.duration is None else trial.duration.total_seconds(),
        "attrs": attrs,
    }


def best_trials(study: Any, space: Space) -> list[Any]:
    """The most accurate finished trials (one objective), or the Pareto front, most accurate first."""
    optuna = import_optuna()
    if len(space.objectives) == 2:
        front = study.best_trials
    else:
        front = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted(front, key=lambda t: (-t.values[0], t.number))[
        : None if len(space.objectives) == 2 else BEST_SHOWN
    ]


def _targets(space: Space) -> list[Any]:
    """What each objective's importances and figures read: None (the study's own direction) for a
    single objective; with two, the value to make low (PED-ANOVA's convention), accuracy negated."""
    if len(space.objectives) == 1:
        return [None]
    return [lambda t: -t.values[0], lambda t: t.values[1]]


def importances(study: Any, space: Space) -> dict[str, dict[str, float] | None]:
    """Optuna's parameter importances for each objective; None while too few trials finished."""
    optuna = import_optuna()
    out: dict[str, dict[str, float] | None] = {}
    for name, target in zip(space.objectives, _targets(space), strict=True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "computes the importances ... low target"
                out[name] = optuna.importance.get_param_importances(study, target=target)
        except (RuntimeError, ValueError):
            out[name] = None
    return out


def _save(ax: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = ax.figure
    figure.set_size_inches(7, 4.5)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def write_figures(study: Any, space: Space, out_dir: Path, found: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no window
    from optuna.visualization import matplotlib as plots

    names = [TARGET_NAMES[o] for o in space.objectives]
    two = len(space.objectives) == 2
    target = (lambda t: t.values[0]) if two else None
    written = ["history.png"]
    _save(
        plots.plot_optimization_history(study, target=target, target_name=names[0]), out_dir / "history.png"
    )
    if two:
        _save(plots.plot_pareto_front(study, target_names=names), out_dir / "pareto.png")
        written.append("pareto.png")
    if found.get(space.objectives[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ax = plots.plot_param_importances(study, target=_targets(space)[0], target_name=names[0])
        _save(ax, out_dir / "importances.png")
        written.append("importances.png")
    return written


def write_report(study: Any, out_dir: Path | str) -> dict[str, Any]:
    """The figures, best.toml, trials.json and summary.json in `out_dir`; returns the summary."""
    out_dir = Path(out_dir)
    space = stored_space(study)
    optuna = import_optuna()
    states = [t.state.name for t in study.trials]
    best = best_trials(study, space)
    if not best:
        from mnistlab.errors import MnistlabError

        raise MnistlabError(f"Study {study.study_name!r} has no finished trial yet; run some first.")
    found = importances(study, space)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = write_figures(study, space, out_dir, found)
    config = space.config(best[0].params)
    header = [
        f"The best trial of study {study.study_name!r}: trial {best[0].number}, validation accuracy "
        f"{best[0].values[0]:.4%} (the test split was not evaluated by any trial).",
        f"Train it with: mnistlab train {space.task} --config best.toml",
    ]
    atomic_write_text(out_dir / "best.toml", toml_text(config, header))
    atomic_write_json(out_dir / "trials.json", [trial_record(t) for t in study.trials])
    summary = {
        "study": study.study_name,
        "task": space.task,
        "recipe": space.recipe,
        "objectives": list(space.objectives),
        "trials": {s: states.count(s) for s in sorted(set(states))},
        "best": [trial_record(t) for t in best],
        "importances": found,
        "recorded": {k: v for k, v in study.user_attrs.items() if k != SPACE_ATTR},
        "space": study.user_attrs[SPACE_ATTR],
        "files": sorted([*files, "best.toml", "trials.json", "summary.json"]),
        "optuna": optuna.__version__,
    }
    atomic_write_json(out_dir / "summary.json", summary)
    return summary
