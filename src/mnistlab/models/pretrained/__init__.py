"""The trained reader that ships inside mnistlab, so `predict` and `serve` answer before any training.

`reader_run()` is a run folder like any other, read with `mnistlab.runs.checkpoint.load_model`
or `mnistlab.reader.Reader.from_run`: the files `mnistlab train cnn --recipe reader --seed 0
--threads 2` wrote (config.json, dataset.json, calibration.json, results.json, metrics.jsonl,
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
READER_COMMAND = "mnistlab train cnn --recipe reader --seed 0 --threads 2"
# The SHA-256 of every file of the shipped run, as README.md lists them.
SHA256 = {
    "calibration.json": "cff3216ac32fbfa018db7f71496a58922c14d568324f47d13ee84176391d6150",
    "config.json": "f3629e7c17734d18511920a29df056e3de6841626227594e519731149c3e5ee9",
    "dataset.json": "0b7243b5ef33ef7fbff411e51b8bf689158bd668bb370b422945cd76b134c027",
    "metrics.jsonl": "38854eae7bc53d8ccefc4c1ba43ec6ecb7a0e7b36aa073306e3e1b74cac9a170",
    "model-0001290.safetensors": "f44cb512d19d585275e08a48b7fa08166578cb1e8fc5786bc49020d079c035e2",
    "results.json": "5778fab6f7b9dd6c4cc5e31b9a11e1f4803409f746d8792d7b9d889af2876756",
    "state.json": "42c587b7a88bd11e811e191be611f750b32b44325ab98afc44eae28c6feeb185",
}


def reader_run(*, verify: bool = True) -> Path:
    """The shipped reader's run directory; with `verify`, its files checked against `SHA256` first."""
    if verify:
        _verify(
            READER_DIR, SHA256, "shipped reader", f"reinstall mnistlab, or train one with `{READER_COMMAND}`"
        )
    return READER_DIR


# The line reader (`mnistlab.lines`): a folder of its own beside the digit reader's, made by
# LINE_READER_COMMAND; its README.md lists the same digests as LINE_SHA256.
LINE_READER_DIR = Path(__file__).resolve().parent / "line_reader"
LINE_READER_COMMAND = (
    "python scripts/line_reader.py train src/mnistlab/models/pretrained/line_reader --threads 1"
)
LINE_SHA256 = {
    "calibration.json": "eab7abbedfd4cf9033ae506b6c94e1658f8e598b7c01d286affcb246f82aac8e",
    "config.json": "183b72587618ebf807326a44f86dae26c787ed4797836192272259b9488c363a",
    "line_reader.onnx": "dafb5ea6be29472886eeb6dae74e428e94dfc0fdeae834f0d17177eac4d71eb2",
    "model.safetensors": "a30436e0b01caced72201a890935477a7e4d2eb21a01b39503e2da29eecbeb93",
    "validation.json": "96ca7b65ba1824350f5b4aa290eca18d6d7f9cdb5ac4fe8aafb53658e5592a3d",
}


def line_reader_dir(*, verify: bool = True) -> Path:
    """The shipped line reader's folder; with `verify`, its files checked against `LINE_SHA256`."""
    if verify:
        _verify(LINE_READER_DIR, LINE_SHA256, "shipped line reader", "reinstall mnistlab")
    return LINE_READER_DIR


def _verify(folder: Path, digests: dict[str, str], what: str, if_missing: str) -> None:
    """Each file of `digests` in `folder`, present and with its SHA-256, or one sentence."""
    for name, digest in digests.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"The {what} lacks {path}; {if_missing}.")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise CheckpointError(
                f"The {what}'s {path} is not the file mnistlab shipped (its SHA-256 differs); "
                "reinstall mnistlab."
            )
