"""How far a run got: an unfinished run (a checkpoint, no results) and the command that finishes it.

A run is finished when its results.json says so. One killed (SIGKILL, power loss) or stopped by a
signal has a checkpoint but no results: killed after its last step's checkpoint, only its test,
calibration.json and results.json are left, which `mnistlab calibrate RUN` (or the resume) adds.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from mnistlab.recipes import task_of
from mnistlab.runs.checkpoint import (
    CONFIG_FILE,
    STATE_FILE,
    has_checkpoint,
    read_json,
    read_results,
    read_run_config,
)


@dataclass(frozen=True)
class Unfinished:
    """Where a run without results stopped, and the command that finishes it."""

    step: int  # of its last checkpoint
    steps: int
    fix: str  # a command, in backquotes

    @property
    def where(self) -> str:
        if self.step >= self.steps:
            return f"it stopped after its last step, {self.steps}"
        return f"it stopped at step {self.step} of {self.steps}"


def unfinished(run_dir: Path | str) -> Unfinished | None:
    """How far an unfinished run got: one with a checkpoint but no results.json (killed, or stopped
    by a signal). None for a finished run, and for one without a checkpoint yet."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    if (results is not None and not results.get("interrupted")) or not has_checkpoint(run_dir):
        return None
    config, _ = read_run_config(run_dir)
    step = read_json(run_dir / STATE_FILE, "checkpoint state")["step"]
    if step >= config.steps:  # trained to the end: only the test, calibration and results are left
        return Unfinished(step, config.steps, f"`mnistlab calibrate {shlex.quote(str(run_dir))}`")
    task = task_of(config.model, config.recipe) or "TASK"
    return Unfinished(step, config.steps, f"`mnistlab train {task} --resume {shlex.quote(str(run_dir))}`")


def restart_note(run_dir: Path | str) -> str | None:
    """What to say when a new run starts in a folder whose run was stopped before its first
    checkpoint (it wrote its config, then was killed): nothing of it can be resumed, so the new
    run starts from step 0 over it. None for an empty or new folder."""
    run_dir = Path(run_dir)
    if has_checkpoint(run_dir) or not (run_dir / CONFIG_FILE).is_file():
        return None
    return (
        f"{run_dir} holds a run stopped before its first checkpoint; nothing of it can be resumed, "
        "so this run starts over it from step 0."
    )
