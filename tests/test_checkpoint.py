"""Checkpoints: atomic, pickle-free, and a SIGKILLed run resumes to bit-identical weights."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mnistlab.config import resolve_config
from mnistlab.data import Dataset
from mnistlab.errors import CheckpointError
from mnistlab.models import create_model
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runs.tensors import save_weights
from mnistlab.training.loop import train

CNN_ARGS = ["--steps", "60", "--eval-every", "30", "--batch-size", "20", "--seed", "3", "--threads", "1"]


def _mnistlab(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mnistlab", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = json.loads((run_dir / "state.json").read_text())
    return load_file(run_dir / state["model_file"])


def _wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run_dir / "state.json"
        if state.is_file() and json.loads(state.read_text())["step"] >= step:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at step {step} within {timeout} s")


def test_sigkill_then_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path: Path, data_dir: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = _mnistlab(
        "train", "cnn", *CNN_ARGS, "--out", str(straight), "--json", "--data-dir", str(data_dir)
    )
    out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err

    victim = _mnistlab("train", "cnn", *CNN_ARGS, "--out", str(killed), "--data-dir", str(data_dir))
    _wait_for_step(killed, 20, victim)
    victim.send_signal(signal.SIGKILL)  # no handler, no chance to save: a real crash
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert json.loads((killed / "state.json").read_text())["step"] < 60

    resumed = _mnistlab(
        "train", "cnn", "--resume", str(killed), "--json", "--data-dir", str(data_dir), "--threads", "1"
    )
    out2, err2 = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err2

    a, b = _final_weights(straight), _final_weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert json.loads(out)["test_accuracy"] == json.loads(out2)["test_accuracy"]
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), "resumed metrics must not repeat steps"


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    proc = _mnistlab(
        "train", "cnn", *CNN_ARGS[:-2], "--steps", "5000", "--out", str(run), "--data-dir", str(data_dir)
    )
    _wait_for_step(run, 20, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert f"Resume with: mnistlab train cnn --resume {run}" in err
    assert "Traceback" not in err
    assert json.loads((run / "state.json").read_text())["step"] >= 20
    assert not list(run.glob(".*.tmp")), "no temporary files left behind"


def test_stopping_in_process_keeps_the_previous_or_new_checkpoint(mnist: Dataset, tmp_path: Path) -> None:
    config = resolve_config("softmax", overrides={"steps": 300, "eval_every": 100})
    calls = iter(range(10_000))
    result = train(config, mnist, run_dir=tmp_path, should_stop=lambda: next(calls) >= 150)
    assert result.interrupted and result.step == 150 and result.test is None
    assert not (tmp_path / "results.json").exists()
    assert ckpt.has_checkpoint(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "best.safetensors", "config.json", "dataset.json", "metrics.jsonl", "model-0000150.safetensors",
        "state.json", "trainer-0000150.safetensors",
    ]  # fmt: skip
    finished = train(config, mnist, run_dir=tmp_path, resume=True)
    uninterrupted = train(config, mnist)
    assert torch.equal(finished.model.linear.weight, uninterrupted.model.linear.weight)


def test_load_model_errors(softmax_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load_model(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="not a mnistlab run directory"):
        ckpt.load_model(tmp_path)
    # A truncated weights file.
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in softmax_run.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    state = json.loads((broken / "state.json").read_text())
    weights = broken / state["model_file"]
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ckpt.load_model(broken, "last")
    # Weights of another model.
    cnn_weights = create_model("cnn")
    save_weights(broken / "best.safetensors", cnn_weights, {"model": "cnn"})
    with pytest.raises(CheckpointError, match="holds weights of model 'cnn', not 'softmax'"):
        ckpt.load_model(broken, "best")


def test_a_pickle_bomb_checkpoint_never_runs(softmax_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Bomb:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run = tmp_path / "run"
    run.mkdir()
    for f in softmax_run.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    (run / "best.safetensors").write_bytes(pickle.dumps(Bomb()))
    torch.save({"x": Bomb()}, run / json.loads((run / "state.json").read_text())["model_file"])
    for which in ("best", "last"):
        with pytest.raises(CheckpointError):
            ckpt.load_model(run, which)
    assert not marker.exists()


def test_resume_refuses_another_models_checkpoint(softmax_run: Path) -> None:
    model = create_model("cnn")
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(CheckpointError, match="is of model 'softmax', not 'cnn'"):
        ckpt.load_checkpoint(softmax_run, model_name="cnn", model=model, optimizer=optimizer)
