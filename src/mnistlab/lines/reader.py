"""`LineReader`: a line of handwritten digits, joined or apart, read whole.

An image goes through `inference.digits.image_ink` (light on dark, background 0), a drawing
through `data.layout.drawing_ink`; then `preprocess.preprocess_line`, the network once, and
`decode`'s rule with the folder's temperature and threshold. The line is refused (`digits`
None) when it holds a "not a digit" symbol or when its least sure digit is below the
threshold.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mnistlab.lines import decode
from mnistlab.lines.preprocess import PAD, preprocess_line
from mnistlab.lines.store import load_line_reader


@dataclass(frozen=True)
class LineReading:
    digits: str | None  # None: refused
    confidences: tuple[float, ...]  # per symbol, calibrated, left to right
    abstain: bool
    text: str  # what was read whatever the decision, "?" for "not a digit"
    spans: tuple[tuple[int, int], ...]  # per symbol, its output columns (first, last)
    score: float  # the rule's score: the least symbol confidence
    threshold: float
    posteriors: tuple[tuple[float, ...], ...] = ()  # per symbol, the 12 calibrated probabilities
    # (blank, "0".."9", not a digit) at its most confident column
    boxes: tuple[tuple[int, int, int, int], ...] = ()  # per symbol (x0, y0, x1, y1) in the ink's pixels

    @property
    def reason(self) -> str | None:
        if not self.abstain:
            return None
        if not self.text:
            return "no digit was found"
        if "?" in self.text:
            return f"symbol {self.text.index('?') + 1} of {len(self.text)} is not a digit"
        return f"the least sure digit's confidence {self.score:.3f} is below {self.threshold:.3f}"


class LineReader:
    def __init__(self, model: torch.nn.Module, temperature: float, threshold: float) -> None:
        self.model = model.eval()
        self.temperature = float(temperature)
        self.threshold = float(threshold)

    @classmethod
    def from_dir(cls, folder: str | Path | None = None) -> LineReader:
        """The line reader of `folder`, or the one that ships with mnistlab (its hashes checked)."""
        if folder is None:
            from mnistlab.models.pretrained import line_reader_dir

            folder = line_reader_dir()
        model, _, calibration = load_line_reader(Path(folder))
        return cls(model, calibration["temperature"], calibration["rule"]["threshold"])

    @torch.no_grad()
    def log_probs(self, line: np.ndarray) -> np.ndarray:
        """A pre-processed line (32, W) to its (W // 4, 12) log-probabilities."""
        return self.model(torch.from_numpy(np.ascontiguousarray(line, dtype=np.float32))[None, None])[
            0
        ].numpy()

    def read_ink(self, ink: np.ndarray, *, name: str = "The image") -> LineReading:
        """Light-on-dark ink (H, W) on 0..255, background 0."""
        ink = np.asarray(ink, dtype=np.float32)
        line = preprocess_line(ink, name=name)
        reading = self.read_line(line)
        return _with_boxes(reading, ink, line.shape[1] - 2 * PAD)

    def read_line(self, line: np.ndarray) -> LineReading:
        symbols = decode.greedy(self.log_probs(line), self.temperature)
        digits, abstain = decode.decision(symbols, self.threshold)
        return LineReading(
            digits,
            tuple(s.confidence for s in symbols),
            abstain,
            decode.read_text(symbols),
            tuple((s.start, s.end) for s in symbols),
            decode.score(symbols),
            self.threshold,
            tuple(s.posterior for s in symbols),
        )

    def read(self, image: Image.Image | np.ndarray, *, name: str = "The image") -> LineReading:
        """An image (any mode, dark on light or light on dark) or a drawing's light-on-dark
        intensities (2-D array, 0..255 or fractions of 1)."""
        if isinstance(image, Image.Image):
            from mnistlab.inference.digits import image_ink

            return self.read_ink(image_ink(image, name=name)[0], name=name)
        from mnistlab.data.layout import drawing_ink

        return self.read_ink(drawing_ink(np.asarray(image), name=name), name=name)


def _with_boxes(reading: LineReading, ink: np.ndarray, scaled_width: int) -> LineReading:
    """Each symbol's box in the ink's pixels: the line's ink is split at the midpoints between
    consecutive symbols' columns (output column t is input columns 4t..4t+3 of the canvas, the
    8 px pad taken off, scaled back), and each part is shrunk to its own ink."""
    cols = np.flatnonzero((ink > 0).any(axis=0))
    x_origin, width = int(cols[0]), int(cols[-1]) + 1 - int(cols[0])
    factor = width / scaled_width
    centres = [x_origin + ((first + last + 1) / 2 * 4 - PAD) * factor for first, last in reading.spans]
    cuts = [x_origin, *[round((a + b) / 2) for a, b in itertools.pairwise(centres)], x_origin + width]
    boxes = []
    for x0, x1 in itertools.pairwise(cuts):
        x0, x1 = int(np.clip(x0, x_origin, x_origin + width - 1)), int(np.clip(x1, x0 + 1, x_origin + width))
        part = ink[:, x0:x1] > 0
        part_rows, part_cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
        if part_cols.size == 0:  # no ink of its own: the whole column band
            rows = np.flatnonzero((ink > 0).any(axis=1))
            boxes.append((x0, int(rows[0]), x1, int(rows[-1]) + 1))
            continue
        boxes.append(
            (x0 + int(part_cols[0]), int(part_rows[0]), x0 + int(part_cols[-1]) + 1, int(part_rows[-1]) + 1)
        )
    return LineReading(**{**reading.__dict__, "boxes": tuple(boxes)})
