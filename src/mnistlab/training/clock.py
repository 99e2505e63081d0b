"""The training loop's clock: seconds of training, and when a timed checkpoint is due.

A run's "last" checkpoint is written after each validation and, besides, every
`checkpoint_seconds` of training (`TrainConfig`), so that a crash (SIGKILL, power loss) loses at
most that much. The interval counts training, not saving; the seconds a run reports add up over
the processes it was resumed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    start_step: int  # the step this process began at (a resumed run does not start at 0)
    before: float = 0.0  # seconds of training in the processes this one resumes (from the checkpoint)
    t0: float = field(default_factory=lambda: time.perf_counter())  # when this process began training
    saved_at: float = field(init=False)  # when it last wrote a checkpoint; t0 before the first

    def __post_init__(self) -> None:
        self.saved_at = self.t0

    def elapsed(self) -> float:
        """Seconds of training in this process."""
        return time.perf_counter() - self.t0

    def total(self) -> float:
        """Seconds of training of the run, in every process it ran in."""
        return self.before + self.elapsed()

    def due(self, every: float) -> bool:
        """Whether `every` seconds of training have passed since the last checkpoint."""
        return time.perf_counter() - self.saved_at >= every

    def saved(self) -> None:
        self.saved_at = time.perf_counter()
