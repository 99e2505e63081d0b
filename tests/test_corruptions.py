"""Corruptions, their image operations and the training augmentations.

References: closed forms on synthetic images (a lit pixel moved by exactly k px, a 3x3
square eroded to its centre, one pixel dilated to a 3x3 square, 255 mapped to the stated
grey level, a bar's principal axis turned by the stated angle, a convolution reference for
the blur), exact equalities between runs with the same seed, and measured fractions that
follow from the stated parameters.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mnistlab import imageops
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.errors import UsageError
from mnistlab.evaluation.corruptions import (
    CORRUPTIONS,
    SEVERITIES,
    check_corruptions,
    check_severity,
    corrupt,
)
from mnistlab.training.augment import AUGMENTATIONS, augment_batch, random_affine


def blank(n: int = 1) -> torch.Tensor:
    return torch.zeros(n, 28, 28, dtype=torch.uint8)


def lit(points: list[tuple[int, int]], n: int = 1) -> torch.Tensor:
    images = blank(n)
    for y, x in points:
        images[:, y, x] = 255
    return images


def square(top: int, left: int, side: int, n: int = 1) -> torch.Tensor:
    images = blank(n)
    images[:, top : top + side, left : left + side] = 255
    return images


def moments(image: torch.Tensor) -> tuple[float, float, float]:
    """Orientation (degrees, y down, x right; counter-clockwise on screen positive), and
    the centre of mass (row, column)."""
    w = image.double()
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    m = w.sum()
    cy, cx = float((rows.double() * w).sum() / m), float((cols.double() * w).sum() / m)
    yy = float(((rows - cy) ** 2 * w).sum() / m)
    xx = float(((cols - cx) ** 2 * w).sum() / m)
    xy = float(((rows - cy) * (cols - cx) * w).sum() / m)
    return math.degrees(0.5 * math.atan2(-2 * xy, xx - yy)), cy, cx


@pytest.fixture(scope="module")
def digits(mnist) -> torch.Tensor:
    return mnist.test.images[:200]


# -- every corruption ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_is_deterministic_changes_digits_and_keeps_the_format(digits, name) -> None:
    out = corrupt(digits, name, 3, seed=0)
    assert out.shape == digits.shape and out.dtype == torch.uint8
    assert torch.equal(out, corrupt(digits, name, 3, seed=0))  # same seed, same bytes
    changed = (out != digits).flatten(1).any(dim=1).float().mean()
    # Occlusion may land on background only; everything else changes every digit.
    assert changed >= (0.9 if name == "occlusion" else 1.0)
    assert not torch.equal(out, corrupt(digits, name, 4, seed=0))  # severities differ


@pytest.mark.parametrize(
    "name", [n for n in CORRUPTIONS if n not in ("thin", "thick", "blur", "low_contrast")]
)
def test_random_corruptions_depend_on_the_seed(digits, name) -> None:
    assert not torch.equal(corrupt(digits, name, 3, seed=0), corrupt(digits, name, 3, seed=1))


def test_a_corruption_does_not_depend_on_which_others_run_or_the_batch_size(digits) -> None:
    # The generator is seeded per (seed, corruption), and draws are per image in order.
    assert torch.equal(corrupt(digits, "rotate", 2)[:50], corrupt(digits[:50], "rotate", 2))


def test_severity_table_is_complete() -> None:
    assert len(CORRUPTIONS) == 12
    for name, s in SEVERITIES.items():
        assert len(s.values) == 5, name
        assert "{" not in s.describe(3), name


# -- closed forms -------------------------------------------------------------------------


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_translation_moves_a_lit_pixel_by_exactly_k_pixels(severity) -> None:
    images = lit([(14, 14)], n=64)
    out = corrupt(images, "translate", severity)
    k = SEVERITIES["translate"].values[severity - 1]
    assert torch.equal(out.flatten(1).sum(1), torch.full((64,), 255))  # nothing lost or blurred
    where = out.flatten(1).argmax(1)
    dy, dx = where // 28 - 14, where % 28 - 14
    assert set(dy.abs().tolist()) == {k} and set(dx.abs().tolist()) == {k}
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) == 4  # all four diagonal directions occur


def test_thin_at_severity_3_erodes_a_3x3_square_to_its_centre() -> None:
    out = corrupt(square(10, 12, 3), "thin", 3)
    assert torch.equal(out, lit([(11, 13)]))


def test_thick_at_severity_3_dilates_one_pixel_to_a_3x3_square() -> None:
    out = corrupt(lit([(20, 5)]), "thick", 3)
    assert torch.equal(out, square(19, 4, 3))


def test_morphology_elements() -> None:
    one = lit([(14, 14)]).unsqueeze(1).float()
    for element, offsets in imageops.ELEMENTS.items():
        dilated = imageops.morphology(one, element, "dilate")
        expected = lit([(14 + dy, 14 + dx) for dy, dx in offsets]).unsqueeze(1).float()
        assert torch.equal(dilated, expected), element
        assert torch.equal(imageops.morphology(dilated, element, "erode"), one), element  # closing
    assert torch.equal(imageops.morphology(one, "3x3", "erode"), torch.zeros_like(one))


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_low_contrast_maps_255_to_the_stated_grey_level(severity) -> None:
    out = corrupt(torch.full((1, 28, 28), 255, dtype=torch.uint8), "low_contrast", severity)
    assert set(out.unique().tolist()) == {SEVERITIES["low_contrast"].values[severity - 1]}
    assert corrupt(blank(), "low_contrast", severity).max() == 0


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_rotation_turns_a_bar_by_the_stated_angle(severity) -> None:
    images = blank(32)
    images[:, 13:15, 6:22] = 255  # a horizontal bar centred at (13.5, 13.5), the rotation centre
    degrees = SEVERITIES["rotate"].values[severity - 1]
    angles = sorted({round(moments(image)[0], 0) for image in corrupt(images, "rotate", severity)})
    assert angles == [-degrees, degrees]


def test_shear_slants_a_vertical_bar_by_the_stated_tangent() -> None:
    images = blank(32)
    images[:, 4:24, 13:15] = 255  # vertical, centred at (13.5, 13.5)
    slopes = set()
    for image in corrupt(images, "shear", 3):
        w = image.double()
        rows = torch.arange(28.0, dtype=torch.float64)
        cx = (w * rows.view(1, 28)).sum(1) / w.sum(1).clamp_min(1e-9)  # ink centre of each row
        used = w.sum(1) > 0
        y, x = rows[used], cx[used]
        slopes.add(round(float(((y - y.mean()) * (x - x.mean())).sum() / ((y - y.mean()) ** 2).sum()), 2))
    # Positive shear leans the top to the right: x decreases as y (down) increases.
    assert slopes == {-0.35, 0.35}


def test_scale_zooms_a_square_by_f_or_1_over_f() -> None:
    images = square(10, 10, 8, n=32)  # 8x8 px, centred at (13.5, 13.5), the zoom's centre
    f = SEVERITIES["scale"].values[2]
    sides = sorted({round(float((o.double().sum() / 255) ** 0.5), 2) for o in corrupt(images, "scale", 3)})
    # The side of the zoomed square from its ink; bilinear edges blur it by under 0.2 px.
    assert len(sides) == 2
    assert abs(sides[0] - 8 / f) < 0.2 and abs(sides[1] - 8 * f) < 0.2


def test_gaussian_blur_matches_a_convolution_and_keeps_the_ink() -> None:
    x = torch.rand(3, 2, 28, 28)
    for sigma in (0.5, 1.0, 4.0):
        k = imageops.gaussian_kernel(sigma)
        n = k.numel()
        ref = F.conv2d(x.reshape(-1, 1, 28, 28), k.view(1, 1, 1, n), padding=(0, n // 2))
        ref = F.conv2d(ref, k.view(1, 1, n, 1), padding=(n // 2, 0)).view_as(x)
        torch.testing.assert_close(imageops.gaussian_blur(x, sigma), ref)
    one = lit([(14, 14)]).unsqueeze(1).float()
    assert abs(float(imageops.gaussian_blur(one, 1.0).sum()) - 255.0) < 0.01


def test_elastic_warp_with_zero_alpha_is_the_identity() -> None:
    x = torch.rand(4, 1, 28, 28)
    out = imageops.elastic_warp(x, torch.rand(4, 2, 28, 28) * 2 - 1, torch.zeros(4), 4.0)
    torch.testing.assert_close(out, x)


def test_noise_levels_match_their_parameters() -> None:
    grey = torch.full((100, 28, 28), 128, dtype=torch.uint8)
    noisy = corrupt(grey, "gaussian_noise", 1).double() - 128  # std 0.1 x 255, no clipping
    assert abs(float(noisy.std()) - 25.5) < 0.5
    impulse = corrupt(grey, "impulse_noise", 3)
    assert abs(float((impulse != 128).double().mean()) - 0.09) < 0.005
    assert set(impulse.unique().tolist()) == {0, 128, 255}


def test_occlusion_blanks_a_square_of_the_stated_side_inside_the_central_box() -> None:
    full = torch.full((50, 28, 28), 255, dtype=torch.uint8)
    out = corrupt(full, "occlusion", 3)
    holes = out == 0
    assert torch.equal(holes.flatten(1).sum(1), torch.full((50,), 64))
    assert not holes[:, :4].any() and not holes[:, 24:].any()
    assert not holes[:, :, :4].any() and not holes[:, :, 24:].any()


# -- bad input ----------------------------------------------------------------------------


def test_unknown_corruption_or_bad_severity_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Unknown corruption 'fog'; choose from translate"):
        check_corruptions(["rotate", "fog"])
    for bad in (0, 6, 2.5, True):
        with pytest.raises(UsageError, match="Severity must be an integer from 1 to 5"):
            check_severity(bad)
    assert check_corruptions(["thin", "rotate"]) == ("rotate", "thin")  # the table's order
    assert check_corruptions(None) == CORRUPTIONS


# -- training augmentations ---------------------------------------------------------------


def test_affine_alone_is_the_best_recipes_augmentation() -> None:
    x = torch.rand(16, 1, 28, 28)
    a = augment_batch(x, ("affine",), torch.Generator().manual_seed(3))
    assert torch.equal(a, random_affine(x, torch.Generator().manual_seed(3)))


def test_augmentations_are_seeded_and_keep_shape_and_range(digits) -> None:
    x = digits[:64].unsqueeze(1).float() / 255
    for name in AUGMENTATIONS:
        a = augment_batch(x, (name,), torch.Generator().manual_seed(0))
        b = augment_batch(x, (name,), torch.Generator().manual_seed(0))
        assert torch.equal(a, b), name
        assert a.shape == x.shape and a.dtype == x.dtype, name
        assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0, name
        assert not torch.equal(a, x), name
    everything = augment_batch(x, tuple(AUGMENTATIONS), torch.Generator().manual_seed(0))
    assert everything.shape == x.shape


def test_flip_mirrors_a_random_half_and_leaves_the_rest() -> None:
    x = torch.rand(400, 1, 28, 28)
    y = augment_batch(x, ("flip",), torch.Generator().manual_seed(0))
    mirrored = (y == x.flip(-1)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert bool((mirrored ^ kept).all())  # each image is exactly one of the two
    assert 150 < int(mirrored.sum()) < 250  # about half, P_APPLY = 0.5


def test_shift_moves_a_lit_pixel_by_whole_pixels_within_two_and_keeps_its_ink() -> None:
    x = torch.zeros(1000, 1, 28, 28)
    x[:, 0, 13, 14] = 1.0
    y = augment_batch(x, ("shift",), torch.Generator().manual_seed(0))
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(1000))  # one whole pixel, never interpolated
    where = y[:, 0].flatten(1).argmax(1)
    dy, dx = where // 28 - 13, where % 28 - 14
    offsets = set(zip(dy.tolist(), dx.tolist(), strict=True))
    assert offsets == {(i, j) for i in range(-2, 3) for j in range(-2, 3)}  # every shift in +-2 px occurs
    corner = torch.zeros(1000, 1, 28, 28)
    corner[:, 0, 0, 0] = 1.0
    moved_out = augment_batch(corner, ("shift",), torch.Generator().manual_seed(0)).sum((1, 2, 3))
    assert set(moved_out.tolist()) == {0.0, 1.0}  # what leaves the frame is gone; zeros come in


def test_config_selects_augmentations_by_name() -> None:
    assert TrainConfig().augmentations == ()
    assert resolve_config("cnn", "best").augmentations == ("affine",)
    config = TrainConfig.from_dict({"augmentations": ["elastic", "affine"]})
    assert config.augmentations == ("elastic", "affine")  # a JSON list becomes a tuple
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(UsageError, match="Unknown augmentation 'mixup'; choose from"):
        TrainConfig(augmentations=("mixup",))
    with pytest.raises(UsageError, match="augmentations must be a list of names"):
        TrainConfig(augmentations="affine")
