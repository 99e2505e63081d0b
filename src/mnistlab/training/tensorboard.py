"""TensorBoard event files of a run, with `torch.utils.tensorboard` (the `tensorboard` extra).

`RunEvents(log_dir, config)` writes, at each step the loop reports (`StepReport`),
`train/loss`, `train/batch_accuracy`, `train/lr` and `train/images_per_second`, and at each
validation `val/accuracy`; `finish` adds the run's hyper-parameters and final metrics
(`add_hparams`, in the same folder), so `tensorboard --logdir DIR` shows every run of DIR
side by side, in its scalars and its HParams table.

Nothing imports this module, nor tensorboard, unless `--tensorboard DIR` (or
`MNISTLAB_TENSORBOARD`) asks for it (`mnistlab.commands.tensorboard_flag`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig
from mnistlab.errors import UsageError
from mnistlab.training.result import StepReport

EXTRA = "pip install 'mnistlab[tensorboard]'"


def hparams(config: TrainConfig) -> dict[str, bool | int | float | str]:
    """The config as TensorBoard's HParams take it: scalars, lists as JSON, options one per key."""
    flat: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        if key == "model_options":
            flat.update({f"model_options.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return {k: v if isinstance(v, bool | int | float | str) else json.dumps(v) for k, v in flat.items()}


class RunEvents:
    """The event files of one run in `log_dir`; `purge_step` drops what an earlier, interrupted
    process wrote from that step on (a resumed run)."""

    def __init__(self, log_dir: Path | str, config: TrainConfig, purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UsageError(
                f"--tensorboard needs the tensorboard package, in the tensorboard extra: {EXTRA}."
            ) from None
        self.config = config
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def report(self, report: StepReport) -> None:
        for tag, value in (
            ("train/loss", report.loss),
            ("train/batch_accuracy", report.batch_accuracy),
            ("train/lr", report.lr),
            ("train/images_per_second", report.images_per_second),
        ):
            self.writer.add_scalar(tag, value, report.step)
        if report.evaluated and report.val_accuracy is not None:
            self.writer.add_scalar("val/accuracy", report.val_accuracy, report.step)

    def finish(self, metrics: Mapping[str, float | None]) -> None:
        """The hyper-parameters and the final metrics (those not None), as `hparam/<name>`."""
        values = {f"hparam/{k}": float(v) for k, v in metrics.items() if v is not None}
        self.writer.add_hparams(hparams(self.config), values, run_name=".")  # "." : this run's own folder
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def final_metrics(summary: Mapping[str, Any]) -> dict[str, float | None]:
    """What `finish` records of a run's results.json."""
    return {
        k: summary.get(k) for k in ("val_accuracy", "best_val_accuracy", "test_accuracy", "train_seconds")
    }
