"""A TrainConfig as a TOML file that `mnistlab train TASK --config FILE` reads back unchanged.

TOML has no writer in the standard library; a config holds only strings, numbers, booleans,
lists and one table (`model_options`), which `toml_text` writes, and then proves by reading
the text back with `tomllib` that it gives the same values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mnistlab.config import TrainConfig


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            repr(value)
            if math.isfinite(value)
            else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
        )
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_text(config: TrainConfig, header: Sequence[str] = ()) -> str:
    """The config's every key, one per line, under `header` comment lines."""
    values = config.to_dict()
    lines = [f"# {line}" for line in header]
    lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    text = "\n".join(lines) + "\n"
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:
        return text
    if TrainConfig.from_dict(tomllib.loads(text)) != config:
        raise AssertionError(f"the TOML form of {values} does not read back the same")
    return text
