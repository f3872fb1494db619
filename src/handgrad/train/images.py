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

Memory stays bounded on any picture. A JPEG is decoded at 1/2, 1/4 or 1/8 of its size by
the decoder itself (Pillow's `draft`); other formats decode whole, so a picture whose
decoded pixels would take more than `MEMORY_LIMIT` bytes is refused, from its header,
before anything is decoded (Pillow keeps a gray or palette pixel in 1 byte and a colour
one in 4: the limit is 160 million gray pixels, 12,649 x 12,649, or 40 million colour
ones). Once decoded, the picture is shrunk by an integer factor (`reduce`, a box
average) until its longer side is at most `2 * WORK_SIZE`, and only then becomes
float32. A 12000x12000 grayscale PNG peaks at the memory of its decoded pixels (144 MB)
plus little (reports/benchmarks.md).
`read_image` also says when the answer for a picture means little: a blank (one gray
level), fully transparent or tiny picture.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from handgrad.errors import MissingFileError, UserError

SIZE = 28
NOISE = 0.1
# data set -> (side of the box the longer side is scaled to, centre by centre of mass?)
LAYOUTS = {"mnist": (20, True), "fashion-mnist": (28, False)}
# The most memory the decoded pixels of a picture may take (see the module docstring).
# Pillow's own check (a warning above 89 million pixels, an error above twice that,
# whatever the mode) is replaced by this one.
MEMORY_LIMIT = 160_000_000
# Pictures are shrunk to a longer side between WORK_SIZE and 2 * WORK_SIZE pixels before
# they become float32: a digit a tenth of the picture wide still spans 50 pixels or more
# of it, far more than the 20 of its box.
WORK_SIZE = 512
TINY = 8  # pictures under 8 pixels on their longer side get a note
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F")


def load_image(path: str | Path, dataset: str = "mnist") -> np.ndarray:
    """The uint8 (28, 28) version of the picture at `path`, laid out as `dataset`'s images.

    A missing file raises MissingFileError (a FileNotFoundError); one Pillow cannot
    read, or one over `MEMORY_LIMIT`, raises UserError (a ValueError).
    """
    return read_image(path, dataset)[0]


def read_image(path: str | Path, dataset: str = "mnist") -> tuple[np.ndarray, str | None]:
    """(`load_image`'s array, a note when the answer for this picture means little, else None)."""
    path = Path(path)
    try:
        with _quiet_pillow(), Image.open(path) as image:
            width, height = image.size
            gray, alpha = _decode_reduced(image, path)
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
def _quiet_pillow():
    """Pillow's decompression-bomb check off (`read_image` checks the size itself, in one
    line) and its warnings on odd files (corrupt EXIF, ...) unprinted: a picture it can
    decode is read, one it cannot is one line."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _decode_reduced(image: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(gray levels float32, alpha uint8 or None) of an opened picture, decoded reduced (see the docstring)."""
    factor = max(1, max(image.size) // WORK_SIZE)
    if factor > 1 and image.format == "JPEG":
        try:
            image.draft("L" if image.mode in ("L", "RGB", "CMYK", "YCbCr") else None,
                        (image.size[0] // factor, image.size[1] // factor))
        except ZeroDivisionError:  # Pillow's draft on a corrupt header (found by benchmarks/fuzz): decoding
            pass                   # unreduced, within the memory check below, tells a readable file from not
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    reducible = image.mode if image.mode in _REDUCIBLE else "RGBA" if transparent else "L"
    width, height = image.size
    needed = width * height * (_stored_bytes(image.mode) + (_stored_bytes(reducible) if reducible != image.mode
                                                            else 0))
    if needed > MEMORY_LIMIT:
        raise UserError(f"image {path} is {width}x{height} {image.mode}: decoding it would take "
                        f"{needed / 1e6:,.0f} MB, over handgrad's limit of {MEMORY_LIMIT / 1e6:,.0f} MB "
                        f"(160 million gray or 40 million colour pixels); scale it down, or make it grayscale")
    try:
        image.load()
    except TypeError as exc:  # Pillow's TIFF decoder on a tag of the wrong type (found by benchmarks/fuzz)
        raise UserError(f"cannot read image {path}: {exc}") from exc
    if image.mode != reducible:
        image = image.convert(reducible)
    factor = max(1, max(image.size) // WORK_SIZE)
    if factor > 1:
        image = image.reduce(factor)
    alpha = None
    if transparent:
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A"))
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
    return np.asarray(image.convert("L"), dtype=np.float32), alpha


def _stored_bytes(mode: str) -> int:
    """Bytes Pillow keeps per pixel of `mode` (1 for 1/L/P, 2 for I;16, else a 32-bit word)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


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
