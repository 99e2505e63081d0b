"""The line reader: its pre-processing against closed forms, the line maker, CTC decoding,
training, and the shipped reader (hashes, ONNX equal to PyTorch, a few lines read)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab.data import Dataset
from mnistlab.errors import ImageError
from mnistlab.lines import decode
from mnistlab.lines.make import NOT_A_DIGIT, LineStyle, line_image, make_lines
from mnistlab.lines.preprocess import coverage, line_batch, preprocess_line
from mnistlab.models import pretrained

REPO = Path(__file__).resolve().parents[1]


def test_area_averaging_is_the_block_mean_for_an_integer_factor() -> None:
    x = np.arange(24, dtype=np.float64).reshape(6, 4)
    blocks = x.reshape(3, 2, 2, 2).mean(axis=(1, 3))  # 2x2 block means
    assert np.allclose(coverage(6, 3) @ x @ coverage(4, 2).T, blocks)


def test_area_averaging_by_hand() -> None:
    # 3 px to 2: the first output covers [0, 1.5): all of pixel 0 and half of pixel 1.
    assert np.allclose(coverage(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    # 2 px to 3: each output covers 2/3 of a pixel; the middle one straddles both.
    assert np.allclose(coverage(2, 3), [[1, 0], [0.5, 0.5], [0, 1]])
    assert np.allclose(coverage(7, 5).sum(axis=1), 1.0)


def test_a_line_is_placed_at_height_32_with_8_px_margins() -> None:
    ink = np.zeros((50, 60))
    ink[5:45, 10:30] = 200.0  # 40 x 20 px of ink: scaled by 1/2 to 20 x 10
    line = preprocess_line(ink)
    assert line.shape == (32, 10 + 16) and line.dtype == np.float32
    assert np.allclose(line[6:26, 8:18], 1.0) and line.sum() == pytest.approx(200.0)


def test_several_rows_of_writing_are_one_sentence() -> None:
    ink = np.zeros((80, 60))
    ink[5:25, 5:50] = 255.0
    ink[45:65, 5:40] = 255.0
    with pytest.raises(ImageError, match="The image has several rows of writing; crop one row."):
        preprocess_line(ink)
    ink[45:65] = 0
    ink[28:30, 5:20] = 255.0  # a stroke two rows below: one row of writing
    assert preprocess_line(ink).shape[0] == 32


def test_batched_preprocessing_equals_the_numpy_steps(mnist: Dataset) -> None:
    lines = make_lines(mnist.test.images, mnist.test.labels, 12, 5)
    batch, widths = line_batch(lines.raw)
    for i in range(12):
        one = preprocess_line(line_image(lines, i).numpy())
        assert one.shape[1] == int(widths[i])
        assert np.allclose(batch[i, :, : one.shape[1]].numpy(), one, atol=1e-5)
        assert float(batch[i, :, one.shape[1] :].abs().sum()) == 0.0


def test_the_line_maker_is_seeded_and_labelled(mnist: Dataset) -> None:
    negatives = torch.zeros(5, 28, 28, dtype=torch.uint8)
    negatives[:, 6:22, 10:18] = 255  # a block: not a digit
    style = LineStyle(negative_rate=0.5)
    a = make_lines(mnist.test.images, mnist.test.labels, 40, 7, style, negatives)
    b = make_lines(mnist.test.images, mnist.test.labels, 40, 7, style, negatives)
    c = make_lines(mnist.test.images, mnist.test.labels, 40, 8, style, negatives)
    assert torch.equal(a.raw, b.raw) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.targets, c.targets)
    assert int(a.lengths.min()) >= 1 and int(a.lengths.max()) <= 8
    for i in range(40):
        n = int(a.lengths[i])
        assert (a.targets[i, :n] >= 1).all() and (a.targets[i, n:] == 0).all()
    marked = (a.targets == NOT_A_DIGIT).sum(1)
    assert int(marked.max()) == 1 and 10 <= int(marked.sum()) <= 30  # about half the lines
    assert a.truth(int(marked.argmax())).count("?") == 1


def _ink_runs(raw: torch.Tensor) -> int:
    cols = (raw.amax(0) > 0).int()
    return int((cols[1:] > cols[:-1]).sum() + cols[0])


def test_gaps_part_or_join_the_digits(mnist: Dataset) -> None:
    def runs(gap: tuple[float, float]) -> list[int]:
        style = LineStyle(min_symbols=2, max_symbols=2, gap=gap, slant=0.0)
        lines = make_lines(mnist.test.images, mnist.test.labels, 60, 3, style)
        return [_ink_runs(lines.raw[i]) for i in range(60)]

    assert np.mean([r >= 2 for r in runs((0.4, 0.6))]) >= 0.95  # apart
    # Overlapping: one run of ink, but for digits whose own ink has an empty column (54 of 60).
    assert np.mean([r == 1 for r in runs((-0.35, -0.2))]) >= 0.8


def test_greedy_decoding_of_hand_made_posteriors() -> None:
    def columns(classes: list[int], p: float = 0.9) -> np.ndarray:
        probs = np.full((len(classes), 12), (1 - p) / 11)
        probs[np.arange(len(classes)), classes] = p
        return np.log(probs)

    # blank, 3 3 (one symbol), blank, 3 (a second 3), 8, blank: "227"
    symbols = decode.greedy(columns([0, 3, 3, 0, 3, 8, 0]))
    assert decode.read_text(symbols) == "227" and [(s.start, s.end) for s in symbols] == [
        (1, 2),
        (4, 4),
        (5, 5),
    ]
    assert decode.decision(symbols, 0.5) == ("227", False)
    assert symbols[0].confidence == pytest.approx(0.9)
    assert decode.decision(symbols, 0.95) == (None, True)  # least sure digit below the threshold
    refused = decode.greedy(columns([1, 0, 11, 0]))
    assert decode.read_text(refused) == "0?" and decode.decision(refused, 0.0) == (None, True)
    assert decode.decision(decode.greedy(columns([0, 0])), 0.0) == (None, True)  # nothing written
    # A temperature above 1 flattens the confidence.
    assert decode.greedy(columns([5]), temperature=2.0)[0].confidence < 0.9


def test_a_few_steps_of_training_lower_the_loss(mnist: Dataset) -> None:
    from mnistlab.lines.train import LineConfig, LineData, train_lines

    torch.set_num_threads(1)
    images, labels = mnist.train.images[:2000], mnist.train.labels[:2000]
    negatives = torch.zeros(1, 28, 28, dtype=torch.uint8)
    data = LineData(images, labels, images, labels, negatives, negatives)
    config = LineConfig(steps=40, batch=16, lr=3e-3, style=LineStyle(max_symbols=3))
    losses = train_lines(config, data).losses
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_the_shipped_line_reader_is_the_recorded_files() -> None:
    folder = pretrained.line_reader_dir()
    assert {p.name for p in folder.iterdir()} == {*pretrained.LINE_SHA256, "README.md"}
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for name, digest in pretrained.LINE_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
        assert f"| `{name}` | `{digest}` |" in readme
    assert pretrained.LINE_READER_COMMAND in readme
    # The weights twice (safetensors and ONNX, 1.2 MB each, float32): 2.4 MB.
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 2_500_000
    assert '"models/pretrained/line_reader/*"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def _test_lines(mnist: Dataset, count: int, seed: int, **style: object):
    lines = make_lines(mnist.test.images, mnist.test.labels, count, seed, LineStyle(**style))
    return lines, [line_image(lines, i).numpy() for i in range(count)]


def test_onnx_decodes_test_lines_to_pytorchs_numbers(mnist: Dataset) -> None:
    import onnx
    import onnxruntime as ort

    from mnistlab.lines.reader import LineReader

    reader = LineReader.from_dir()
    path = pretrained.line_reader_dir() / "line_reader.onnx"
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["mnistlab_line"])
    assert meta["temperature"] == reader.temperature and meta["rule"]["threshold"] == reader.threshold
    assert (meta["height"], meta["ink_rows"], meta["pad"], meta["stride"], meta["blank"]) == (
        32,
        [6, 26],
        8,
        4,
        0,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _, inks = _test_lines(mnist, 36, 11)
    for ink in inks:
        line = preprocess_line(ink)
        onnx_lp = session.run(["log_probs"], {"line": line[None, None]})[0][0]
        torch_lp = reader.log_probs(line)
        assert onnx_lp.shape == torch_lp.shape == (line.shape[1] // 4, 12)
        ours = decode.decision(decode.greedy(torch_lp, meta["temperature"]), meta["rule"]["threshold"])
        theirs = decode.decision(decode.greedy(onnx_lp, meta["temperature"]), meta["rule"]["threshold"])
        assert ours == theirs


def test_the_shipped_line_reader_reads_test_lines(mnist: Dataset) -> None:
    from mnistlab.lines.reader import LineReader

    reader = LineReader.from_dir()
    lines, inks = _test_lines(mnist, 20, 12, min_symbols=4, max_symbols=4, gap=(0.1, 0.6))
    readings = [reader.read(ink.astype(np.uint8)) for ink in inks]
    right = sum(r.digits == lines.truth(i) for i, r in enumerate(readings))
    assert right >= 16  # measured on 500: well above 90 %
    for r in readings:
        assert len(r.confidences) == len(r.text) == len(r.boxes) and r.abstain == (r.digits is None)
    assert reader.read(mnist.test.images[0].numpy()).digits == str(int(mnist.test.labels[0]))


def test_a_number_read_whole_keeps_the_number_fields(mnist: Dataset) -> None:
    from PIL import Image

    from mnistlab.inference.number import number_fields, read_number
    from mnistlab.lines.number import read_number_whole, shipped_line_reader
    from mnistlab.reader.reader import Reader

    reader = Reader.from_run(pretrained.reader_run())
    lines, inks = _test_lines(mnist, 1, 13, min_symbols=3, max_symbols=3, gap=(0.3, 0.5))
    image = Image.fromarray(255 - inks[0].astype(np.uint8))  # dark on light, as a photo
    whole = read_number_whole(shipped_line_reader(), reader, image, name="The image")
    today = read_number(reader, image)
    ours, theirs = number_fields(whole, reader), number_fields(today, reader)
    assert set(ours) == set(theirs) and set(ours["digits"][0]) == set(theirs["digits"][0])
    assert ours["number"] == lines.truth(0) == theirs["number"]
    for digit in ours["digits"]:
        x0, y0, x1, y1 = digit["box"]
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
        assert abs(sum(digit["probabilities"]) - 1) < 1e-6
