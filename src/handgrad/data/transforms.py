"""From uint8 images to normalised float tensors.

Pixels are first scaled to [0, 1] (``p / 255``), then standardised with the training
split's statistics: ``(p / 255 - mean) / std``. A black pixel (0) therefore becomes
``background_value(mean, std) = -mean / std``, which is also the value used for padding,
so a padded border looks like more black background rather than a grey frame.
``mean=0, std=1`` gives plain [0, 1] scaling with background 0.
"""

import numpy as np

_CHUNK = 1 << 22  # pixels per bincount call in dataset_stats, to bound memory


def dataset_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation of uint8 `images` scaled to [0, 1].

    Exact, via a histogram of the 256 pixel values; pass the training split only.
    MNIST gives about (0.1307, 0.3081).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"dataset_stats expects uint8 images, got {images.dtype}")
    if images.size == 0:
        raise ValueError("dataset_stats needs at least one pixel, got an empty array")
    flat = images.reshape(-1)
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, flat.size, _CHUNK):
        counts += np.bincount(flat[start : start + _CHUNK], minlength=256)
    values = np.arange(256) / 255.0
    mean = float(counts @ values / flat.size)
    std = float(np.sqrt(counts @ (values - mean) ** 2 / flat.size))
    return mean, std


def background_value(mean: float = 0.0, std: float = 1.0) -> float:
    """The normalised value of a black (0) pixel: ``(0 - mean) / std``."""
    return -mean / std


def to_float(
    images: np.ndarray,
    mean: float = 0.0,
    std: float = 1.0,
    pad: int = 0,
    dtype: type | np.dtype = np.float32,
) -> np.ndarray:
    """Scale uint8 images to [0, 1], standardise, and add a channel axis.

    Args:
        images: uint8, shape (N, H, W) or (N, 1, H, W).
        mean, std: statistics of the [0, 1]-scaled training pixels (`dataset_stats`).
        pad: zero-pixel border on each side; ``pad=2`` turns 28x28 into LeNet's 32x32.
            The border holds ``background_value(mean, std)``, a black pixel normalised.
        dtype: float dtype of the result.

    Returns:
        A new array of shape (N, 1, H + 2 * pad, W + 2 * pad).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 images, got {images.dtype}")
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(
            f"to_float expects images of shape (N, H, W) or (N, 1, H, W), got {images.shape}"
        )
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    if not (isinstance(pad, (int, np.integer)) and pad >= 0):
        raise ValueError(f"pad must be a non-negative integer, got {pad!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"to_float needs a float dtype, got {dtype}")
    n, h, w = images.shape
    out = np.full((n, 1, h + 2 * pad, w + 2 * pad), background_value(mean, std), dtype=dtype)
    inner = out[:, 0, pad : pad + h, pad : pad + w]
    inner[...] = images
    inner *= dtype.type(1.0 / (255.0 * std))
    inner -= dtype.type(mean / std)
    return out
