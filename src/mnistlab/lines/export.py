"""The line reader as ONNX: input `line` float32 [1, 1, 32, W] (W dynamic, at least 16),
output `log_probs` float32 [1, W // 4, 12], already log-softmaxed, the temperature NOT applied.

metadata_props key `mnistlab_line` holds JSON: height, ink_rows [6, 26) (first, end), pad,
blank, symbols, temperature, rule {score, threshold}, stride. Pre-processing is
`mnistlab.lines.preprocess` (its docstring lists the steps); the decision is `decode`'s rule:
per-symbol confidence = max over the symbol's columns of softmax(log_probs / temperature)
[class]; the line abstains when it holds no symbol, a "not a digit" symbol, or when the
minimum confidence < threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mnistlab.lines import decode
from mnistlab.lines.model import STRIDE
from mnistlab.lines.preprocess import HEIGHT, INK_HEIGHT, INK_TOP, PAD

INPUT_NAME = "line"
OUTPUT_NAME = "log_probs"
METADATA_KEY = "mnistlab_line"


def line_metadata(temperature: float, threshold: float) -> dict:
    return {
        "height": HEIGHT,
        "ink_rows": [INK_TOP, INK_TOP + INK_HEIGHT],
        "pad": PAD,
        "blank": decode.BLANK,
        "symbols": list(decode.SYMBOLS),
        "temperature": temperature,
        "rule": {"score": decode.SCORE, "threshold": threshold},
        "stride": STRIDE,
    }


def line_onnx(model: torch.nn.Module, temperature: float, threshold: float) -> bytes:
    """The serialized ONNX model with its metadata."""
    from mnistlab.export.onnx import serialize

    data, _ = serialize(
        model.eval(),
        torch.zeros(1, 1, HEIGHT, 96),
        {3: torch.export.Dim("width", min=2 * STRIDE * 2, max=65536)},
        (INPUT_NAME, OUTPUT_NAME),
        "mnistlab line reader; see the metadata 'mnistlab_line'.",
        {METADATA_KEY: json.dumps(line_metadata(temperature, threshold))},
    )
    return data


def export_line_reader(folder: Path | None, out: Path) -> Path:
    """The line reader of `folder` (None: the shipped one) written as ONNX to `out`."""
    from mnistlab.fileio import atomic_write_bytes
    from mnistlab.lines.reader import LineReader

    reader = LineReader.from_dir(folder)
    atomic_write_bytes(out, line_onnx(reader.model, reader.temperature, reader.threshold))
    return out
