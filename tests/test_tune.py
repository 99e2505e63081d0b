"""`mnistlab tune`: spaces checked, trials as run folders, processes sharing one study, the report.

The trials are the quick space's (softmax, 300 steps, about a second each) or smaller.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistlab.cli import main
from mnistlab.config import TrainConfig, read_config_file
from mnistlab.data import Dataset, Split
from mnistlab.data.splits import registered_record
from mnistlab.errors import MnistlabError, UsageError
from mnistlab.runs.checkpoint import read_results, read_run_config
from mnistlab.tune.space import parse_space, read_space

from .conftest import REPO

optuna = pytest.importorskip("optuna")

QUICK = REPO / "examples" / "tune" / "quick.toml"
FAST = REPO / "examples" / "tune" / "fast.toml"


def tune(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`mnistlab tune ARGS` in its own process, one torch thread."""
    return subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "tune", *args, "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def load(study_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=None, storage=f"sqlite:///{study_dir / 'study.db'}")


def space_text(**params: str) -> str:
    lines = ['[study]\ntask = "softmax"\n[fixed]\nsteps = 60\neval_every = 30\n[params]']
    return "\n".join([*lines, *(f"{k} = {v}" for k, v in params.items())]) + "\n"


# -- the space -----------------------------------------------------------------------------


def test_the_example_spaces_are_sound() -> None:
    quick, fast = read_space(QUICK), read_space(FAST)
    assert quick.task == "softmax" and [p.name for p in quick.params] == ["lr", "batch_size"]
    config = fast.config({"lr": 0.4, "weight_decay": 5e-4, "warmup_fraction": 0.25, "label_smoothing": 0.0})
    assert config.model == "cnn_bn" and config.steps == 215 and config.momentum == 0.9
    assert fast.base_values() == {
        "lr": 0.4,
        "weight_decay": 5e-4,
        "warmup_fraction": 0.25,
        "label_smoothing": 0.0,
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"learning_rate": '{ type = "float", low = 0.1, high = 1.0 }'}, "unknown field"),
        ({"steps": '{ type = "float", low = 10.0, high = 20.0 }'}, "the field is int"),
        ({"steps": '{ type = "int", low = 10.5, high = 20 }'}, "must be integers"),
        ({"lr": '{ type = "int", low = 1, high = 2, width = 3 }'}, "unknown key"),
        ({"lr": '{ type = "float", low = 1.0, high = 0.5 }'}, "need low < high"),
        ({"lr": '{ type = "uniform", low = 0.1, high = 1.0 }'}, "must be a table with type"),
        ({"optimizer": '{ type = "categorical", choices = ["sgd", "lbfgs"] }'}, "optimizer must be one of"),
        ({"model_options.depth": '{ type = "int", low = 1, high = 3 }'}, "Bad options"),
    ],
)
def test_a_bad_space_is_one_sentence(params: dict[str, str], message: str) -> None:
    import tomllib

    with pytest.raises(UsageError, match=message):
        parse_space(tomllib.loads(space_text(**params)), "space.toml")


def test_list_choices_travel_as_json_and_come_back_as_config_values() -> None:
    import tomllib

    text = space_text(
        augmentations='{ type = "categorical", choices = [[], ["noise"], ["affine", "noise"]] }'
    )
    space = parse_space(tomllib.loads(text), "space.toml")
    (param,) = space.params
    assert param.encoded_choices() == ["[]", '["noise"]', '["affine", "noise"]']
    assert space.config({"augmentations": '["affine", "noise"]'}).augmentations == ("affine", "noise")


# -- bad input leaves the study untouched ---------------------------------------------------


def test_bad_input_is_one_line_and_touches_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(space_text(stepz='{ type = "int", low = 1, high = 2 }'))
    assert main(["tune", str(bad), "--dir", str(tmp_path / "s1")]) == 2
    assert not (tmp_path / "s1").exists()
    assert capsys.readouterr().err.count("\n") == 1
    unreachable = "sqlite:////no/such/folder/study.db"
    assert main(["tune", str(QUICK), "--dir", str(tmp_path / "s2"), "--storage", unreachable]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnistlab: error: Cannot open the study storage") and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the extra were not installed
    assert main(["tune", str(QUICK)]) == 2
    assert "pip install 'mnistlab[tune]'" in capsys.readouterr().err


def test_a_journal_file_holds_a_study_that_a_second_process_finds(tmp_path: Path) -> None:
    from mnistlab.tune.storage import open_storage
    from mnistlab.tune.study import open_study, study_attrs

    space, url = read_space(QUICK), f"journal:{tmp_path / 'study.log'}"
    attrs = study_attrs(space, registered_record("mnist"), {"torch": "x"})
    created, _ = open_study(space, "j", open_storage(url), attrs=attrs, trials_dir=tmp_path / "trials")
    created.enqueue_trial({"lr": 0.5, "batch_size": 100})
    found, failed = open_study(space, "j", open_storage(url), attrs=attrs, trials_dir=tmp_path / "trials")
    assert failed == [] and found.user_attrs["torch"] == "x" and len(found.trials) == 1
    with pytest.raises(MnistlabError, match="Cannot open the study storage journal:"):
        open_storage(f"journal:{tmp_path / 'no' / 'study.log'}")


# -- the test split, never ------------------------------------------------------------------


class UntouchableSplit(Split):
    def to(self, device):  # every evaluation moves its split to the device first
        raise AssertionError("a trial evaluated the test split")


def test_a_trial_never_evaluates_the_test_split(mnist: Dataset, tmp_path: Path) -> None:
    from mnistlab.tune.objective import TrialContext
    from mnistlab.tune.study import open_study, run_study, study_attrs

    data = Dataset(
        mnist.name,
        mnist.classes,
        mnist.train,
        mnist.val,
        UntouchableSplit(mnist.test.images, mnist.test.labels),
        mnist.source,
    )
    import tomllib

    text = space_text(lr='{ type = "float", low = 0.1, high = 1.0, log = true }')
    space = parse_space(tomllib.loads(text), "space.toml")
    storage = optuna.storages.InMemoryStorage()
    study, _ = open_study(
        space, "t", storage, attrs=study_attrs(space, data.record(), {}), trials_dir=tmp_path
    )
    done = run_study(study, TrialContext(space, data, tmp_path, "cpu", {}), n_trials=1, timeout=None)
    assert [t.state.name for t in done] == ["COMPLETE"]
    for trial in done:
        results = read_results(trial.user_attrs["run_dir"])
        assert (
            results["test"] is None and results["test_accuracy"] is None and results["test_milestones"] == []
        )
        assert trial.values[0] == results["val_accuracy"]
    assert study.user_attrs["dataset"]["sha256"] == mnist.record()["sha256"]


# -- processes sharing one study ------------------------------------------------------------


def test_two_processes_share_a_study_and_each_trial_runs_once(data_dir: Path, tmp_path: Path, capsys) -> None:
    study_dir, events = tmp_path / "quick", tmp_path / "events"
    env = {"MNISTLAB_DATA": str(data_dir)}
    runs = [tune(str(QUICK), "--dir", str(study_dir), "--trials", "4", "--tensorboard", str(events), env=env)]
    runs.append(tune(str(QUICK), "--dir", str(study_dir), "--trials", "4", env=env))
    outputs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    study = load(study_dir)
    trials = study.trials
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    run_dirs = sorted(Path(t.user_attrs["run_dir"]) for t in trials)
    assert run_dirs == sorted((study_dir / "trials").iterdir()) and len(set(run_dirs)) == 8
    for trial in trials:  # each folder trained once: one start, steps strictly increasing
        run_dir = Path(trial.user_attrs["run_dir"])
        steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert steps == sorted(set(steps)) and not (run_dir / "claim.json").exists()
        config, _ = read_run_config(run_dir)
        assert config.lr == trial.params["lr"] and config.batch_size == trial.params["batch_size"]
        if trial.state.name == "COMPLETE":
            assert read_results(run_dir)["val_accuracy"] == trial.values[0]
    pids = {t.user_attrs["pid"] for t in trials}
    assert pids == {p.pid for p in runs}  # both processes ran trials
    mine = [t for t in trials if t.user_attrs["pid"] == runs[0].pid]
    assert sorted(p.name for p in (events / "quick").iterdir()) == sorted(
        f"trial-{t.number:04d}" for t in mine
    )
    assert study.user_attrs["torch"] and study.user_attrs["machine"]["cpu"]

    # A rerun continues the study; a changed space is refused and leaves the database as it was.
    capsys.readouterr()
    assert (
        main(
            [
                "tune",
                str(QUICK),
                "--dir",
                str(study_dir),
                "--trials",
                "1",
                "--json",
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    assert sum(json.loads(capsys.readouterr().out)["trials"].values()) == 9
    changed = tmp_path / "quick.toml"
    changed.write_text(QUICK.read_text().replace("high = 2.0", "high = 3.0"))
    before = hashlib.sha256((study_dir / "study.db").read_bytes()).hexdigest()
    assert main(["tune", str(changed), "--dir", str(study_dir), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "searches another space" in err and err.count("\n") == 1
    assert hashlib.sha256((study_dir / "study.db").read_bytes()).hexdigest() == before

    # The report: figures, trials.json, and a best.toml that `mnistlab train --config` takes unchanged.
    out_dir = tmp_path / "report"
    assert main(["tune", "--report", str(study_dir), "--report-dir", str(out_dir)]) == 0
    assert {"history.png", "importances.png", "best.toml", "trials.json", "summary.json"} <= {
        p.name for p in out_dir.iterdir()
    }
    assert len(json.loads((out_dir / "trials.json").read_text())) == 9
    best = study.best_trial
    trained = tmp_path / "best-run"
    assert (
        main(
            [
                "train",
                "softmax",
                "--config",
                str(out_dir / "best.toml"),
                "--out",
                str(trained),
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    config, _ = read_run_config(trained)
    assert config == read_run_config(best.user_attrs["run_dir"])[0]
    assert TrainConfig.from_dict(read_config_file(out_dir / "best.toml")) == config
    assert read_results(trained)["val_accuracy"] == pytest.approx(
        best.values[0], abs=1e-9
    )  # bit-identical run


def test_a_killed_trial_is_marked_failed_when_the_study_next_runs(data_dir: Path, tmp_path: Path) -> None:
    from mnistlab.tune.storage import open_storage
    from mnistlab.tune.study import open_study, study_attrs

    slow = tmp_path / "slow.toml"
    slow.write_text(
        QUICK.read_text()
        .replace("steps = 300", "steps = 20000")
        .replace("eval_every = 100", "eval_every = 5000")
    )
    study_dir = tmp_path / "slow"
    victim = tune(str(slow), "--dir", str(study_dir), "--trials", "1", env={"MNISTLAB_DATA": str(data_dir)})
    metrics = study_dir / "trials" / "trial-0000" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not metrics.exists() and time.monotonic() < deadline:  # training has begun
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate()
    assert load(study_dir).trials[0].state.name == "RUNNING"
    # What every run of the study does first: the dead trial is failed, the study continues.
    space = read_space(slow)
    storage = open_storage(f"sqlite:///{study_dir / 'study.db'}")
    study, failed = open_study(space, "slow", storage, attrs=study_attrs(space, registered_record("mnist"), {}),
                               trials_dir=study_dir / "trials")  # fmt: skip
    assert failed == [0] and study.trials[0].state.name == "FAIL"
    assert (
        study_dir / "trials" / "trial-0000" / "state.json"
    ).exists() or metrics.exists()  # the folder stays


# -- two objectives --------------------------------------------------------------------------


def test_two_objectives_give_a_pareto_front(mnist: Dataset, tmp_path: Path) -> None:
    import tomllib

    from mnistlab.tune.objective import TrialContext
    from mnistlab.tune.report import write_report
    from mnistlab.tune.study import open_study, run_study, study_attrs

    text = space_text(lr='{ type = "float", low = 0.1, high = 1.0, log = true }').replace(
        "[study]\n", '[study]\nobjectives = ["val_accuracy", "train_flops"]\nsampler = "nsga2"\n'
    )
    space = parse_space(tomllib.loads(text), "pareto.toml")
    study, _ = open_study(
        space,
        "p",
        optuna.storages.InMemoryStorage(),
        attrs=study_attrs(space, mnist.record(), {}),
        trials_dir=tmp_path,
    )
    done = run_study(study, TrialContext(space, mnist, tmp_path, "cpu", {}), n_trials=2, timeout=None)
    assert [len(t.values) for t in done] == [2, 2]
    assert done[0].values[1] == done[1].values[1] > 0  # the same model and steps: the same FLOPs
    summary = write_report(study, tmp_path / "report")
    assert "pareto.png" in summary["files"] and (tmp_path / "report" / "pareto.png").stat().st_size > 1000


def test_a_report_of_a_missing_study_is_one_sentence_and_writes_nothing(tmp_path: Path, capsys) -> None:
    from mnistlab.tune.storage import open_storage
    from mnistlab.tune.study import open_study, study_attrs

    empty = tmp_path / "empty"
    assert main(["tune", "--report", str(empty)]) == 2
    assert capsys.readouterr().err == (
        f"mnistlab: error: {empty} holds no study.db; pass the study folder, or --storage URL for another "
        "storage.\n"
    )
    assert not empty.exists()
    space, url = read_space(QUICK), f"journal:{tmp_path / 'study.log'}"
    attrs = study_attrs(space, registered_record("mnist"), {"torch": "x"})
    open_study(space, "j", open_storage(url), attrs=attrs, trials_dir=tmp_path / "trials")
    assert main(["tune", "--report", str(tmp_path), "--storage", url, "--study", "k"]) == 2
    assert capsys.readouterr().err == "mnistlab: error: The storage holds no study 'k'; it holds: j.\n"
    assert not (tmp_path / "report").exists()
