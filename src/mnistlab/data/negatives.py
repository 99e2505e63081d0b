"""Negatives that look like pen strokes: what a reader of digits must refuse, made from seeds.

Four families, each image a (28, 28) uint8 light-on-dark image pre-processed as a drawing is
by `predict` (ink crop, longer side 20 px, centre of mass at the centre):

- `letters`: letters and symbols of the fonts matplotlib installs, thinned to their centre
  line, side branches of 15 % of the glyph pruned (serifs), then written again by
  `mnistlab.data.pen` (random pen width, wobble, slant, rotation and aspect). The letters
  that are digits when written by hand are never made: O o I i l S s Z z B b G g q (0, 1,
  5, 2, 8, 6, 9), J j (a stem whose hook some fonts barely draw: a 1), Q (DejaVu Sans
  Mono's is a 0 with a tick); nor the symbols / \\ | ! ( ) [ ] { } (a 1), § ∞ (an 8), £ (a 2).
- `doodles`: shapes drawn on a pad (`mnistlab.data.doodles`), written by the same pen.
- `scribbles`: one line that never lifts, dense enough to be no digit, by the same pen.
- `joined_pairs`: two of the given MNIST digits touching or overlapping by up to 4 px,
  pre-processed as one digit (what a reader must not read as one digit).

The protocol: each split draws from its own fonts, symbols, shapes, digits and seeds, so
that validation measures what training never showed and test what neither did:

    split  letters' fonts (matplotlib's)          symbols           doodles; scribbles
    train  DejaVu Sans (4 styles), cmr10, cmss10,  + = # % & * < ~   heart star house smiley spiral
           cmtt10, cmb10                                             cloud zigzag; tangle hatch
    val    DejaVu Serif (4), DejaVu Sans Mono (4)  @ ? > $ ¥         arrow lightning flower sun
                                                                     triangle tick; loops
    test   STIX General (4), cmti10, cmmi10        € π Σ Ω λ μ       fish envelope tree wave
                                                                     target eye; curves

    split  joined pairs' digits   stream seeds (seed + the split's first)
    train  MNIST train            0 .. 999,999
    val    MNIST validation       1,000,000 .. 1,999,999
    test   MNIST test             2,000,000 .. 2,999,999

All three splits use the same 35 letters (A-Z and a-z less the 17 above). A `seed` of 0 to
999,999 is added to the split's first stream seed; image i of a call is made from its own
numpy Generator, `default_rng([family code, stream seed, i])`, so the first k images of a
call are those of any longer call with the same seed. The digits of `joined_pairs` are an
argument (this module reads no dataset): pass the split's own digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import torch

from mnistlab.data import doodles, pen
from mnistlab.errors import DataError, UsageError

FAMILIES = ("letters", "doodles", "scribbles", "joined_pairs")
FAMILY_CODES = {"letters": 1, "doodles": 2, "scribbles": 3, "joined_pairs": 4}  # fixed: they seed the streams
SPLITS = ("train", "val", "test")
SEEDS_PER_SPLIT = 1_000_000
SPLIT_SEEDS = {"train": 0, "val": SEEDS_PER_SPLIT, "test": 2 * SEEDS_PER_SPLIT}

FONTS = {
    "train": (
        "DejaVuSans.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-BoldOblique.ttf",
        "cmr10.ttf",
        "cmss10.ttf",
        "cmtt10.ttf",
        "cmb10.ttf",
    ),
    "val": (
        "DejaVuSerif.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSerif-Bold.ttf",
        "DejaVuSerif-BoldItalic.ttf",
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Oblique.ttf",
        "DejaVuSansMono-Bold.ttf",
        "DejaVuSansMono-BoldOblique.ttf",
    ),
    "test": (
        "STIXGeneral.ttf",
        "STIXGeneralItalic.ttf",
        "STIXGeneralBol.ttf",
        "STIXGeneralBolIta.ttf",
        "cmti10.ttf",
        "cmmi10.ttf",
    ),
}
# Written by hand these are 0 1 1 1 1 5 5 2 2 8 6 6 9 9; and J j (a stem whose hook some fonts
# barely draw: a 1) and Q (DejaVu Sans Mono's is a 0 with a tick).
DIGIT_LIKE = "OoIilSsZzBbGgqJjQ"
LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in DIGIT_LIKE)
SYMBOLS = {"train": "+=#%&*<~", "val": "@?>$¥", "test": "€πΣΩλμ"}
# TeX's cm fonts hold other glyphs at most ASCII symbol codes (< is ¡, cmti10's $ is £, cmmi10's
# + is an arrow): these are the symbols that are themselves there.
CM_SYMBOLS = {"cmr10.ttf": "+=#%&@?*$", "cmss10.ttf": "+=#%&@?*$", "cmtt10.ttf": "+=#%&@?*$<>~"}
CM_SYMBOLS["cmb10.ttf"] = CM_SYMBOLS["cmr10.ttf"]
GLYPH_PX = 96  # font size the glyphs are rendered at before thinning
# Ink above a quarter of full counts: a 2 px diagonal hairline, which thinning would erase, is 3 px.
GLYPH_INK = 64
SERIF = 0.15  # side branches up to this fraction of the glyph's longer side are pruned
# Characters whose short strokes are the character (t's bar, r's arm, #'s ends): pruned less.
SHORT_STROKES = "tfr+*#€¥π"
SHORT_SERIF = 0.06  # what is pruned from those: a bold glyph's corner spurs


def characters(font: str, split: str) -> str:
    """The characters the negatives of `split` draw in `font`: its letters and symbols."""
    symbols = SYMBOLS[split]
    if font.startswith("cm"):
        symbols = "".join(c for c in symbols if c in CM_SYMBOLS.get(font, ""))
    return LETTERS + symbols


def font_path(font: str) -> Path:
    """Where matplotlib installed `font`."""
    import matplotlib  # here: only letters need it

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font
    if not path.is_file():
        raise DataError(f"The font {path} is missing from matplotlib's fonts; reinstall matplotlib.")
    return path


@lru_cache(maxsize=2048)
def glyph_points(font: str, char: str) -> np.ndarray:
    """The centre line of `char` in `font` as points (M, 2), its serifs pruned: made once."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(font_path(font)), GLYPH_PX)
    canvas = Image.new("L", (3 * GLYPH_PX, 3 * GLYPH_PX), 0)
    ImageDraw.Draw(canvas).text((1.5 * GLYPH_PX, 1.5 * GLYPH_PX), char, font=face, fill=255, anchor="mm")
    mask = np.asarray(canvas) > GLYPH_INK
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    mask = np.pad(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 2)
    skeleton = pen.thin(mask[None])[0]
    serif = SHORT_SERIF if char in SHORT_STROKES else SERIF
    return pen.skeleton_points(pen.prune(skeleton, round(serif * max(mask.shape))))


@cache
def split_characters(split: str) -> str:
    """Every character the letters of `split` are drawn from, in code-point order."""
    return "".join(sorted(set().union(*(characters(f, split) for f in FONTS[split]))))


def pick_letter(rng: np.random.Generator, split: str) -> tuple[str, str]:
    """A character of `split` (uniform), then a font of `split` that has it: (char, font)."""
    chars = split_characters(split)
    char = chars[rng.integers(len(chars))]
    fonts = [f for f in FONTS[split] if char in characters(f, split)]
    return char, fonts[rng.integers(len(fonts))]


def _letter(rng: np.random.Generator, split: str) -> tuple[np.ndarray, str]:
    char, font = pick_letter(rng, split)
    name = f"{char} ({font.removesuffix('.ttf')})"
    return pen.draw(glyph_points(font, char), rng, f"The letter {name}"), name


def _drawing(rng: np.random.Generator, makers: dict[str, doodles.Maker]) -> tuple[np.ndarray, str]:
    names = sorted(makers)
    name = names[rng.integers(len(names))]
    return pen.draw(pen.densify(makers[name](rng)), rng, f"The {name}"), name


def _joined_pair(rng: np.random.Generator, digits: np.ndarray) -> tuple[np.ndarray, str]:
    # The number sets' own row layout: the same crops and composition as a written number.
    from mnistlab.data.written import compose, ink_crop

    first, second = rng.choice(len(digits), size=2, replace=False)
    crops = [ink_crop(digits[first]), ink_crop(digits[second])]
    row, _ = compose(crops, rng.integers(-4, 1, size=1), rng.integers(-3, 4, size=2))
    name = f"digits {first} and {second}"
    return pen.to_mnist(row.astype(np.float32) / 255.0, f"The pair of {name}"), name


def _check(family: str, n: int, split: str, seed: int, digits: torch.Tensor | None) -> np.ndarray | None:
    if family not in FAMILIES:
        raise UsageError(f"Unknown family of negatives {family!r}; choose one of {', '.join(FAMILIES)}.")
    if split not in SPLITS:
        raise UsageError(f"Unknown split {split!r}; choose one of {', '.join(SPLITS)}.")
    if not 0 <= seed < SEEDS_PER_SPLIT:
        raise UsageError(f"The seed of negatives must be from 0 to {SEEDS_PER_SPLIT - 1}, got {seed}.")
    if n < 0:
        raise UsageError(f"The number of negatives must be 0 or more, got {n}.")
    if family != "joined_pairs":
        return None
    array = None if digits is None else np.asarray(digits)
    if (
        array is None
        or array.dtype != np.uint8
        or array.shape[1:] != (28, 28)
        or len(array) < 2
        or not array.reshape(len(array), -1).any(axis=1).all()
    ):
        raise UsageError(
            "Joined pairs are made from digits; pass digits= as uint8 images (N, 28, 28), "
            "at least 2, each with ink."
        )
    return array


def named_negatives(
    family: str, n: int, *, split: str, seed: int, digits: torch.Tensor | None = None
) -> tuple[torch.Tensor, list[str]]:
    """`n` negatives of `family` for `split`, uint8 (n, 28, 28), and what each one is
    ("K (DejaVuSans-Oblique)", "heart", "digits 12 and 907"). `digits`: joined_pairs only."""
    array = _check(family, n, split, seed, digits)
    stream = SPLIT_SEEDS[split] + seed
    images, names = np.zeros((n, 28, 28), dtype=np.uint8), []
    for i in range(n):  # one drawing each: its font, shape and pen are its own
        rng = np.random.default_rng([FAMILY_CODES[family], stream, i])
        if family == "letters":
            images[i], name = _letter(rng, split)
        elif family == "doodles":
            images[i], name = _drawing(rng, doodles.DOODLES[split])
        elif family == "scribbles":
            images[i], name = _drawing(rng, doodles.SCRIBBLES[split])
        else:
            images[i], name = _joined_pair(rng, array)
        names.append(name)
    return torch.from_numpy(images), names


def make_negatives(
    family: str, n: int, *, split: str, seed: int, digits: torch.Tensor | None = None
) -> torch.Tensor:
    """`n` negatives of `family` for `split` from `seed`: uint8 (n, 28, 28), light on dark."""
    return named_negatives(family, n, split=split, seed=seed, digits=digits)[0]


def cached_negatives(
    family: str, n: int, *, split: str, seed: int, digits: torch.Tensor | None = None
) -> torch.Tensor:
    """`make_negatives`, kept in the user cache under a key of everything that makes them: the
    arguments, the digits, matplotlib's version (its fonts) and this code's source."""
    import hashlib

    import matplotlib

    from mnistlab.data import layout, tensor_cache

    key = [f"negatives/{family}/{n}/{split}/{seed}/matplotlib-{matplotlib.__version__}"]
    # layout: the pen's strokes are centred by it, so its source is part of the images too.
    key += [hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest() for m in (pen, doodles, layout)]
    key.append(hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
    if digits is not None and family == "joined_pairs":
        key.append(hashlib.sha256(np.ascontiguousarray(digits.numpy()).tobytes()).hexdigest())

    def build() -> dict[str, np.ndarray]:
        return {"images": make_negatives(family, n, split=split, seed=seed, digits=digits).numpy()}

    return torch.from_numpy(np.array(tensor_cache.load_or_build(key, build)["images"]))


def split_tables() -> dict[str, dict[str, Sequence[str]]]:
    """Per split, what each family draws from: fonts, characters, doodles, scribbles."""
    return {
        split: {
            "fonts": FONTS[split],
            "characters": split_characters(split),
            "doodles": sorted(doodles.DOODLES[split]),
            "scribbles": sorted(doodles.SCRIBBLES[split]),
        }
        for split in SPLITS
    }
