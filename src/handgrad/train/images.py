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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

SIZE = 28
NOISE = 0.1
# data set -> (side of the box the longer side is scaled to, centre by centre of mass?)
LAYOUTS = {"mnist": (20, True), "fashion-mnist": (28, False)}


def load_image(path: str | Path, dataset: str = "mnist") -> np.ndarray:
    """The uint8 (28, 28) version of the picture at `path`, laid out as `dataset`'s images.

    A missing file raises FileNotFoundError; one Pillow cannot read raises ValueError.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                image = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
            gray = np.asarray(image.convert("L"), dtype=np.float32)
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    box, by_mass = LAYOUTS["fashion-mnist" if dataset.replace("_", "-") == "fashion-mnist" else "mnist"]
    return dataset_layout(gray, box, by_mass)


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
