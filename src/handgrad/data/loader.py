"""Mini-batches over in-memory arrays.

`iterate_batches` is one pass (epoch) over the data. `Batches` is a re-iterable view
whose shuffling order depends only on ``(seed, epoch)``, so a run resumed at epoch k
sees exactly the batches an uninterrupted run would have seen.
"""

from collections.abc import Iterator

import numpy as np

from handgrad._random import resolve


def _check(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def iterate_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An iterator of ``(xb, yb)`` mini-batches covering each sample once: one epoch.

    With ``shuffle=True`` the order is a fresh permutation drawn from `rng` (handgrad's
    global generator when None), and each batch is a contiguous copy made by fancy
    indexing. Without shuffling the batches are slices (views) in order. The last,
    smaller batch is kept unless ``drop_last=True``. Bad arguments raise at the call.
    """
    _check(x, y, batch_size)
    order = resolve(rng).permutation(len(x)) if shuffle else None
    return _generate(x, y, batch_size, order, drop_last)


def _generate(
    x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None, drop_last: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The generator behind `iterate_batches`; `order` is None for no shuffling."""
    n = len(x)
    stop = n - n % batch_size if drop_last else n
    if order is not None:
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]
    else:
        for start in range(0, stop, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


class Batches:
    """A re-iterable batch source whose order is a function of ``(seed, epoch)``.

    Each ``iter()`` runs one epoch with ``np.random.default_rng([seed, epoch])`` and then
    advances `epoch` (the 0-based index of the next pass). Set ``epoch=k`` to resume:
    the k-th pass reproduces the order of an uninterrupted run.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        epoch: int = 0,
    ):
        _check(x, y, batch_size)
        if not (isinstance(seed, (int, np.integer)) and seed >= 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return len(self.x) // self.batch_size
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        return iterate_batches(
            self.x, self.y, self.batch_size, self.shuffle, rng=rng, drop_last=self.drop_last
        )
