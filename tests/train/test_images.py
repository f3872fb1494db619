"""Pictures to MNIST layout: MNIST digits come back nearly unchanged, and so do scaled, inverted copies."""

import numpy as np
import pytest
from PIL import Image

from handgrad import data
from handgrad.train import default_data_dir, load_image, read_image
from handgrad.train import images as images_module
from handgrad.train.images import dataset_layout
from image_helpers import png_header_only


@pytest.fixture(scope="module")
def digits():
    images, _ = data.load_dataset("mnist", default_data_dir(), "test")
    return images[:50]


def correlation(a, b):
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def test_an_mnist_digit_saved_as_png_comes_back_as_it_was(tmp_path, digits):
    scores = []
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(tmp_path / f"{i}.png")
        out = load_image(tmp_path / f"{i}.png")
        assert out.shape == (28, 28) and out.dtype == np.uint8
        scores.append(correlation(out, digit))
    assert np.median(scores) > 0.99


def test_a_large_dark_on_light_rgb_photo_is_inverted_scaled_and_centred(tmp_path, digits):
    scores = []
    for i, digit in enumerate(digits):
        big = np.asarray(Image.fromarray(255 - digit).resize((84, 84), Image.Resampling.BILINEAR))
        canvas = np.full((130, 100), 230, np.uint8)  # a light grey page, the digit off-centre
        canvas[40:124, 3:87] = np.minimum(big, 230)
        Image.fromarray(canvas).convert("RGB").save(tmp_path / f"{i}.jpg", quality=95)
        scores.append(correlation(load_image(tmp_path / f"{i}.jpg"), digit))
    assert np.median(scores) > 0.9


def test_transparent_pixels_count_as_paper(tmp_path, digits):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = digits[0]  # black ink whose opacity is the digit
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "ink.png")
    assert correlation(load_image(tmp_path / "ink.png"), digits[0]) > 0.95


def test_layout_fits_the_long_side_in_the_box_and_a_blank_picture_stays_blank():
    bar = np.zeros((200, 50), np.float32)
    bar[20:180, 20:30] = 255
    rows, cols = np.nonzero(dataset_layout(bar))
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 <= 3
    assert abs((rows.min() + rows.max()) / 2 - 14) <= 1
    rows, _ = np.nonzero(dataset_layout(bar, box=28, by_mass=False))
    assert (rows.min(), rows.max()) == (0, 27)
    assert not dataset_layout(np.full((10, 10), 255.0)).any()


def test_a_fashion_product_on_white_is_laid_out_as_fashion_mnist(tmp_path):
    images, _ = data.load_dataset("fashion-mnist", default_data_dir(), "test")
    scores = []
    for i, item in enumerate(images[:30]):
        photo = Image.fromarray(255 - item).resize((140, 140), Image.Resampling.BICUBIC)
        photo.save(tmp_path / f"{i}.png")
        scores.append(correlation(load_image(tmp_path / f"{i}.png", "fashion-mnist"), item))
    assert np.median(scores) > 0.9


def test_unreadable_and_missing_images_raise(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"cannot read image .*notes.png"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(FileNotFoundError, match=r"image .*missing.png does not exist"):
        load_image(tmp_path / "missing.png")


def test_a_picture_over_the_memory_limit_is_refused_from_its_header(tmp_path):
    png_header_only(tmp_path / "huge.png", 20000, 20000)  # 400 million gray pixels, nothing to decode
    with pytest.raises(ValueError, match=r"image .*huge.png is 20000x20000 L: decoding it would take 400 MB, over "
                                         r"handgrad's limit of 160 MB"):
        load_image(tmp_path / "huge.png")


@pytest.mark.parametrize("mode, per_pixel", [("L", 1), ("RGB", 4), ("P", 2)])  # P: + its conversion to L
def test_a_picture_at_the_memory_limit_is_read(tmp_path, monkeypatch, digits, mode, per_pixel):
    Image.fromarray(digits[0]).convert(mode).save(tmp_path / "digit.png")
    monkeypatch.setattr(images_module, "MEMORY_LIMIT", 28 * 28 * per_pixel)
    assert correlation(load_image(tmp_path / "digit.png"), digits[0]) > 0.99
    monkeypatch.setattr(images_module, "MEMORY_LIMIT", 28 * 28 * per_pixel - 1)
    with pytest.raises(ValueError, match=f"digit.png is 28x28 {mode}: decoding it would take"):
        load_image(tmp_path / "digit.png")


@pytest.mark.parametrize("suffix, mode", [(".png", "L"), (".png", "RGB"), (".png", "RGBA"), (".png", "P"),
                                          (".jpg", "L"), (".jpg", "RGB")])
def test_a_large_picture_is_decoded_reduced_and_still_read_right(tmp_path, monkeypatch, digits, suffix, mode):
    """Before float32, the picture is at most 2 * WORK_SIZE on its longer side; the digit survives."""
    digit = digits[1]
    big = Image.fromarray(255 - digit).resize((2100, 2100), Image.Resampling.BILINEAR)  # dark ink on paper
    page = Image.new("L", (3000, 2400), 255)
    page.paste(big, (300, 150))
    page.convert(mode).save(tmp_path / f"page{suffix}", **({"quality": 95} if suffix == ".jpg" else {}))
    seen = []
    real_layout = images_module.dataset_layout
    monkeypatch.setattr(images_module, "dataset_layout", lambda gray, *a: seen.append(gray.shape) or real_layout(
        gray, *a))
    out = load_image(tmp_path / f"page{suffix}")
    assert max(seen[0]) <= 2 * images_module.WORK_SIZE
    assert correlation(out, digit) > 0.9


@pytest.mark.parametrize("make, fragment", [
    (lambda: Image.new("L", (40, 30), 255), "the image is blank (gray level 255 everywhere)"),
    (lambda: Image.new("RGB", (40, 30), (0, 0, 0)), "the image is blank (gray level 0 everywhere)"),
    (lambda: Image.new("L", (1, 1), 17), "the image is blank"),
    (lambda: Image.new("RGBA", (40, 30), (10, 200, 30, 0)), "the image is fully transparent"),
    (lambda: Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)), "the image is only 2x2 pixels"),
])
def test_blank_transparent_and_tiny_pictures_get_a_note(tmp_path, make, fragment):
    make().save(tmp_path / "odd.png")
    image, note = read_image(tmp_path / "odd.png")
    assert image.shape == (28, 28) and note is not None and fragment in note


def test_an_ordinary_picture_gets_no_note(tmp_path, digits):
    Image.fromarray(digits[2]).save(tmp_path / "digit.png")
    assert read_image(tmp_path / "digit.png")[1] is None
