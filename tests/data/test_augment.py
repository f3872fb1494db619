"""Augmentation: determinism, geometry conventions, fill, the spec parser."""

import numpy as np
import pytest

from handgrad.data import (
    Blotches,
    Compose,
    GaussianNoise,
    RandomRotation,
    RandomTranslation,
    augment_dataset,
    build_augmentation,
    rotate,
    translate,
)

TRANSFORMS = [
    RandomRotation(20),
    RandomTranslation(3),
    GaussianNoise(0.1),
    Blotches(count=2, size=(2, 5)),
    Compose([RandomRotation(10, fill=-0.5), RandomTranslation(1, fill=-0.5), GaussianNoise(0.05)]),
]


# Tolerances come from the error measured on these inputs, with a stated margin:
# - exact geometry in float32 (quarter turns): measured 0; allowed 8 ulps at 1.0 (cos 90°
#   is 6e-17, not 0, and another libm may round it differently);
# - sampled statistics: measured within 1.5 standard errors of the truth; allowed 4
#   standard errors (the seeds are fixed, so this cannot flake; it is the margin a
#   change of seed or of drawing order gets).
ULPS_AT_ONE = 8 * float(np.finfo(np.float32).eps)
STANDARD_ERRORS = 4


def images(n=8, c=1, h=28, w=28, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_shape_dtype_determinism_and_input_untouched(transform, dtype):
    x = images(dtype=dtype)
    before = x.copy()
    a = transform(x, np.random.default_rng(1))
    b = transform(x, np.random.default_rng(1))
    c = transform(x, np.random.default_rng(2))
    assert a.shape == x.shape and a.dtype == dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_several_channels(transform):
    x = images(c=3)
    assert transform(x, np.random.default_rng(0)).shape == x.shape


def test_rotation_by_zero_is_identity():
    x = images()
    np.testing.assert_array_equal(rotate(x, 0.0), x)
    np.testing.assert_array_equal(RandomRotation(0)(x, np.random.default_rng(0)), x)


@pytest.mark.parametrize("angle, k", [(90, 1), (-90, -1), (180, 2), (270, 3)])
def test_quarter_turns_equal_rot90(angle, k):
    x = images(n=3, h=9, w=9)
    expected = np.rot90(x, k, axes=(2, 3))
    out = RandomRotation((angle, angle))(x, np.random.default_rng(0))
    np.testing.assert_allclose(out, expected, rtol=0, atol=ULPS_AT_ONE)


def test_positive_angle_is_counter_clockwise_as_displayed():
    x = np.zeros((1, 1, 11, 11), np.float32)
    x[0, 0, 5, 9] = 1.0  # right of the centre
    out = rotate(x, 90)
    assert out[0, 0, 1, 5] == pytest.approx(1.0)  # now above it


def test_rotation_per_image_angles_and_fill():
    x = np.ones((2, 1, 15, 15))
    out = rotate(x, np.array([0.0, 45.0]), fill=-1.0)
    np.testing.assert_array_equal(out[0], x[0])
    assert out[1, 0, 0, 0] == pytest.approx(-1.0)  # a corner uncovered by the turn
    assert out[1, 0, 7, 7] == pytest.approx(1.0)  # the centre stays
    assert np.all((out[1] >= -1 - 1e-12) & (out[1] <= 1 + 1e-12))


def test_rotation_interpolates_bilinearly():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 2] = 1.0
    out = rotate(x, 45)  # the pixel now lies between grid points, spread over neighbours
    # Each output pixel reads the input at its point turned back by 45° about the centre;
    # the lone bright pixel contributes its bilinear "tent" weight there.
    y, x_ = np.mgrid[0:3, 0:3] - 1.0
    half = np.sqrt(0.5)
    src_y, src_x = 1 + half * x_ + half * y, 1 + half * x_ - half * y
    expected = np.clip(1 - np.abs(src_y - 1), 0, None) * np.clip(1 - np.abs(src_x - 2), 0, None)
    assert 0 < out.max() < 1
    np.testing.assert_allclose(out[0, 0], expected, rtol=0, atol=1e-15)  # float64: measured 0


def test_translate_moves_a_bright_pixel_by_the_shift():
    x = np.zeros((3, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1.0
    shifts = np.array([[2, -3], [0, 0], [-4, 4]])
    out = translate(x, shifts, fill=0.0)
    for n, (down, right) in enumerate(shifts):
        expected = np.zeros((9, 9), np.float32)
        expected[4 + down, 4 + right] = 1.0
        np.testing.assert_array_equal(out[n, 0], expected)


def test_translate_fills_uncovered_pixels():
    x = np.ones((1, 2, 5, 5))
    out = translate(x, np.array([1, -2]), fill=-3.0)
    assert np.all(out[:, :, 0, :] == -3.0) and np.all(out[:, :, :, -2:] == -3.0)
    assert np.all(out[:, :, 1:, :-2] == 1.0)


def test_random_translation_draws_every_shift_in_range():
    pixels = 2
    x = np.zeros((3000, 1, 7, 7), np.float32)
    x[:, 0, 3, 3] = 5.0
    out = RandomTranslation(pixels, fill=-1.0)(x, np.random.default_rng(0))
    rows, cols = np.unravel_index(out.reshape(len(x), -1).argmax(axis=1), (7, 7))
    moves = set(zip(rows - 3, cols - 3))
    expected = {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert moves == expected
    assert np.all(out.max(axis=(1, 2, 3)) == 5.0)
    assert np.all(np.sort(out.reshape(len(x), -1), axis=1)[:, :-1] != 5.0)


def test_noise_has_the_requested_std():
    x = np.zeros((500, 1, 28, 28), np.float32)
    out = GaussianNoise(0.1)(x, np.random.default_rng(0))
    n = out.size  # standard errors: of a standard deviation 1/sqrt(2n) relative, of a mean 0.1/sqrt(n)
    assert out.std() == pytest.approx(0.1, rel=STANDARD_ERRORS / np.sqrt(2 * n))  # measured: 1.1 s.e.
    assert abs(out.mean()) < STANDARD_ERRORS * 0.1 / np.sqrt(n)  # measured: 1.0 s.e.


def test_noise_of_zero_std_is_identity():
    x = images()
    np.testing.assert_array_equal(GaussianNoise(0.0)(x, np.random.default_rng(0)), x)


def test_one_blotch_is_a_rectangle_set_to_fill():
    x = np.full((200, 1, 12, 12), 5.0)
    out = Blotches(count=1, size=(2, 4), fill=-1.0)(x, np.random.default_rng(0))
    assert set(np.unique(out)) == {-1.0, 5.0}
    for image in out[:, 0]:
        rows, cols = np.nonzero(image == -1.0)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert 2 <= height <= 4 and 2 <= width <= 4
        assert len(rows) == height * width  # a full rectangle


def test_blotches_fixed_size_and_count_zero():
    x = np.full((50, 1, 10, 10), 1.0, np.float32)
    out = Blotches(count=1, size=3, fill=0.0)(x, np.random.default_rng(0))
    assert np.all((out == 0).sum(axis=(1, 2, 3)) == 9)
    np.testing.assert_array_equal(Blotches(count=0)(x, np.random.default_rng(0)), x)


def test_blotch_larger_than_image_is_capped():
    x = np.ones((4, 1, 5, 5))
    out = Blotches(count=1, size=9, fill=0.0)(x, np.random.default_rng(0))
    assert np.all(out == 0.0)


def test_compose_applies_in_order_with_one_generator():
    x = images()
    first, second = RandomRotation(15), GaussianNoise(0.2)
    composed = Compose([first, second])(x, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(composed, second(first(x, rng), rng))
    np.testing.assert_array_equal(Compose([])(x, np.random.default_rng(0)), x)


def test_augment_dataset_appends_augmented_copies():
    x = images(n=10)
    labels = np.arange(10)
    out, out_labels = augment_dataset(
        x, labels, GaussianNoise(0.1), copies=3, rng=np.random.default_rng(0), chunk_size=4
    )
    assert out.shape == (30, 1, 28, 28) and out.dtype == x.dtype
    np.testing.assert_array_equal(out[:10], x)
    np.testing.assert_array_equal(out_labels, np.tile(labels, 3))
    assert not np.array_equal(out[10:20], x) and not np.array_equal(out[10:20], out[20:])
    noise = out[10:20] - x  # the copies are the originals plus noise of std 0.1 (measured: 1.5 s.e. off)
    assert noise.std() == pytest.approx(0.1, rel=STANDARD_ERRORS / np.sqrt(2 * noise.size))
    assert abs(noise.mean()) < STANDARD_ERRORS * 0.1 / np.sqrt(noise.size)
    again, _ = augment_dataset(
        x, labels, GaussianNoise(0.1), copies=3, rng=np.random.default_rng(0), chunk_size=4
    )
    np.testing.assert_array_equal(out, again)


def test_augment_dataset_one_copy_and_errors():
    x = images(n=4)
    out, _ = augment_dataset(x, np.zeros(4), GaussianNoise(1.0), copies=1)
    np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match="copies"):
        augment_dataset(x, np.zeros(4), GaussianNoise(1.0), copies=0)
    with pytest.raises(ValueError, match="differ in length"):
        augment_dataset(x, np.zeros(3), GaussianNoise(1.0))


def test_transforms_refuse_bad_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        GaussianNoise(0.1)(np.zeros((2, 28, 28), np.float32), np.random.default_rng(0))
    with pytest.raises(TypeError, match="float"):
        RandomRotation(5)(np.zeros((2, 1, 4, 4), np.uint8), np.random.default_rng(0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomRotation(-5),
        lambda: RandomRotation((10, 5)),
        lambda: RandomRotation(float("nan")),
        lambda: RandomTranslation(-1),
        lambda: RandomTranslation(1.5),
        lambda: GaussianNoise(-0.1),
        lambda: Blotches(count=-1),
        lambda: Blotches(size=0),
        lambda: Blotches(size=(5, 2)),
    ],
)
def test_bad_parameters(make):
    with pytest.raises(ValueError):
        make()


def test_build_augmentation_full_spec_in_canonical_order():
    aug = build_augmentation("noise=0.1, blotches=3,translate=2,rotate=15", fill=-0.42)
    assert aug == Compose(
        (
            RandomRotation(15.0, fill=-0.42),
            RandomTranslation(2, fill=-0.42),
            Blotches(count=3, fill=-0.42),
            GaussianNoise(0.1),
        )
    )


def test_build_augmentation_accepts_a_list_and_empty_specs():
    assert build_augmentation(["rotate=10", "noise=0.05"]) == build_augmentation(
        "rotate=10,noise=0.05"
    )
    for empty in [None, "", "none", "None", []]:
        assert build_augmentation(empty) == Compose(())


def test_built_augmentation_runs():
    aug = build_augmentation("rotate=15,translate=2,noise=0.1,blotches=3")
    x = images()
    assert aug(x, np.random.default_rng(0)).shape == x.shape


@pytest.mark.parametrize(
    "spec, message",
    [
        ("flip=1", "unknown augmentation 'flip'; valid names: rotate, translate, blotches, noise"),
        ("rotate", "expected name=value"),
        ("rotate=", "expected name=value"),
        ("rotate=abc", "augmentation 'rotate=abc': bad value 'abc'"),
        ("rotate=-5", "bad value '-5'"),
        ("rotate=nan", "bad value 'nan'"),
        ("translate=2.5", "bad value '2.5'"),
        ("noise=-1", "bad value '-1'"),
        ("blotches=x", "bad value 'x'"),
        ("rotate=5,rotate=10", "'rotate' is given more than once"),
        ("rotate=1=2", "augmentation 'rotate=1=2': bad value '1=2'"),  # split at the first '='
    ],
)
def test_build_augmentation_errors(spec, message):
    with pytest.raises(ValueError) as info:
        build_augmentation(spec)
    assert message in str(info.value)


def test_compose_of_list_equals_compose_of_tuple():
    assert Compose([GaussianNoise(0.1)]) == Compose((GaussianNoise(0.1),))


def reference_translate(image, down, right, fill):
    """translate's documented formula, one pixel at a time."""
    h, w = image.shape
    out = np.full_like(image, fill)
    for i in range(h):
        for j in range(w):
            if 0 <= i - down < h and 0 <= j - right < w:
                out[i, j] = image[i - down, j - right]
    return out


def test_translate_matches_the_formula_for_every_shift_up_to_beyond_the_image():
    h, w = 4, 5
    shifts = np.array([(d, r) for d in range(-h - 2, h + 3) for r in range(-w - 2, w + 3)])
    x = np.broadcast_to(np.arange(1.0, h * w + 1).reshape(h, w), (len(shifts), 2, h, w)).copy()
    x[:, 1] *= -1  # a second channel, moved the same way
    out = translate(x, shifts, fill=0.5)
    for n, (down, right) in enumerate(shifts):
        for c in range(2):
            np.testing.assert_array_equal(out[n, c], reference_translate(x[n, c], down, right, 0.5))


def test_translate_default_fill_is_zero():
    out = translate(np.ones((1, 1, 3, 3)), np.array([1, 1]))
    np.testing.assert_array_equal(out[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])


def test_rotation_depends_on_the_angle_value_not_its_dtype():
    x = images(n=3, h=9, w=9, dtype=np.float64)
    angles = np.array([30.0, -45.0, 12.5], np.float32)  # exactly representable in float32
    np.testing.assert_array_equal(rotate(x, angles), rotate(x, angles.astype(np.float64)))
    np.testing.assert_array_equal(rotate(x, np.float32(30.0)), rotate(x, 30.0))
    np.testing.assert_array_equal(rotate(x, 90), rotate(x, 90.0))


def test_random_rotation_draws_one_angle_per_image_and_uses_its_fill():
    x = np.broadcast_to(images(n=1, h=9, w=9), (4, 1, 9, 9))
    out = RandomRotation(45)(x, np.random.default_rng(0))
    assert all(not np.array_equal(out[i], out[j]) for i in range(4) for j in range(i))
    ones = np.ones((2, 1, 15, 15))
    np.testing.assert_array_equal(
        RandomRotation((45, 45), fill=-1.0)(ones, np.random.default_rng(0)),
        rotate(ones, 45.0, fill=-1.0),
    )


def test_random_translation_uses_its_fill():
    out = RandomTranslation(2, fill=-1.0)(np.ones((50, 1, 7, 7)), np.random.default_rng(0))
    assert set(np.unique(out)) == {-1.0, 1.0}


def test_blotches_of_side_one_and_their_union():
    x = np.ones((200, 1, 12, 12))
    out = Blotches(count=3, size=1, fill=0.0)(x, np.random.default_rng(0))
    erased = (out == 0.0).sum(axis=(1, 2, 3))
    # three single pixels per image, which may coincide: 1 to 3 erased, mostly 3
    assert erased.min() >= 1 and erased.max() == 3
    p = (143 / 144) * (142 / 144)  # P(three distinct pixels of 144) = 0.979
    standard_error = np.sqrt(p * (1 - p) / len(x))  # 0.010
    assert np.mean(erased == 3) > p - STANDARD_ERRORS * standard_error  # measured: 0.975, 0.4 s.e.


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RandomRotation((10, 5)), "rotation range must be finite with low <= high, got (10, 5)"),
        (lambda: RandomTranslation(-1), "translation pixels must be a non-negative integer, got -1"),
        (lambda: RandomTranslation(1.5), "translation pixels must be a non-negative integer, got 1.5"),
        (lambda: GaussianNoise(-0.1), "noise std must be a finite number >= 0, got -0.1"),
        (lambda: Blotches(count=-1), "blotch count must be a non-negative integer, got -1"),
        (lambda: Blotches(size=(5, 2)), "blotch size must be >= 1 with min <= max, got (5, 2)"),
        (lambda: Blotches(size=0), "blotch size must be >= 1 with min <= max, got 0"),
    ],
)
def test_bad_parameter_messages(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_translate_refuses_float_shifts():
    with pytest.raises(TypeError) as info:
        translate(images(n=1), np.array([1.0, 2.0]))
    assert str(info.value) == "shifts must be integers, got float64"


class Recorder:
    """A transform that adds 1 and records how many images each call got."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, rng=None):
        self.calls.append(len(x))
        return x + 1


def test_augment_dataset_transforms_each_image_once_per_copy_in_chunks():
    x = images(n=10)
    transform = Recorder()
    out, _ = augment_dataset(x, np.arange(10), transform, copies=3, chunk_size=4)
    assert transform.calls == [4, 4, 2] * 2
    np.testing.assert_array_equal(out[10:20], x + 1)
    np.testing.assert_array_equal(out[20:], x + 1)


def test_augment_dataset_defaults_three_copies_in_chunks_of_4096():
    x = np.zeros((5000, 1, 1, 1), np.float32)
    transform = Recorder()
    out, labels = augment_dataset(x, np.zeros(5000), transform)
    assert out.shape == (15000, 1, 1, 1) and labels.shape == (15000,)
    assert transform.calls == [4096, 904] * 2  # the documented memory bound: 4096 images a call


@pytest.mark.parametrize("copies", [True, 2.0, 0])
def test_augment_dataset_refuses_copies_that_are_not_positive_integers(copies):
    with pytest.raises(ValueError) as info:
        augment_dataset(images(n=2), np.zeros(2), GaussianNoise(0.1), copies=copies)
    assert str(info.value) == f"copies must be a positive integer, got {copies!r}"


def test_build_augmentation_default_fill_is_black_in_unit_scaling():
    assert build_augmentation("rotate=15,translate=2,blotches=3") == Compose(
        (RandomRotation(15.0, fill=0.0), RandomTranslation(2, fill=0.0), Blotches(count=3, fill=0.0))
    )
