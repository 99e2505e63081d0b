"""Crash safety: timed checkpoints bound what a SIGKILL loses, and a run killed before its test and
calibration is named unfinished until `mnistlab calibrate` (or the resume) finishes it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mnistlab.cli import main
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data import Dataset
from mnistlab.errors import UsageError
from mnistlab.reader.calibration import read_calibration
from mnistlab.reader.reader import Reader
from mnistlab.runs.progress import unfinished
from mnistlab.training import clock, loop
from mnistlab.training.loop import train

# The softmax paper recipe, short: its one validation (and so its one step checkpoint) is its last step.
SHORT = {"steps": 200, "eval_every": 200, "seed": 0}


def _mnistlab(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mnistlab", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_checkpoint(run_dir: Path, after: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    """The step of the first checkpoint past step `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run_dir / "state.json"
        if state.is_file() and (step := json.loads(state.read_text())["step"]) > after:
            return step
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint past step {after} within {timeout} s")


def test_checkpoints_come_every_checkpoint_seconds_of_training_as_well_as_after_validation(
    mnist: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock that reads 0, 1, 2, ... s: each step reads it once, and once more after a save.
    ticks = iter(range(10_000))
    monkeypatch.setattr(clock, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    saved: list[int] = []
    monkeypatch.setattr(loop, "_save", lambda run, _: saved.append(run.step))
    overrides = {"steps": 10, "eval_every": 10, "log_every": 10, "checkpoint_seconds": 2.5}
    train(resolve_config("softmax", overrides=overrides), mnist, evaluate_test=False)
    # Steps 1-3 end at 1, 2, 3 s: 3 >= 2.5 saves; the save reads 4, so steps 4-6 end at 5, 6, 7.
    assert saved == [3, 6, 9, 10]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_checkpoint_seconds_must_be_a_positive_number(seconds: float) -> None:
    with pytest.raises(UsageError, match=f"checkpoint_seconds must be a positive number, got {seconds}."):
        TrainConfig(checkpoint_seconds=seconds)


def test_a_sigkill_between_step_checkpoints_resumes_from_the_last_timed_one(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    run = tmp_path / "run"
    every_second = tmp_path / "every-second.json"
    every_second.write_text(json.dumps({"checkpoint_seconds": 1}))
    # No validation before step 10^6: every checkpoint is a timed one.
    argv = ["train", "softmax", "--steps", "1000000", "--eval-every", "1000000", "--config", str(every_second),
            "--out", str(run), "--data-dir", str(data_dir), "--threads", "1"]  # fmt: skip
    victim = _mnistlab(*argv)
    saved = _wait_for_checkpoint(run, 0, victim)
    victim.send_signal(signal.SIGKILL)  # no handler runs: a real crash
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    state = json.loads((run / "state.json").read_text())
    assert 0 < state["step"] < 1_000_000 and state["step"] >= saved
    assert (run / state["model_file"]).is_file() and (run / state["trainer_file"]).is_file()
    logged = (run / "metrics.jsonl").read_text().splitlines()
    kept = [line for line in logged if json.loads(line)["step"] <= state["step"]]

    assert main(argv) == 2  # in this process: the refusal comes before any training
    again = capsys.readouterr()
    assert again.out == ""
    assert again.err == (
        f"mnistlab: error: {run} already holds a run; pass --resume {run} to continue it, or another --out.\n"
    )

    resumed = _mnistlab(
        "train", "softmax", "--resume", str(run), "--data-dir", str(data_dir), "--threads", "1"
    )
    _wait_for_checkpoint(run, state["step"], resumed)
    resumed.send_signal(signal.SIGKILL)
    resumed.communicate(timeout=60)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    # The first process's lines up to its checkpoint are kept byte for byte (a fresh start would log
    # them again with other timings), and the resumed one logs on from there: never a step twice.
    assert kept and lines[: len(kept)] == kept
    after = [json.loads(line)["step"] for line in lines[len(kept) :]]
    assert after and after[0] > state["step"] and after == sorted(set(after))


class _Killed(BaseException):
    """The process dying where it is raised (SIGKILL gives no handler a chance either)."""


def _killed_before_calibration(config: TrainConfig, data: Dataset, run: Path, monkeypatch) -> None:
    def die(*args, **kwargs):
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(loop, "fit_calibration", die)
        with pytest.raises(_Killed):
            train(config, data, run_dir=run)


def test_a_run_killed_before_calibration_is_unfinished_until_calibrate_or_the_resume_finishes_it(
    mnist: Dataset,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = resolve_config("softmax", overrides=SHORT)
    straight = tmp_path / "straight"
    train(config, mnist, run_dir=straight)
    run = tmp_path / "run"
    _killed_before_calibration(config, mnist, run, monkeypatch)
    assert sorted(p.name for p in run.iterdir()) == [
        "best.safetensors", "config.json", "dataset.json", "metrics.jsonl", "model-0000200.safetensors",
        "state.json", "trainer-0000200.safetensors",
    ]  # fmt: skip
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)

    assert Reader.from_run(run).note == (
        f"{run} is unfinished (it stopped after its last step, 200, before its test and calibration): "
        f"reading with temperature 1 and no abstention; `mnistlab calibrate {run}` finishes it."
    )
    assert main(["calibrate", str(run), "--data-dir", str(data_dir)]) == 0
    out, err = capsys.readouterr()
    reference = json.loads((straight / "results.json").read_text())
    assert out.splitlines()[0] == (
        f"{run}: finished: its last weights tested ({reference['test_accuracy']:.2%}), results.json written."
    )
    assert err == ""

    assert main(["train", "softmax", "--resume", str(copy), "--data-dir", str(data_dir), "--json"]) == 0
    capsys.readouterr()
    state = json.loads((run / "state.json").read_text())
    for finished in (run, copy):
        assert unfinished(finished) is None and Reader.from_run(finished).note is None
        results = json.loads((finished / "results.json").read_text())
        assert results["test_accuracy"] == reference["test_accuracy"] and not results["interrupted"]
        assert results["test"]["confusion"] == reference["test"]["confusion"]
        assert read_calibration(finished)["rule"] == read_calibration(straight)["rule"]
    # The seconds of training count those the checkpoint recorded, not only the finishing process's.
    assert (
        json.loads((run / "results.json").read_text())["train_seconds"] >= state["extra"]["train_seconds"] > 0
    )


def test_calibrate_refuses_a_run_stopped_mid_training_and_says_how_to_continue_it(
    mnist: Dataset, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    calls = iter(range(10_000))
    config = resolve_config("softmax", overrides={**SHORT, "eval_every": 50})
    train(config, mnist, run_dir=run, should_stop=lambda: next(calls) >= 120)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert Reader.from_run(run).note == (
        f"{run} is unfinished (it stopped at step 120 of 200, before its test and calibration): reading with "
        f"temperature 1 and no abstention; `mnistlab train softmax --resume {run}` finishes it."
    )
    assert main(["calibrate", str(run), "--data-dir", str(data_dir)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"mnistlab: error: {run} is unfinished (it stopped at step 120 of 200); `mnistlab train softmax "
        f"--resume {run}` continues it and calibrates it when it ends.\n"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_run_killed_before_its_first_checkpoint_is_started_again_with_one_line(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["train", "softmax", "--steps", "5", "--out", str(run), "--data-dir", str(data_dir)]
    assert main(argv) == 0
    for path in run.iterdir():  # what a SIGKILL before the first checkpoint leaves: the config
        if path.name != "config.json":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    note = (
        f"mnistlab: {run} holds a run stopped before its first checkpoint; nothing of it can be "
        "resumed, so this run starts over it from step 0."
    )
    assert note in err.splitlines() and "Traceback" not in err
    assert json.loads((run / "results.json").read_text())["steps"] == 5
    assert main(argv) == 2  # now it holds a finished run: the usual refusal, not the note
    assert note not in capsys.readouterr().err
