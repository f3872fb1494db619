"""Turning any picture of a digit or garment into a 28x28 image laid out as MNIST's are.

MNIST digits are white on black, scaled to fit a 20x20 box (keeping the aspect ratio)
and placed in a 28x28 frame with their centre of mass at the centre. `load_image`
does the same to a PNG/JPEG (anything Pillow reads):
1. transparent pixels become white; the picture becomes grayscale;
2. a mostly light picture (mean above mid-grey) is inverted, so ink becomes light;
3. the background level (the median) is subtracted, faint noise (under 10% of the
   brightest pixel) is cleared, and the rest is stretched to 0-255;
4. the bounding box of what is left is resized so its longer side is 20 pixels;
5. it is placed in 28x28 with its centre of mass as near the centre as the frame allows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

SIZE, BOX = 28, 20
CENTRE = SIZE / 2  # where MNIST puts the centre of mass (row and column 14)
NOISE = 0.1


def load_image(path: str | Path) -> np.ndarray:
    """The uint8 (28, 28) MNIST-style version of the picture at `path`; unreadable files raise ValueError."""
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
    return mnist_layout(gray)


def mnist_layout(gray: np.ndarray) -> np.ndarray:
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
    scale = BOX / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    resized = np.asarray(Image.fromarray(crop, mode="F").resize((width, height), Image.Resampling.LANCZOS))
    resized = np.clip(resized, 0, 255)
    mass = resized.sum()
    cy = (resized.sum(axis=1) @ np.arange(height)) / mass
    cx = (resized.sum(axis=0) @ np.arange(width)) / mass
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - height))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - width))
    out[top : top + height, left : left + width] = np.round(resized).astype(np.uint8)
    return out
