"""MNIST and Fashion-MNIST from the IDX files the project ships under ``data/``.

``load_dataset(name, root, split)`` looks for ``root/<folder>/<prefix>-images-idx3-ubyte.gz``
and ``...-labels-idx1-ubyte.gz`` (or the same names without ``.gz``), where the folder
is ``mnist`` or ``fashion-mnist`` and the prefix ``train`` or ``t10k``. Nothing is ever
downloaded. Decoded arrays are cached in-process, keyed by resolved path, modification
time and size, and each call returns fresh copies, so callers may modify them freely.
"""

import functools
from pathlib import Path

import numpy as np

from handgrad.data.idx import read_idx
from handgrad.errors import MissingFileError, UserError

# Accepted dataset name -> folder under the root.
_FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist"}
# Split -> prefix of the official file names.
_PREFIXES = {"train": "train", "test": "t10k"}
_IMAGE_SIZE = (28, 28)
_NUM_CLASSES = 10


class DatasetNotFoundError(MissingFileError):
    """A data set's folder or one of its files is missing from the data root."""


def _official_names(prefix: str) -> tuple[str, str]:
    """The official gzip file names of one split: (images, labels)."""
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def _not_found(name: str, folder: Path, missing: str) -> DatasetNotFoundError:
    expected = ", ".join(n for p in _PREFIXES.values() for n in _official_names(p))
    return DatasetNotFoundError(
        f"data set {name!r}: {missing}. Looked in {folder}, which should hold the official "
        f"files {expected} (or the same names without .gz). The project ships them under "
        f"data/{folder.name}/; point root (--data-dir) at the folder that holds "
        f"{folder.name}/. handgrad never downloads data."
    )


def _locate(name: str, folder: Path, gz_name: str) -> Path:
    """The path of `gz_name` in `folder`, or of its un-gzipped twin."""
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    if not folder.is_dir():
        raise _not_found(name, folder, f"no folder {folder}")
    raise _not_found(name, folder, f"no file {gz_name} in {folder}")


def _cache_key(path: Path) -> tuple[str, int, int]:
    """Resolved path, mtime and size: a changed file gets a new cache entry."""
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _load_checked(
    images_key: tuple[str, int, int], labels_key: tuple[str, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one split; cached, so the arrays are made read-only."""
    images_path, labels_path = images_key[0], labels_key[0]
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != _IMAGE_SIZE:
        raise UserError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise UserError(
            f"{labels_path}: expected uint8 labels of shape (N,), "
            f"got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise UserError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    if labels.size and labels.max() >= _NUM_CLASSES:
        bad = int(np.argmax(labels >= _NUM_CLASSES))
        raise UserError(
            f"{labels_path}: label {labels[bad]} at index {bad} is outside 0-{_NUM_CLASSES - 1}"
        )
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_dataset(
    name: str, root: str | Path = "data", split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Load a split of MNIST or Fashion-MNIST from `root`.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"`` (``"fashion_mnist"`` also accepted).
        root: the folder that holds ``mnist/`` and ``fashion-mnist/``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).

    Returns:
        ``(images, labels)``: uint8 arrays of shapes (N, 28, 28) and (N,), labels in 0-9;
        fresh copies, safe to modify.

    Raises:
        ValueError: unknown name or split, or malformed files (the message names the file).
        DatasetNotFoundError: (a FileNotFoundError) the folder or a file is missing.
    """
    if name not in _FOLDERS:
        raise UserError(f"unknown data set {name!r}; valid names: {', '.join(_FOLDERS)}")
    if split not in _PREFIXES:
        raise UserError(f"unknown split {split!r}; valid splits: {', '.join(_PREFIXES)}")
    folder = Path(root) / _FOLDERS[name]
    images_name, labels_name = _official_names(_PREFIXES[split])
    images_path = _locate(name, folder, images_name)
    labels_path = _locate(name, folder, labels_name)
    images, labels = _load_checked(_cache_key(images_path), _cache_key(labels_path))
    return images.copy(), labels.copy()
