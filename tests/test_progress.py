"""Progress off a terminal is a plain line per interval; on a terminal it stays a tqdm bar."""

from __future__ import annotations

import io

from mnistlab.commands.progress import MAX_LINES, StepProgress, format_eta, run_seconds_left
from mnistlab.training.result import StepReport


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def report(step: int, steps: int = 20_000) -> StepReport:
    return StepReport(step=step, steps=steps, loss=0.25, batch_accuracy=0.9, lr=1e-4, val_accuracy=0.9875,
                  images_per_second=500.0, elapsed=step / 10, evaluated=False)  # fmt: skip


def test_a_log_gets_tens_of_plain_lines_for_a_long_run() -> None:
    log = io.StringIO()
    progress = StepProgress(20_000, "cnn (cnn)", stream=log)
    for step in range(100, 20_001, 100):  # the paper CNN reports every 100 steps: 200 reports
        r = report(step)
        progress.update(step, "loss 0.2500", format_eta(run_seconds_left(r, 50)))
    progress.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == MAX_LINES == 25
    # 20,000 / 25 = 800 steps apart; at 500 img/s and 50 images a step, 0.1 s a step: 19,200 steps left take 32 minutes.
    assert lines[0] == "cnn (cnn): step 800/20,000 | loss 0.2500 | ~32:00 left"
    assert lines[-1] == "cnn (cnn): step 20,000/20,000 | loss 0.2500 | ~0:00 left"


def test_the_last_step_is_always_logged_and_short_runs_log_each_report() -> None:
    log = io.StringIO()
    progress = StepProgress(30, "softmax", stream=log)
    for step in (7, 14, 21, 28, 30):  # every = ceil(30 / 25) = 2: each report is a line
        progress.update(step, "f", "e")
    assert [line.split(":")[1] for line in log.getvalue().splitlines()] == [
        " step 7/30 | f | e",
        " step 14/30 | f | e",
        " step 21/30 | f | e",
        " step 28/30 | f | e",
        " step 30/30 | f | e",
    ]


def test_a_terminal_gets_a_bar_and_a_disabled_progress_nothing() -> None:
    tty = Terminal()
    progress = StepProgress(100, "softmax", stream=tty)
    progress.update(50, "loss 0.3", "~0:05 left")
    progress.close()
    assert "\r" in tty.getvalue() and "50/100" in tty.getvalue() and "loss 0.3 | ~0:05 left" in tty.getvalue()
    quiet = io.StringIO()
    StepProgress(100, "softmax", stream=quiet, enabled=False).update(100, "f", "e")
    assert quiet.getvalue() == ""
