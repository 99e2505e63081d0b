"""Time to accuracy: wall seconds from process start to a tested model, as a user would see it.

Each measurement is a fresh `python -m mnistlab train ... --json` child process, timed from
just before it is spawned to its exit, so interpreter start, imports, data loading (and on
a GPU, initialising it) and the final test evaluation all count. The child's peak resident
memory comes from `os.wait4`, and its own clock splits the wall time into imports, data
loading, training and the rest (model set-up, the test evaluation, writing the run and exiting).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.bench.timing import Stats
from mnistlab.errors import MnistlabError


@dataclass(frozen=True)
class TimedRun:
    """One child training process: its wall time, test accuracy and peak memory."""

    seed: int
    steps: int | None
    wall_seconds: float
    train_seconds: float
    test_accuracy: float
    peak_rss_mib: float
    precision: str = "fp32"
    import_seconds: float | None = None  # process start to the end of imports, in the child
    data_seconds: float | None = None  # loading and checking the dataset

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "breakdown": self.breakdown()}

    def breakdown(self) -> dict[str, float] | None:
        """Wall seconds by phase: import, data, train and the rest (set-up, test, write, exit)."""
        if self.import_seconds is None or self.data_seconds is None:
            return None
        phases = {"import": self.import_seconds, "data": self.data_seconds, "train": self.train_seconds}
        return {**phases, "evaluate_and_rest": self.wall_seconds - sum(phases.values())}


def timed_train(
    task: str,
    recipe: str,
    seed: int,
    *,
    steps: int | None = None,
    threads: int | None = None,
    data_dir: str | Path | None = None,
    precision: str = "fp32",
    device: str = "cpu",
) -> TimedRun:
    """Run `mnistlab train TASK --recipe RECIPE --seed SEED --device DEVICE --json` in a child and time it.

    `device` is a `--device` value (cpu, cuda, mps), never "auto": the bench resolved it once
    and every child must run where the parent measured.
    """
    with tempfile.TemporaryDirectory(prefix="mnistlab-bench-") as tmp:
        command = [sys.executable, "-m", "mnistlab", "train", task, "--recipe", recipe, "--seed", str(seed)]
        command += ["--json", "--device", device, "--precision", precision, "--out", str(Path(tmp) / "run")]
        if steps is not None:
            command += ["--steps", str(steps)]
        if threads is not None:
            command += ["--threads", str(threads)]
        if data_dir is not None:
            command += ["--data-dir", str(data_dir)]
        out_path, err_path = Path(tmp) / "stdout.json", Path(tmp) / "stderr.txt"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            t0 = time.perf_counter()
            child = subprocess.Popen(command, stdout=out, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - t0
            child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            lines = err_path.read_text(errors="replace").strip().splitlines() or ["(no output)"]
            raise MnistlabError(f"The timed run `mnistlab {' '.join(command[3:])}` failed: {lines[-1]}")
        summary = json.loads(out_path.read_text())
    startup = summary.get("startup") or {}
    return TimedRun(
        seed=seed,
        steps=steps,
        wall_seconds=wall,
        train_seconds=summary["train_seconds"],
        test_accuracy=summary["test_accuracy"],
        peak_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
        precision=precision,
        import_seconds=startup.get("import_seconds"),
        data_seconds=startup.get("data_seconds"),
    )


def time_to_accuracy(
    targets: Sequence[Any],
    seeds: list[int],
    *,
    threads: int | None = None,
    data_dir: str | Path | None = None,
    precision: str = "fp32",
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """For each target (`records.Target`: accuracy, task, recipe, steps), its recipe once per seed.

    Seed by seed, every target's run in turn, so a change in machine load hits old and new
    recipes alike. Returns one record per target with the median wall seconds, how many seeds
    reached the target, and the runs themselves.
    """
    runs: list[list[TimedRun]] = [[] for _ in targets]
    for seed in seeds:
        for runs_of, t in zip(runs, targets, strict=True):
            runs_of.append(
                timed_train(
                    t.task,
                    t.recipe,
                    seed,
                    steps=t.steps,
                    threads=threads,
                    data_dir=data_dir,
                    precision=precision,
                    device=device,
                )
            )
    records = []
    for t, runs_of in zip(targets, runs, strict=True):
        accuracies = [r.test_accuracy for r in runs_of]
        records.append(
            {
                "target": t.accuracy,
                "recipe": t.recipe,
                "steps": t.steps,
                "precision": precision,
                "wall_seconds": Stats.of([r.wall_seconds for r in runs_of]).to_dict(),
                "test_accuracy": Stats.of(accuracies).to_dict(),
                "reached": sum(a >= t.accuracy for a in accuracies),
                "runs": [r.to_dict() for r in runs_of],
            }
        )
    return records
