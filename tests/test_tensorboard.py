"""`--tensorboard DIR`: event files read back with TensorBoard's own reader, and no cost when off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnistlab.cli import main
from mnistlab.config import resolve_config
from mnistlab.training.result import StepReport

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2


def read_events(log_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return events


def session_hparams(events: EventAccumulator) -> dict[str, object]:
    """The hyper-parameters `add_hparams` recorded (its session-start summary)."""
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}


def test_train_writes_what_metrics_jsonl_holds(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    run_dir, root = tmp_path / "run", tmp_path / "tb"
    monkeypatch.setenv("MNISTLAB_TENSORBOARD", str(root))  # the setting, not the flag
    args = [
        "train",
        "softmax",
        "--steps",
        "100",
        "--eval-every",
        "50",
        "--out",
        str(run_dir),
        "--data-dir",
        str(data_dir),
    ]
    assert main(args) == 0
    events = read_events(root / "run")
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for tag, key in (
        ("train/loss", "loss"),
        ("train/lr", "lr"),
        ("train/images_per_second", "images_per_second"),
    ):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [m["step"] for m in metrics]
        assert [s.value for s in scalars] == pytest.approx([m[key] for m in metrics], rel=1e-6)
    val = events.Scalars("val/accuracy")
    assert [(s.step, s.value) for s in val] == [
        (m["step"], pytest.approx(m["val_accuracy"], rel=1e-6)) for m in metrics if m["evaluated"]
    ]
    results = json.loads((run_dir / "results.json").read_text())
    assert events.Scalars("hparam/test_accuracy")[0].value == pytest.approx(
        results["test_accuracy"], rel=1e-6
    )
    recorded = session_hparams(events)
    assert recorded["lr"] == 0.5 and recorded["model"] == "softmax" and recorded["steps"] == 100


def test_reproduce_writes_each_run_under_its_folder_name(tmp_path: Path) -> None:
    from mnistlab.commands.tensorboard_flag import reproduce_events
    from mnistlab.reproduce.experiments import Experiment
    from mnistlab.reproduce.plan import plan
    from mnistlab.reproduce.runner import Progress

    jobs = plan(
        (Experiment("sm", "Softmax tiny", "softmax", overrides={"steps": 20}),), [0, 1], tmp_path / "report"
    )
    shown: list[Progress] = []
    update = reproduce_events(tmp_path / "tb", jobs, shown.append)
    for seed in (0, 1):
        for step in (10, 20):
            report = StepReport(step, 20, 1.0 / step, 0.5, 0.5, 0.9, 1000.0 * seed, 1.0, evaluated=step == 20)
            update(Progress(1, 2, "Softmax tiny", seed, step, 20, "training", 0.0, report=report))
        update(Progress(1, 2, "Softmax tiny", seed, 20, 20, "interrupted", 0.0))
    assert len(shown) == 6  # the display still sees everything
    for seed in (0, 1):
        events = read_events(tmp_path / "tb" / f"sm-s{seed}")
        assert [(s.step, s.value) for s in events.Scalars("train/images_per_second")] == [
            (10, 1000.0 * seed),
            (20, 1000.0 * seed),
        ]
        assert [s.step for s in events.Scalars("val/accuracy")] == [20]


def test_without_the_flag_nothing_of_tensorboard_is_imported(data_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from mnistlab.cli import main\n"
        f"assert main(['train', 'softmax', '--steps', '20', '--eval-every', '10', '--out', {str(tmp_path / 'r')!r}, "
        f"'--data-dir', {str(data_dir)!r}]) == 0\n"
        "heavy = ('tensorboard', 'torch.utils.tensorboard', 'mnistlab.training.tensorboard')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith('tensorboard.')))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "MNISTLAB_TENSORBOARD"}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert found.stdout.strip().splitlines()[-1] == "[]"


def test_a_resumed_run_purges_what_its_killed_process_wrote_after_the_checkpoint(tmp_path: Path) -> None:
    from mnistlab.training.tensorboard import RunEvents

    config = resolve_config("softmax", "softmax")
    first = RunEvents(tmp_path, config)
    for step in (50, 100, 150):
        first.report(StepReport(step, 1000, 1.0, 0.5, 0.5, None, 1.0, 1.0))
    first.close()
    resumed = RunEvents(tmp_path, config, purge_step=101)  # the checkpoint was at step 100
    resumed.report(StepReport(150, 1000, 2.0, 0.5, 0.5, None, 1.0, 1.0))
    resumed.close()
    assert [(s.step, s.value) for s in read_events(tmp_path).Scalars("train/loss")] == [
        (50, 1.0),
        (100, 1.0),
        (150, 2.0),
    ]


def test_without_tensorboard_installed_the_flag_names_the_extra(monkeypatch) -> None:
    from mnistlab.errors import UsageError
    from mnistlab.training.tensorboard import RunEvents

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were missing
    with pytest.raises(UsageError, match=r"pip install 'mnistlab\[tensorboard\]'"):
        RunEvents(Path("unused"), resolve_config("softmax", "softmax"))
