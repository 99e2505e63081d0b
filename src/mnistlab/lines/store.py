"""A line reader's folder: its weights (safetensors), config.json and calibration.json.

config.json holds the `LineConfig` it was trained with (the model's options among them) and
the record of how it was made (command, machine, torch, threads, seconds); calibration.json
the temperature and the abstention rule fitted on validation lines (`train.calibrate`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from mnistlab.errors import CheckpointError
from mnistlab.lines.make import LineStyle
from mnistlab.lines.model import LineCNN
from mnistlab.lines.train import LineConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CALIBRATION = "calibration.json"


def config_dict(config: LineConfig) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(values: dict) -> LineConfig:
    values = dict(values)
    style = LineStyle(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.pop("style").items()})
    return LineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, style=style)


def save_line_reader(
    folder: Path, model: LineCNN, config: LineConfig, calibration: dict, record: dict
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    text = json.dumps({"config": config_dict(config), "record": record}, indent=2, sort_keys=True)
    (folder / CONFIG).write_text(text + "\n", encoding="utf-8")
    (folder / CALIBRATION).write_text(
        json.dumps(calibration, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def load_line_reader(folder: Path) -> tuple[LineCNN, LineConfig, dict]:
    """(model in eval mode, its config, its calibration) from a folder `save_line_reader` wrote."""
    try:
        config = config_from_dict(json.loads((folder / CONFIG).read_text(encoding="utf-8"))["config"])
        calibration = json.loads((folder / CALIBRATION).read_text(encoding="utf-8"))
        state = load_file(str(folder / WEIGHTS))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder} is not a line reader's folder: {exc}.") from None
    model = LineCNN(config.channels, config.hidden)
    model.load_state_dict(state)
    return model.eval(), config, calibration
