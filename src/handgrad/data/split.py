"""Holding out a validation set from the training split."""

import numpy as np


def train_val_split(
    n: int, val_fraction: float = 0.1, seed: int = 0, shuffle: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..n-1 into disjoint training and validation sets.

    ``round(n * val_fraction)`` indices go to validation. With ``shuffle=True`` they are
    drawn at random from ``np.random.default_rng(seed)`` (the same seed gives the same
    split); with ``shuffle=False`` validation is the last fraction of the data, in order.
    Both index arrays (int64) are returned sorted, which keeps gathers cache-friendly.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    n_val = int(round(n * val_fraction))
    if shuffle:
        order = np.random.default_rng(seed).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    return np.arange(n - n_val), np.arange(n - n_val, n)
