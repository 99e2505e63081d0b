"""Training progress on stderr: a tqdm bar on a terminal, a plain line per interval in a log.

Off a terminal (CI, nohup, `2> log`, `| tee`) a bar's carriage-return redraws would pile up
into one enormous line, so each report becomes a line of its own instead, at most
`MAX_LINES` per run: a 20,000-step run logs tens of lines, not thousands.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from mnistlab.training.result import StepReport

MAX_LINES = 25  # plain lines per run, besides its last step


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_eta(seconds: float, unmeasured: tuple[str, ...] = ()) -> str:
    """The time left; "estimating…" while no run with steps left has measured its speed."""
    if not unmeasured:
        return f"~{format_seconds(seconds)} left"
    if seconds <= 0:
        return "estimating…"
    return f"~{format_seconds(seconds)} left + {', '.join(unmeasured)} runs, not yet timed"


def run_seconds_left(report: StepReport, batch_size: int) -> float:
    """One run's time left at its measured speed."""
    return (report.steps - report.step) * batch_size / max(report.images_per_second, 1e-9)


def report_facts(report: StepReport) -> str:
    val = "-" if report.val_accuracy is None else f"{report.val_accuracy:.2%}"
    return f"loss {report.loss:.4f} val {val} {report.images_per_second:,.0f} img/s"


class StepProgress:
    """One run's progress: a tqdm bar on a terminal, else a plain line at most every steps/MAX_LINES."""

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        bar_eta: bool = True,  # False where tqdm's own time left is the run's
    ) -> None:
        self.total, self.desc, self.enabled, self.bar_eta = total, desc, enabled, bar_eta
        self.stream = stream if stream is not None else sys.stderr
        self.bar: tqdm | None = None
        if enabled and is_terminal(self.stream):
            self.bar = tqdm(total=total, desc=desc, unit="step", file=self.stream, dynamic_ncols=True)
        self.every = max(1, -(-total // MAX_LINES))  # ceil: at most MAX_LINES lines before the last step
        self.next_line = self.every

    def update(self, step: int, facts: str, eta: str) -> None:
        """Show `step` with its facts (loss, accuracy, speed) and the time left."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix_str(f"{facts} | {eta}" if self.bar_eta else facts)
            return
        if step < self.next_line and step < self.total:
            return
        self.next_line = (step // self.every + 1) * self.every
        print(f"{self.desc}: step {step:,}/{self.total:,} | {facts} | {eta}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
