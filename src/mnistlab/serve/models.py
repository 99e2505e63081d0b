"""The models a server answers with: finding runs, loading them once, predicting safely.

Each served model is a `mnistlab.inference.Reader`: its weights with the run's temperature and
abstention rule (calibration.json), so the API answers with calibrated probabilities and says
when a model would rather not ("not a digit"), exactly as `mnistlab predict` does.

A `Predictor` owns the loaded models. Requests arrive on many threads (FastAPI runs
blocking work in a thread pool), and every model forward pass runs under one lock and
`torch.inference_mode()`. Why a lock rather than lock-free sharing: evaluation helpers
flip a module's `training` flag (shared mutable state), and on a small CPU concurrent
forwards only fight over the same intra-op threads. One forward of these models takes
about a millisecond, so serialising them costs little and keeps every answer exact.
Reading a number (`Predictor.read`) calls a model more than once to decide where touching
digits are cut, so each model's whole reading runs under the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.data.splits import DatasetRecord, registered_record
from mnistlab.errors import CheckpointError, UsageError
from mnistlab.inference import Preprocessing, for_kind
from mnistlab.inference.number import NumberReading
from mnistlab.lines.number import is_shipped_reader, read_any_number
from mnistlab.reader import Reader
from mnistlab.recipes import task_of
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runs.dataset import common_dataset_record
from mnistlab.serve.answers import NumberAnswer, finite
from mnistlab.serve.bodies import Upload

# What a first start needs: one model of each task, shown side by side, in this order.
TASKS = ("softmax", "cnn")


@dataclass(frozen=True)
class ServedModel:
    """One loaded run: its reader (weights in eval mode, temperature, abstention rule) and what
    `/api/models` reports about it."""

    name: str  # unique among the served models, e.g. "softmax" or "cnn"
    kind: str  # the registered model name (TrainConfig.model)
    recipe: str
    accuracy: float | None  # test accuracy (fraction) from the run's results.json
    run_dir: Path
    reader: Reader
    dataset: DatasetRecord = field(default_factory=lambda: registered_record("mnist"))  # the run's record

    @property
    def model(self) -> nn.Module:
        return self.reader.model

    def describe(self) -> dict[str, object]:
        rule = self.reader.rule
        return {
            "name": self.name,
            "kind": self.kind,
            "recipe": self.recipe,
            "accuracy": self.accuracy,
            "run": self.run_dir.name,  # the folder's name only: no server paths leak
            "temperature": rule.temperature,
            "threshold": finite(rule.threshold),
            "score": rule.score,
            "quantile": rule.quantile,
            "fitted_on": rule.fitted_on,
            "calibrated": self.reader.note is None,
            "refusal": self.reader.refusal,  # what the page shows when this model abstains
        }


def is_finished(run_dir: Path) -> bool:
    """A run that reached its last step and was tested: results.json with a test accuracy."""
    try:
        results = ckpt.read_results(run_dir)
    except CheckpointError:
        return False
    return bool(results) and not results.get("interrupted") and results.get("test_accuracy") is not None


def latest_finished_runs(runs_root: Path, dataset: str = "mnist") -> dict[str, Path]:
    """The newest finished run of each task on `dataset` under `runs_root` (newest = latest
    results.json)."""
    newest: dict[str, tuple[float, Path]] = {}
    if not runs_root.is_dir():
        return {}
    for run_dir in runs_root.iterdir():
        if not (run_dir / ckpt.CONFIG_FILE).is_file() or not is_finished(run_dir):
            continue
        try:
            if ckpt.read_dataset_record(run_dir)["name"] != dataset:
                continue
        except CheckpointError:
            continue
        results = ckpt.read_results(run_dir) or {}
        model_name = str(results.get("model"))
        task = task_of(model_name, str(results.get("recipe"))) or model_name
        mtime = (run_dir / ckpt.RESULTS_FILE).stat().st_mtime
        if task not in newest or mtime > newest[task][0]:
            newest[task] = (mtime, run_dir)
    return {task: path for task, (_, path) in newest.items()}


def load_served_models(
    run_dirs: Sequence[Path | str], device: torch.device | str = "cpu"
) -> list[ServedModel]:
    """Load each run's final weights and calibration once; names are the task, suffixed -2, -3
    on repeats.

    The runs must share one dataset (UsageError otherwise): one page, one set of classes.
    """
    run_dirs = list(map(Path, run_dirs))
    if not run_dirs:
        raise UsageError("Serving needs at least one run directory.")
    common_dataset_record(run_dirs)
    served: list[ServedModel] = []
    seen: dict[str, int] = {}
    for run_dir in run_dirs:
        reader = Reader.from_run(run_dir, "final", device)
        config, _ = ckpt.read_run_config(run_dir)
        results = ckpt.read_results(run_dir) or {}
        task = task_of(config.model, config.recipe) or config.model
        seen[task] = seen.get(task, 0) + 1
        name = task if seen[task] == 1 else f"{task}-{seen[task]}"
        accuracy = results.get("test_accuracy")
        served.append(
            ServedModel(
                name=name,
                kind=config.model,
                recipe=config.recipe,
                accuracy=None if accuracy is None else float(accuracy),
                run_dir=run_dir,
                reader=reader,
                dataset=ckpt.read_dataset_record(run_dir),
            )
        )
    return served


class Predictor:
    """Thread-safe inference over a fixed set of served models."""

    def __init__(self, models: Sequence[ServedModel]) -> None:
        if not models:
            raise ValueError("a Predictor needs at least one model")
        names = {served.dataset["name"] for served in models}
        if len(names) > 1:
            raise UsageError(
                f"The served runs were trained on different datasets ({', '.join(sorted(names))})."
            )
        self.models = tuple(models)
        self.dataset = models[0].dataset
        self.preprocessing: Preprocessing = for_kind(self.dataset["image_kind"])
        self._lock = threading.Lock()

    @property
    def prompt(self) -> str:
        """What to draw: "a digit", or "one of: T-shirt/top, Trouser, ..."."""
        if self.dataset["image_kind"] == "digits":
            return "a digit"
        return f"one of: {', '.join(self.dataset['classes'])}"

    def describe_dataset(self) -> dict[str, Any]:
        return {
            "name": self.dataset["name"],
            "title": self.dataset["title"],
            "classes": list(self.dataset["classes"]),
            "image_kind": self.dataset["image_kind"],
            "prompt": f"Draw {self.prompt}.",
            "preprocessing": self.preprocessing.description,
        }

    def read(self, upload: Upload, *, single: bool = False) -> list[NumberAnswer]:
        """Every model's reading of an upload as `mnistlab predict` reads a file: each digit
        found, left to right, or with `single` the whole of it as one digit.

        Raises ImageError (no ink, or more than 32 digit candidates) before any answer is made.
        """
        answers = []
        for served in self.models:
            with self._lock, torch.inference_mode():
                start = time.perf_counter()
                reading = self._read_one(served, upload, single)
                elapsed = time.perf_counter() - start
            answers.append(NumberAnswer(served.name, served.reader, reading, elapsed * 1000.0))
        return answers

    @staticmethod
    def _read_one(served: ServedModel, upload: Upload, single: bool) -> NumberReading:
        # The shipped reader's numbers are read whole by the shipped line reader when that reads
        # numbers better (lines.number), as `predict` reads them with no run named.
        image = upload.image if upload.image is not None else upload.values
        lines = is_shipped_reader(served.run_dir)
        return read_any_number(served.reader, image, name="The drawing", single=single, lines=lines)
