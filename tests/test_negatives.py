"""The negatives that look like pen strokes: seeded, MNIST-like, split by font, shape and seed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.ft2font import FT2Font
from PIL import Image, ImageDraw
from scipy import ndimage

from mnistlab.data import doodles, negatives, pen
from mnistlab.data.negatives import FAMILIES, SPLITS, make_negatives, named_negatives
from mnistlab.errors import DataError, UsageError

REPO = Path(__file__).resolve().parents[1]
GRID = np.arange(28)


def fake_digits() -> torch.Tensor:
    """Twelve stand-in digits (a stroke and a ring each), so the pairs need no dataset."""
    images = []
    for k in range(12):
        canvas = Image.new("L", (28, 28), 0)
        draw = ImageDraw.Draw(canvas)
        draw.line([(8 + k % 5, 4), (14, 23 - k % 4)], fill=255, width=3)
        draw.ellipse([12, 6 + k % 3, 21, 15 + k % 3], outline=200, width=2)
        images.append(np.asarray(canvas))
    return torch.from_numpy(np.stack(images))


DIGITS = fake_digits()


def made(family: str, n: int, split: str, seed: int) -> torch.Tensor:
    return make_negatives(
        family, n, split=split, seed=seed, digits=DIGITS if family == "joined_pairs" else None
    )


def digest(images: torch.Tensor) -> str:
    return hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16]


# Golden digests of the first 3 images of each family, split test, seed 7: a change to the pen,
# the shapes, the fonts' rendering or the seeding shows here first.
GOLDEN = {
    "letters": "f5c5785c836b70fe",
    "doodles": "98b43dc255ea0d29",
    "scribbles": "a741171d1c8b000d",
    "joined_pairs": "3d7bf6bd9a5fcdc2",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_golden_digests(family: str) -> None:
    assert digest(made(family, 3, "test", 7)) == GOLDEN[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_seed_gives_the_same_images_and_another_seed_others(family: str) -> None:
    first = made(family, 4, "val", 3)
    assert torch.equal(first, made(family, 4, "val", 3))
    # Image i has its own stream: a shorter call is the start of a longer one.
    assert torch.equal(made(family, 2, "val", 3), first[:2])
    other = made(family, 4, "val", 4)
    assert all(not torch.equal(a, b) for a, b in zip(first, other, strict=True))
    # The same seed in another split is another stream too.
    assert not torch.equal(first, made(family, 4, "test", 3))


def assert_mnist_like(images: torch.Tensor, names: list[str]) -> None:
    """Each image as `predict` leaves a drawing: 28x28 uint8, strongest ink 255, the ink's
    longer side 20 px (Lanczos may bleed one), centre of mass within 1 px of (14, 14)."""
    assert images.dtype == torch.uint8 and images.shape[1:] == (28, 28)
    x = images.numpy().astype(np.float64)
    assert (x.max(axis=(1, 2)) == 255).all()
    mass = x.sum(axis=(1, 2))
    cy, cx = x.sum(axis=2) @ GRID / mass, x.sum(axis=1) @ GRID / mass
    for image, y, c, name in zip(x, cy, cx, names, strict=True):
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21), name
        assert abs(y - 14) <= 1 and abs(c - 14) <= 1, (name, y, c)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_negative_is_laid_out_as_an_mnist_digit(family: str, split: str) -> None:
    digits = DIGITS if family == "joined_pairs" else None
    images, names = named_negatives(family, 10, split=split, seed=11, digits=digits)
    assert images.shape == (10, 28, 28) and len(names) == 10
    assert_mnist_like(images, names)


@settings(max_examples=12, deadline=None)
@given(
    family=st.sampled_from(["doodles", "scribbles"]),
    split=st.sampled_from(SPLITS),
    seed=st.integers(0, negatives.SEEDS_PER_SPLIT - 1),
)
def test_any_seed_draws_mnist_like_shapes_of_its_split(family: str, split: str, seed: int) -> None:
    images, names = named_negatives(family, 3, split=split, seed=seed)
    assert_mnist_like(images, names)
    makers = doodles.DOODLES if family == "doodles" else doodles.SCRIBBLES
    assert set(names) <= set(makers[split])


def test_the_splits_share_no_font_symbol_shape_or_seed() -> None:
    tables = negatives.split_tables()
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        for key in ("fonts", "doodles", "scribbles"):
            assert not set(tables[a][key]) & set(tables[b][key]), (a, b, key)
        assert not set(negatives.SYMBOLS[a]) & set(negatives.SYMBOLS[b])
        # The letters themselves are shared; only their fonts differ.
        assert set(tables[a]["characters"]) - set(negatives.SYMBOLS[a]) == set(negatives.LETTERS)
    starts = sorted(negatives.SPLIT_SEEDS.values())
    assert starts == [0, negatives.SEEDS_PER_SPLIT, 2 * negatives.SEEDS_PER_SPLIT]
    assert tables["test"]["doodles"] == ["envelope", "eye", "fish", "target", "tree", "wave"]


def test_every_font_draws_each_character_asked_of_it() -> None:
    for split in SPLITS:
        for font in negatives.FONTS[split]:
            face = FT2Font(str(negatives.font_path(font)))
            missing = [c for c in negatives.characters(font, split) if face.get_char_index(ord(c)) == 0]
            assert missing == [], (font, missing)


def test_the_letters_that_are_digits_by_hand_are_never_drawn() -> None:
    assert negatives.DIGIT_LIKE == "OoIilSsZzBbGgqJjQ"
    assert len(negatives.LETTERS) == 52 - 17
    for split in SPLITS:
        assert not set(negatives.split_characters(split)) & set(negatives.DIGIT_LIKE + "/\\|!()[]{}§∞£")
        picks = [
            negatives.pick_letter(np.random.default_rng([split == "val", k]), split) for k in range(3000)
        ]
        chars = {char for char, _ in picks}
        assert chars == set(negatives.split_characters(split))  # every one drawn, no other
        assert {font for _, font in picks} == set(negatives.FONTS[split])
    _, names = named_negatives("letters", 12, split="train", seed=0)
    assert all(name[0] not in negatives.DIGIT_LIKE for name in names)
    assert all(re.fullmatch(r". \((DejaVuSans[-\w]*|cm\w+)\)", name) for name in names), names


def test_zero_negatives_is_an_empty_batch() -> None:
    assert made("letters", 0, "train", 0).shape == (0, 28, 28)


def test_thinning_leaves_a_one_pixel_centre_line() -> None:
    bar = np.zeros((1, 9, 30), dtype=bool)
    bar[0, 3:6, 2:28] = True  # 3 px thick, 26 long
    line = np.zeros((9, 30), dtype=bool)
    line[4, 3:26] = True  # the middle row, the ends eaten 1-2 px as Zhang-Suen does
    assert np.array_equal(pen.thin(bar)[0], line)
    plus = np.zeros((1, 31, 31), dtype=bool)
    plus[0, 13:18, 2:29] = plus[0, 2:29, 13:18] = True  # arms 5 px thick
    cross = np.zeros((31, 31), dtype=bool)
    cross[15, 4:26] = cross[4:26, 15] = True
    assert np.array_equal(pen.thin(plus)[0], cross)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(2, 40), st.integers(2, 40), st.integers(1, 6)), min_size=1, max_size=4))
def test_thinning_keeps_each_blob_in_one_piece_inside_itself(discs) -> None:
    yy, xx = np.mgrid[:44, :44]
    mask = np.zeros((44, 44), dtype=bool)
    for y, x, r in discs:
        mask |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    skeleton = pen.thin(mask[None])[0]
    square = np.ones((3, 3))
    assert not (skeleton & ~mask).any()
    assert ndimage.label(skeleton, square)[1] == ndimage.label(mask, square)[1]
    assert np.array_equal(pen.thin(skeleton[None])[0], skeleton)  # a skeleton is already thin


def test_pruning_drops_short_side_branches_and_keeps_long_ones_and_dots() -> None:
    t = np.zeros((30, 30), dtype=bool)
    t[5, 3:27] = True  # the bar: arms of 12 and 11 px from the stem
    t[5:28, 15] = True  # the stem, 22 px
    t[12, 16:19] = True  # a 3 px spur
    t[2, 2] = True  # a dot
    expected = t.copy()
    expected[12, 17:19] = False  # the spur's first pixel touches the stem three times: it stays
    assert np.array_equal(pen.prune(t, 5), expected)
    assert np.array_equal(pen.prune(t, 0), t)


@pytest.mark.parametrize(
    ("call", "sentence"),
    [
        (
            dict(family="digits"),
            "Unknown family of negatives 'digits'; choose one of letters, doodles, scribbles, joined_pairs.",
        ),
        (dict(split="validation"), "Unknown split 'validation'; choose one of train, val, test."),
        (dict(seed=1_000_000), "The seed of negatives must be from 0 to 999999, got 1000000."),
        (dict(seed=-1), "The seed of negatives must be from 0 to 999999, got -1."),
        (dict(n=-2), "The number of negatives must be 0 or more, got -2."),
    ],
)
def test_a_bad_request_is_one_sentence(call: dict, sentence: str) -> None:
    args = {"family": "doodles", "n": 2, "split": "train", "seed": 0} | call
    with pytest.raises(UsageError) as error:
        make_negatives(args.pop("family"), args.pop("n"), **args)
    assert str(error.value) == sentence


@pytest.mark.parametrize(
    "digits",
    [
        None,
        DIGITS.float(),
        DIGITS[:1],
        DIGITS[:, :20],
        torch.cat([DIGITS[:3], torch.zeros(1, 28, 28, dtype=torch.uint8)]),
    ],
)
def test_joined_pairs_need_digits_with_ink(digits) -> None:
    with pytest.raises(UsageError) as error:
        make_negatives("joined_pairs", 2, split="test", seed=0, digits=digits)
    assert str(error.value) == (
        "Joined pairs are made from digits; pass digits= as uint8 images (N, 28, 28), at least 2, each with ink."
    )


def test_a_font_missing_from_matplotlib_is_named(monkeypatch, tmp_path) -> None:
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_data_path", lambda: str(tmp_path))
    negatives.glyph_points.cache_clear()
    try:
        with pytest.raises(DataError) as error:
            make_negatives("letters", 1, split="test", seed=0)
    finally:
        negatives.glyph_points.cache_clear()
    path = (
        tmp_path
        / "fonts"
        / "ttf"
        / negatives.pick_letter(np.random.default_rng([1, 2_000_000, 0]), "test")[1]
    )
    assert str(error.value) == f"The font {path} is missing from matplotlib's fonts; reinstall matplotlib."


def test_the_docs_show_the_protocol_and_the_sample_page() -> None:
    page = (REPO / "docs" / "reader.md").read_text(encoding="utf-8")
    section = page.split("## Negatives that look like pen strokes", 1)[1].split("\n## ", 1)[0]
    assert "![Negatives that look like pen strokes](figures/negatives.png)" in section
    figure = REPO / "docs" / "figures" / "negatives.png"
    assert figure.stat().st_size < 200_000
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    tables = negatives.split_tables()
    for split in SPLITS:
        row = rows[split]
        for font in tables[split]["fonts"]:  # by family: DejaVuSerif-BoldItalic.ttf is DejaVu Serif
            family = re.sub(r"(-\w+|Bol\w*|Italic)$", "", font.removesuffix(".ttf"))
            assert family in row.replace(" ", ""), (split, font)
        for name in [*tables[split]["doodles"], *tables[split]["scribbles"], *negatives.SYMBOLS[split]]:
            assert name in row, (split, name)


def test_pen_digits_are_the_split_fonts_digits_through_the_same_pen() -> None:
    from mnistlab.data.pen_digits import pen_digits

    images, labels = pen_digits(40, split="val", seed=0)
    assert images.dtype == torch.uint8 and images.shape == (40, 28, 28) and labels.shape == (40,)
    assert set(labels.tolist()) <= set(range(10)) and len(set(labels.tolist())) >= 8
    first, first_labels = pen_digits(10, split="val", seed=0)  # a prefix of any longer call
    assert torch.equal(first, images[:10]) and torch.equal(first_labels, labels[:10])
    assert not torch.equal(pen_digits(10, split="test", seed=0)[0], first)
    ink = (images.float() / 255).sum(dim=(1, 2))
    assert ink[1::2].mean() > 1.3 * ink[0::2].mean()  # the odd half is written with a heavy pen
    with pytest.raises(UsageError, match="split val or test"):
        pen_digits(1, split="train", seed=0)
