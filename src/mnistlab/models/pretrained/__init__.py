"""The trained reader that ships inside mnistlab, so `predict` and `serve` answer before any training.

`reader_run()` is a run folder like any other, read with `mnistlab.runs.checkpoint.load_model`
or `mnistlab.inference.Reader.from_run`: the files `mnistlab train cnn --recipe reader --seed 0
--threads 1` wrote (config.json, dataset.json, calibration.json, results.json, metrics.jsonl,
state.json and the final weights; not the optimizer state, so it cannot be resumed). Its README.md
names the command, the machine and what it measured; `SHA256` holds each file's digest, and
`reader_run()` refuses a folder whose files do not match it.

The folder is part of the installed package and may be read-only: copy it before writing to it
(`mnistlab calibrate`, for instance, rewrites calibration.json).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mnistlab.errors import CheckpointError

READER_DIR = Path(__file__).resolve().parent / "reader"
READER_COMMAND = "mnistlab train cnn --recipe reader --seed 0 --threads 1"
# The SHA-256 of every file of the shipped run, as README.md lists them.
SHA256 = {
    "calibration.json": "7853bbf96d8cbf74ae508010ba791bc60a098ae73e8e6666df05a36765399273",
    "config.json": "7bc6c0488e6e0479a1c5e9725888eb0e9e00a7280170f32eb6b0cd9bc8fdb4fc",
    "dataset.json": "0b7243b5ef33ef7fbff411e51b8bf689158bd668bb370b422945cd76b134c027",
    "metrics.jsonl": "cdf4c2c346d84250e92646a8c2b8e582c2a6bc0ad7ae4a89c435df693d37c6ec",
    "model-0001290.safetensors": "9f5d599110392d152fb3745e8da0175d1940d4f1ea79ee624b72854594c3f112",
    "results.json": "a95770623a282a28faa60cfd5c067b8ad584ecfb5e998366d2f6a3e64f240dd6",
    "state.json": "491e65d37ed486d36dedd15234ec755fda53fb8537f5a59ee90834fa58f16572",
}


def reader_run(*, verify: bool = True) -> Path:
    """The shipped reader's run directory; with `verify`, its files checked against `SHA256` first."""
    if verify:
        for name, digest in SHA256.items():
            path = READER_DIR / name
            if not path.is_file():
                raise CheckpointError(
                    f"The shipped reader lacks {path}; reinstall mnistlab, or train one with `{READER_COMMAND}`."
                )
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise CheckpointError(
                    f"The shipped reader's {path} is not the file mnistlab shipped (its SHA-256 differs); "
                    "reinstall mnistlab."
                )
    return READER_DIR
