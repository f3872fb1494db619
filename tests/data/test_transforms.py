"""dataset_stats, background_value and to_float."""

from pathlib import Path

import numpy as np
import pytest

from handgrad.data import background_value, dataset_stats, load_dataset, to_float

DATA = Path(__file__).resolve().parents[2] / "data"


def test_stats_match_direct_computation():
    images = np.random.default_rng(0).integers(0, 256, size=(50, 7, 9), dtype=np.uint8)
    mean, std = dataset_stats(images)
    scaled = images / 255.0
    assert mean == pytest.approx(scaled.mean(), rel=1e-12)
    assert std == pytest.approx(scaled.std(), rel=1e-12)


def test_mnist_training_stats_are_the_well_known_ones():
    images, _ = load_dataset("mnist", root=DATA, split="train")
    mean, std = dataset_stats(images)
    assert mean == pytest.approx(0.1307, abs=1e-4)
    assert std == pytest.approx(0.3081, abs=1e-4)


def test_stats_refuse_float_and_empty():
    with pytest.raises(TypeError):
        dataset_stats(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(ValueError):
        dataset_stats(np.zeros((0, 28, 28), np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_float_scales_and_normalises(dtype):
    images = np.random.default_rng(1).integers(0, 256, size=(4, 5, 6), dtype=np.uint8)
    out = to_float(images, mean=0.2, std=0.5, dtype=dtype)
    assert out.shape == (4, 1, 5, 6) and out.dtype == dtype
    expected = (images[:, None] / 255.0 - 0.2) / 0.5
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_to_float_default_is_unit_interval():
    images = np.array([[[0, 255], [51, 102]]], np.uint8)
    np.testing.assert_allclose(to_float(images)[0, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)


def test_to_float_accepts_channel_axis():
    images = np.arange(8, dtype=np.uint8).reshape(2, 1, 2, 2)
    np.testing.assert_array_equal(to_float(images), to_float(images[:, 0]))


def test_pad_fills_with_the_normalised_black_pixel():
    images = np.full((3, 28, 28), 200, np.uint8)
    images[0, 0, 0] = 0
    mean, std = 0.1307, 0.3081
    out = to_float(images, mean, std, pad=2)
    assert out.shape == (3, 1, 32, 32)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert np.all(out[:, 0, border] == np.float32(background_value(mean, std)))
    assert out[0, 0, 2, 2] == pytest.approx(background_value(mean, std), abs=1e-6)
    np.testing.assert_allclose(out[:, :, 2:30, 2:30][1], to_float(images, mean, std)[1])


def test_background_value():
    assert background_value() == 0.0
    assert background_value(0.5, 0.25) == -2.0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(std=0.0), ValueError),
        (dict(pad=-1), ValueError),
        (dict(pad=1.5), ValueError),
        (dict(dtype=np.int32), TypeError),
    ],
)
def test_to_float_bad_arguments(kwargs, error):
    with pytest.raises(error):
        to_float(np.zeros((1, 2, 2), np.uint8), **kwargs)


def test_to_float_refuses_non_uint8_and_bad_shapes():
    with pytest.raises(TypeError):
        to_float(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(ValueError):
        to_float(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError):
        to_float(np.zeros((1, 3, 2, 2), np.uint8))


def test_stats_of_a_histogram_without_the_top_values_are_exact():
    # Pixels 0 and 51 (= 0.2 after scaling), three of each: mean 0.1 and std 0.1 exactly,
    # up to the rounding of 51 / 255 and of the sums. Measured: mean 0.625 eps relative,
    # std 0; allowed 4 eps relative (a few roundings of headroom for another BLAS's dot).
    images = np.array([[[0, 51, 0], [51, 0, 51]]], np.uint8)
    mean, std = dataset_stats(images)
    assert mean == pytest.approx(0.1, rel=4 * np.finfo(float).eps, abs=0)
    assert std == pytest.approx(0.1, rel=4 * np.finfo(float).eps, abs=0)
    assert dataset_stats(np.zeros((2, 3, 3), np.uint8)) == (0.0, 0.0)


def test_stats_error_messages():
    with pytest.raises(TypeError) as info:
        dataset_stats(np.zeros((2, 3, 3), np.float32))
    assert str(info.value) == "dataset_stats expects uint8 images, got float32"
    with pytest.raises(ValueError) as info:
        dataset_stats(np.zeros((0, 28, 28), np.uint8))
    assert str(info.value) == "dataset_stats needs at least one pixel, got an empty array"


def test_background_value_default_std_is_one():
    assert background_value(0.5) == -0.5


@pytest.mark.parametrize(
    "images, kwargs, error, message",
    [
        (np.zeros((1, 2, 2), np.float32), {}, TypeError, "to_float expects uint8 images, got float32"),
        (
            np.zeros((1, 3, 2, 2), np.uint8),
            {},
            ValueError,
            "to_float expects images of shape (N, H, W) or (N, 1, H, W), got (1, 3, 2, 2)",
        ),
        (np.zeros((1, 2, 2), np.uint8), dict(std=0.0), ValueError, "std must be positive, got 0.0"),
        (
            np.zeros((1, 2, 2), np.uint8),
            dict(pad=1.5),
            ValueError,
            "pad must be a non-negative integer, got 1.5",
        ),
        (
            np.zeros((1, 2, 2), np.uint8),
            dict(dtype=np.int32),
            TypeError,
            "to_float needs a float dtype, got int32",
        ),
    ],
)
def test_to_float_error_messages(images, kwargs, error, message):
    with pytest.raises(error) as info:
        to_float(images, **kwargs)
    assert str(info.value) == message
