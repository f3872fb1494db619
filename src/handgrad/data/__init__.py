"""Data: the IDX reader, MNIST / Fashion-MNIST, transforms, augmentation and batches.

A typical pipeline::

    images, labels = load_dataset("mnist", root="data", split="train")
    train_idx, val_idx = train_val_split(len(images), val_fraction=0.1, seed=0)
    mean, std = dataset_stats(images[train_idx])
    x = to_float(images, mean, std)                      # (N, 1, 28, 28) float32
    augment = build_augmentation("rotate=15,translate=2", fill=background_value(mean, std))
    rng = np.random.default_rng(0)
    for xb, yb in Batches(x[train_idx], labels[train_idx], batch_size=64, seed=0):
        xb = augment(xb, rng)
        ...
"""

from handgrad.data.augment import (
    Blotches,
    Compose,
    GaussianNoise,
    RandomRotation,
    RandomTranslation,
    augment_dataset,
    build_augmentation,
    rotate,
    translate,
)
from handgrad.data.datasets import DatasetNotFoundError, load_dataset
from handgrad.data.idx import read_idx, write_idx
from handgrad.data.loader import Batches, iterate_batches
from handgrad.data.split import train_val_split
from handgrad.data.transforms import background_value, dataset_stats, to_float

__all__ = [
    "read_idx",
    "write_idx",
    "load_dataset",
    "DatasetNotFoundError",
    "dataset_stats",
    "background_value",
    "to_float",
    "train_val_split",
    "iterate_batches",
    "Batches",
    "RandomRotation",
    "RandomTranslation",
    "GaussianNoise",
    "Blotches",
    "Compose",
    "rotate",
    "translate",
    "build_augmentation",
    "augment_dataset",
]
