"""Turning any picture into a 28x28 image laid out as the data set's images are.

MNIST digits are white on black, scaled to fit a 20x20 box (keeping the aspect ratio)
and placed in the 28x28 frame with their centre of mass at the centre (row and column
14). Fashion-MNIST products are white on black too, scaled so the longer side is 28
and centred by their bounding box. `load_image` does the same to a PNG/JPEG (anything
Pillow reads):
1. transparent pixels become white; the picture becomes grayscale;
2. a mostly light picture (mean above mid-grey) is inverted, so ink becomes light;
3. the background level (the median) is subtracted, faint noise (under 10% of the
   brightest pixel) is cleared, and the rest is stretched to 0-255;
4. the bounding box of what is left is resized so its longer side fits the box;
5. it is placed in 28x28, centred as the data set centres its images.

Memory stays bounded on any picture: one with more than `PIXEL_LIMIT` pixels is refused
(read from its header, before anything is decoded), a JPEG is decoded at 1/2, 1/4 or
1/8 of its size by the decoder itself (Pillow's `draft`), and any picture is shrunk by
an integer factor (`reduce`, a box average) until its longer side is at most
`2 * WORK_SIZE` before it becomes float32. A 12000x12000 grayscale PNG takes about the
memory of its decoded pixels (144 MB) and no more (reports/benchmarks.md).
`read_image` also says when the answer for a picture means little: a blank (one gray
level), fully transparent or tiny picture.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from handgrad.errors import MissingFileError, UserError

SIZE = 28
NOISE = 0.1
# data set -> (side of the box the longer side is scaled to, centre by centre of mass?)
LAYOUTS = {"mnist": (20, True), "fashion-mnist": (28, False)}
# The largest picture read: 150 million pixels (12,247 x 12,247); a grayscale one that
# size decodes to 150 MB. Pillow's own check (a warning above 89 million pixels, an
# error above twice that) is replaced by this one.
PIXEL_LIMIT = 150_000_000
# Pictures are shrunk to a longer side between WORK_SIZE and 2 * WORK_SIZE pixels before
# they become float32: a digit a tenth of the picture wide still spans 50 pixels or more
# of it, far more than the 20 of its box.
WORK_SIZE = 512
TINY = 8  # pictures under 8 pixels on their longer side get a note
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F")


def load_image(path: str | Path, dataset: str = "mnist") -> np.ndarray:
    """The uint8 (28, 28) version of the picture at `path`, laid out as `dataset`'s images.

    A missing file raises MissingFileError (a FileNotFoundError); one Pillow cannot
    read, or one over `PIXEL_LIMIT` pixels, raises UserError (a ValueError).
    """
    return read_image(path, dataset)[0]


def read_image(path: str | Path, dataset: str = "mnist") -> tuple[np.ndarray, str | None]:
    """(`load_image`'s array, a note when the answer for this picture means little, else None)."""
    path = Path(path)
    try:
        with _without_pillows_size_check(), Image.open(path) as image:
            width, height = image.size
            if width * height > PIXEL_LIMIT:
                raise UserError(f"image {path} is {width}x{height} = {width * height:,} pixels; handgrad reads "
                                f"at most {PIXEL_LIMIT:,} (scale it down first)")
            gray, alpha = _decode_reduced(image)
    except FileNotFoundError:
        raise MissingFileError(f"image {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"image {path} is a folder, not a picture") from None
    except UserError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        # SyntaxError and EOFError: what some of Pillow's decoders raise for corrupt files
        raise UserError(f"cannot read image {path}: {exc}") from exc
    box, by_mass = LAYOUTS["fashion-mnist" if dataset.replace("_", "-") == "fashion-mnist" else "mnist"]
    return dataset_layout(gray, box, by_mass), _note(width, height, gray, alpha)


@contextlib.contextmanager
def _without_pillows_size_check():
    """Pillow's decompression-bomb check off: `read_image` checks the size itself, in one line."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _decode_reduced(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(gray levels float32, alpha uint8 or None) of an opened picture, decoded reduced (see the docstring)."""
    factor = max(1, max(image.size) // WORK_SIZE)
    if factor > 1 and image.format == "JPEG":
        image.draft("L" if image.mode in ("L", "RGB", "CMYK", "YCbCr") else None,
                    (image.size[0] // factor, image.size[1] // factor))
    image.load()
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode not in _REDUCIBLE:
        image = image.convert("RGBA" if transparent else "L")
    factor = max(1, max(image.size) // WORK_SIZE)
    if factor > 1:
        image = image.reduce(factor)
    alpha = None
    if transparent:
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A"))
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
    return np.asarray(image.convert("L"), dtype=np.float32), alpha


def _note(width: int, height: int, gray: np.ndarray, alpha: np.ndarray | None) -> str | None:
    """Why the model's answer for this picture means little, or None."""
    if alpha is not None and not alpha.any():
        return "the image is fully transparent: nothing is drawn, so the answer is a guess"
    if gray.min() == gray.max():
        return f"the image is blank (gray level {gray.flat[0]:.0f} everywhere), so the answer is a guess"
    if max(width, height) < TINY:
        return f"the image is only {width}x{height} pixels, so the answer means little"
    return None


def dataset_layout(gray: np.ndarray, box: int = 20, by_mass: bool = True) -> np.ndarray:
    """Steps 2-5 of the module docstring on a 2-D array of gray levels 0-255."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.mean() > 127.5:
        gray = 255 - gray
    gray = np.clip(gray - np.median(gray), 0, None)
    peak = gray.max()
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    if peak <= 0:
        return out
    gray[gray < NOISE * peak] = 0
    gray *= 255 / peak
    rows, cols = np.nonzero(gray)
    crop = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = box / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    resized = np.asarray(Image.fromarray(crop, mode="F").resize((width, height), Image.Resampling.LANCZOS))
    resized = np.clip(resized, 0, 255)
    if by_mass:
        mass = resized.sum()
        cy = (resized.sum(axis=1) @ np.arange(height)) / mass
        cx = (resized.sum(axis=0) @ np.arange(width)) / mass
        top = int(np.clip(round(SIZE / 2 - cy), 0, SIZE - height))
        left = int(np.clip(round(SIZE / 2 - cx), 0, SIZE - width))
    else:
        top, left = (SIZE - height) // 2, (SIZE - width) // 2
    out[top : top + height, left : left + width] = np.round(resized).astype(np.uint8)
    return out
