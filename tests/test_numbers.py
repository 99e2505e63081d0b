"""Reading whole numbers: segmentation, the reading of each digit, `predict` and `evaluate --numbers`.

References: the boxes where the test placed each digit (`data.written.compose` returns
them), shapes drawn here whose components are known by construction, a brute-force search for
the least-ink cut path, today's single-digit reading (`Reader.read(preprocess(image))`), exact
error sentences, and golden hashes of the seeded number images.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab.cli import main
from mnistlab.data import written
from mnistlab.data.layout import clean_ink
from mnistlab.data.splits import Dataset
from mnistlab.errors import ImageError
from mnistlab.evaluation import numbers
from mnistlab.inference import preprocess, read_number
from mnistlab.inference.digits import image_ink
from mnistlab.inference.segmentation import MAX_DIGITS, STEP_COST, cut_paths, merged_pieces, segment
from mnistlab.reader import Reader
from mnistlab.training.exposure import digit_pairs

INK = 255.0


def bar(field: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    field[y0:y1, x0:x1] = INK


def overlap_ratio(found: tuple[int, ...], truth: tuple[int, ...], margin: int = 0) -> float:
    """Intersection over the found box's area, the truth widened by `margin` px on each side (a
    bilinear enlargement blurs ink up to a pixel of the original past its box): 1 when inside."""
    truth = (truth[0] - margin, truth[1] - margin, truth[2] + margin, truth[3] + margin)
    w = min(found[2], truth[2]) - max(found[0], truth[0])
    h = min(found[3], truth[3]) - max(found[1], truth[1])
    area = (found[2] - found[0]) * (found[3] - found[1])
    return max(w, 0) * max(h, 0) / area


# -- segmentation without a model ----------------------------------------------------------


def test_two_bars_three_px_apart_are_two_digits_and_two_px_apart_one() -> None:
    field = np.zeros((40, 40), np.float32)
    bar(field, 5, 5, 8, 30)
    bar(field, 11, 5, 14, 30)  # 3 empty columns between: two digits ("11")
    assert [p.box for p in merged_pieces(field)[0]] == [(5, 5, 8, 30), (11, 5, 14, 30)]
    field = np.zeros((40, 40), np.float32)
    bar(field, 5, 5, 8, 30)
    bar(field, 10, 5, 13, 30)  # 2 empty columns: a broken stroke, one digit
    assert [p.box for p in merged_pieces(field)[0]] == [(5, 5, 13, 30)]


def test_a_flag_written_apart_and_a_broken_stroke_join_their_digit() -> None:
    field = np.zeros((60, 80), np.float32)
    bar(field, 10, 20, 14, 50)  # the body of a "5"...
    bar(field, 12, 10, 30, 13)  # ...and its flag, 7 px above, overlapping its columns
    bar(field, 50, 10, 54, 28)  # a "1" broken in two, one above the other
    bar(field, 50, 33, 54, 50)
    pieces, dropped = merged_pieces(field)
    assert [p.box for p in pieces] == [(10, 10, 30, 50), (50, 10, 54, 50)] and dropped == 0


def test_specks_are_dropped_and_counted() -> None:
    field = np.zeros((60, 80), np.float32)
    bar(field, 10, 10, 14, 50)
    bar(field, 30, 10, 34, 50)
    for x in (50, 60, 70):
        bar(field, x, 30, x + 2, 32)  # 2 px specks, under a fifth of the digits' 40 px height
    pieces, dropped = merged_pieces(field)
    assert [p.box for p in pieces] == [(10, 10, 14, 50), (30, 10, 34, 50)] and dropped == 3


def test_more_than_32_candidates_is_one_sentence_and_no_ink_is_todays() -> None:
    field = np.zeros((30, 8 * (MAX_DIGITS + 1) + 10), np.float32)
    for k in range(MAX_DIGITS + 1):
        bar(field, 5 + 8 * k, 5, 8 + 8 * k, 25)
    with pytest.raises(ImageError) as error:
        segment(field, None, name="Image row.png")
    assert str(error.value) == (
        f"Image row.png holds {MAX_DIGITS + 1} digit candidates, more than the {MAX_DIGITS} a number may "
        "have; crop it to one row of digits."
    )
    with pytest.raises(ImageError, match="holds no digit: nothing stands out from its background"):
        clean_ink(np.zeros((28, 28), np.float32), "Image blank.png", "draw")


def brute_force_path(ink: np.ndarray, start: int, margin: int) -> float:
    height, width = ink.shape
    best = np.inf
    for moves in itertools.product((-1, 0, 1), repeat=height - 1):
        cols = start + np.concatenate([[0], np.cumsum(moves)])
        if (cols[1:] < margin).any() or (cols[1:] >= width - margin).any():
            continue
        cost = ink[np.arange(height), cols].sum() + STEP_COST * np.abs(moves).sum()
        best = min(best, cost)
    return best


def test_cut_paths_are_the_least_ink_paths() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        ink = rng.random((6, 7))
        starts = np.array([2, 3, 4])
        paths = cut_paths(ink, starts, margin=1)
        for start, path in zip(starts, paths, strict=True):
            assert path[0] == start and (np.abs(np.diff(path)) <= 1).all()
            cost = ink[np.arange(6), path].sum() + STEP_COST * np.abs(np.diff(path)).sum()
            assert cost == pytest.approx(brute_force_path(ink, start, 1))


def test_composed_numbers_are_found_where_they_were_placed(mnist: Dataset) -> None:
    """Without a model (no cuts): 2-6 test digits with gaps of 3-20 px, both polarities, scales 1-3."""
    made = written.number_images(mnist.test, "numbers", 100)
    right = 0
    for k, item in enumerate(made):
        ink, factor = image_ink(item.image)
        assert factor == 1
        pieces = segment(ink, None).pieces
        scale = written.SCALES[k % 3]
        right += len(pieces) == len(item.boxes) and all(
            overlap_ratio(p.box, t, scale) == 1.0 for p, t in zip(pieces, item.boxes, strict=True)
        )
    assert right >= 98, right  # a few MNIST digits are themselves in pieces more than 2 px apart


def test_number_images_are_seeded_golden(mnist: Dataset) -> None:
    digests = {
        kind: hashlib.sha256(written.number_images(mnist.test, kind, 3)[2].image.tobytes()).hexdigest()[:16]
        for kind in written.SETS
    }
    truths = {kind: written.number_images(mnist.test, kind, 3)[2].truth for kind in written.SETS}
    assert digests == GOLDEN_DIGESTS and truths == GOLDEN_TRUTHS


# sha256 (first 16 hex digits) of the third image of each set from the MNIST test split, and its
# digits: a change to the generator would silently change the published numbers.
GOLDEN_DIGESTS = {
    "numbers": "3630baca7f681b1a",
    "four_digit": "5d0f92a05ccc4670",
    "touching": "1a5052aaa10b1ba7",
    "detached": "30a2486576d4d150",
}
GOLDEN_TRUTHS = {"numbers": "481", "four_digit": "1040", "touching": "06", "detached": "0"}


# -- reading with a model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Path:
    """The reader that ships in the package (the `reader` recipe, seed 0): what `predict` and
    `serve` read with on a fresh machine. Only read here; nothing is written into it."""
    from mnistlab.models.pretrained import reader_run

    return reader_run()


def test_one_digit_reads_exactly_as_before(shipped: Path, mnist: Dataset) -> None:
    reader = Reader.from_run(shipped)
    images = np.asarray(mnist.test.images[:100])
    single = 0
    for digit in images:
        image = Image.fromarray(255 - digit)  # dark on light, as a photo of paper
        number = read_number(reader, image)
        if len(number.digits) == 1:
            single += 1
            before = reader.read(preprocess(image)[None])[0]
            assert number.digits[0].reading == before
            assert (number.digits[0].image == preprocess(image)).all()
        assert (
            read_number(reader, image, single=True).digits[0].reading
            == reader.read(preprocess(image)[None])[0]
        )
    assert single >= 99, single  # 3 of the first 2,000 are MNIST digits in two pieces


def test_predict_reads_a_number_with_boxes_in_the_images_pixels(
    shipped: Path, mnist: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = Reader.from_run(shipped)
    path = tmp_path / "number.png"
    # The first of these numbers the reader reads as four digits without refusing one (the second
    # on the reader shipped today): scale 2, light on dark. The CLI must print the library's reading.
    for item in written.number_images(mnist.test, "four_digit", 6):
        item.image.save(path)
        expected = read_number(reader, Image.open(path))
        if item.image.size[0] > 100 and len(expected.digits) == 4 and not expected.abstain:
            break
    else:
        pytest.fail("the shipped reader read none of six 4-digit numbers whole")
    assert main(["predict", str(shipped), str(path), "--json", "--device", "cpu"]) == 0
    row = json.loads(capsys.readouterr().out)["predictions"][0]
    assert row["number"] == expected.number(reader.classes) and len(row["digits"]) == 4
    assert sum(a == b for a, b in zip(row["number"], item.truth, strict=True)) >= 3
    assert row["abstain"] is False and row["reason"] is None
    for digit, truth, mine in zip(row["digits"], item.boxes, expected.digits, strict=True):
        assert overlap_ratio(tuple(digit["box"]), truth, 2) == 1.0 and tuple(digit["box"]) == mine.box
        assert digit["probabilities"] == list(mine.reading.prediction.probabilities)
        assert 0.5 < digit["probability"] <= 1.0
    assert main(["predict", str(shipped), str(path), "--explain", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"{path}: {row['number']}  (4 digits)"
    assert [line.split(":")[0] for line in lines[2:]] == [
        f"  digit {k} at [{', '.join(map(str, d['box']))}]" for k, d in enumerate(row["digits"], start=1)
    ]
    assert main(["predict", str(shipped), str(path), "--json", "--single", "--device", "cpu"]) == 0
    row = json.loads(capsys.readouterr().out)["predictions"][0]
    (digit,) = row["digits"]
    assert row["number"] in (None, digit["class"]) and (row["number"] is None) == digit["abstain"]


def test_evaluate_numbers_reports_each_set(
    shipped: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(numbers, "SETS", {"four_digit": 20, "touching": 10})
    assert main(["evaluate", str(shipped), "--numbers", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and set(report["sets"]) == {"four_digit", "touching"}
    four = report["sets"]["four_digit"]
    assert four["images"] == 20 and four["exact"] >= 0.85  # the shipped reader: 20 of 20 (95 % of 500)
    assert four["exact"] <= four["segmented"] and four["digits_right"] <= four["segmented"] + 1e-9


# -- pairs of digits as outliers -------------------------------------------------------------


def test_digit_pairs_are_seeded_and_preprocessed_as_one_digit(mnist: Dataset) -> None:
    train = mnist.train.images.numpy()
    pairs = digit_pairs(train, 50, seed=7)
    assert pairs.shape == (50, 28, 28) and pairs.dtype == np.uint8
    assert (pairs == digit_pairs(train, 50, seed=7)).all()
    assert not (pairs == digit_pairs(train, 50, seed=8)).all()
    for pair in pairs:
        rows, cols = np.nonzero(pair)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 in (20, 21)  # MNIST's 20 px box (Lanczos may bleed 1 px)
        w = pair.astype(np.float64)
        cy, cx = (np.indices(w.shape) * w).reshape(2, -1).sum(axis=1) / w.sum()
        assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75


def test_outlier_exposure_may_train_on_pairs_of_its_own_training_digits(
    mnist: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnistlab.config import OUTLIER_SETS
    from mnistlab.data.outliers import TRAIN_SEED, TRAINABLE
    from mnistlab.training import exposure

    assert set(OUTLIER_SETS) == {"other", "pairs", *TRAINABLE, *exposure.PEN_SETS}
    monkeypatch.setattr(exposure, "MADE_PER_SET", 300)  # the real 10,000 take ~5 s to make
    pool = exposure.outlier_pool(mnist, ("pairs",))
    assert pool.shape == (300, 28, 28)
    assert (pool.numpy() == digit_pairs(mnist.train.images.numpy(), 300, TRAIN_SEED)).all()


def test_a_field_of_many_components_is_refused_before_the_pairwise_tables() -> None:
    field = np.zeros((200, 200), np.float32)
    field[::6, ::6] = INK  # 1,156 dots of one pixel, all of the tallest one's height
    with pytest.raises(ImageError, match="holds 1156 digit candidates, more than the 32"):
        segment(field, None, name="Image dots.png")


# -- the shipped reader --------------------------------------------------------------------


def test_predict_with_no_run_directory_reads_with_the_shipped_reader(
    mnist: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnistlab.models.pretrained import reader_run

    item = written.number_images(mnist.test, "four_digit", 1)[0]
    first, second = tmp_path / "number.png", tmp_path / "digit.png"
    item.image.save(first)
    Image.fromarray(255 - np.asarray(mnist.test.images[0])).save(second)
    assert main(["predict", str(first), str(second), "--json", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "reading with the reader that ships with mnistlab" in captured.err
    out = json.loads(captured.out)
    assert out["run_dir"] == str(reader_run()) and out["calibrated"] is True
    shipped = Reader.from_run(reader_run())
    rows = out["predictions"]
    # With no run named, a number is read whole by the shipped line reader where it reads better.
    from mnistlab.lines.number import read_any_number

    assert rows[0]["number"] == read_any_number(shipped, item.image).number(shipped.classes)
    (digit,) = rows[1]["digits"]
    assert digit["label"] == shipped.read(preprocess(Image.open(second))[None])[0].label
    assert digit["label"] == int(mnist.test.labels[0]) and rows[1]["number"] == digit["class"]


def test_evaluate_numbers_of_a_clothing_run_is_one_sentence(shipped: Path) -> None:
    import dataclasses

    from mnistlab.errors import UsageError

    clothing = dataclasses.replace(Reader.from_run(shipped), image_kind="objects", title="Fashion-MNIST")
    with pytest.raises(UsageError) as error:
        numbers.numbers_report(clothing, None, "runs/fashion")  # refused before any image is made
    assert str(error.value) == (
        "The numbers report reads numbers written in digits, and runs/fashion was trained on "
        "Fashion-MNIST; pass a run trained on digits."
    )
