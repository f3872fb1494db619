"""The data of a run: load, limit, split, normalise, pad and augment, as the config says.

Normalisation uses the mean and standard deviation of the training part (after the
validation split, before augmentation); the same values normalise validation, test and
any image given to `predict`. Images are padded with the normalised background value
up to the model's `input_size` (28 → 32 for LeNet-5 with input_size=32). Arrays are
float32 and C-contiguous; labels are int64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import handgrad
from handgrad import data
from handgrad.errors import UserError
from handgrad.train.config import TrainConfig

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
# The seed sequence of the augmentation: [seed, 0, 1] is a stream no Batches epoch ([seed, epoch]) uses.
_AUGMENT_STREAM = (0, 1)


@dataclass
class PreparedData:
    """Normalised float32 arrays (N, 1, H, W) and int64 labels of a run, and how they were normalised."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: float
    std: float
    pad: int


def default_data_dir() -> Path:
    """`data` in the current directory if there is one, else the project's data/ beside src/ (absolute)."""
    local = Path("data")
    return local.resolve() if local.is_dir() else Path(handgrad.__file__).resolve().parents[2] / "data"


def data_root(data_dir: str | Path | None) -> Path:
    return default_data_dir() if data_dir is None else Path(data_dir)


def class_names(dataset: str) -> tuple[str, ...]:
    return FASHION_CLASSES if dataset.replace("_", "-") == "fashion-mnist" else MNIST_CLASSES


def padding(config: TrainConfig) -> int:
    """Border added to the 28x28 images so they match the model's input_size."""
    return (config.model_options["input_size"] - 28) // 2


def split_training_images(config: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, val images, val labels) as uint8/uint8, after `limit` and the split."""
    images, labels = data.load_dataset(config.dataset, data_root(config.data_dir), "train")
    if config.limit:
        images, labels = images[: config.limit], labels[: config.limit]
    train_idx, val_idx = data.train_val_split(len(images), config.val_fraction, config.seed, config.shuffle_split)
    if len(train_idx) == 0:
        raise UserError(f"no training images left: limit={config.limit}, val_fraction={config.val_fraction}")
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


def normalisation(config: TrainConfig) -> tuple[float, float]:
    """The (mean, std) a run with `config` normalises with: the statistics of its training part."""
    train_images = split_training_images(config)[0]
    return data.dataset_stats(train_images)


def prepare(config: TrainConfig) -> PreparedData:
    """Every array a run with (validated) `config` trains, validates and tests on."""
    train_images, train_labels, val_images, val_labels = split_training_images(config)
    test_images, test_labels = data.load_dataset(config.dataset, data_root(config.data_dir), "test")
    if config.limit:
        test_images, test_labels = test_images[: config.limit], test_labels[: config.limit]
    mean, std = data.dataset_stats(train_images)
    pad = padding(config)
    x_train, y_train = data.to_float(train_images, mean, std, pad), train_labels.astype(np.int64)
    if config.augmenting:
        transform = data.build_augmentation(config.augment, fill=data.background_value(mean, std))
        rng = np.random.default_rng([config.seed, *_AUGMENT_STREAM])
        x_train, y_train = data.augment_dataset(x_train, y_train, transform, config.augment_copies, rng=rng)
    return PreparedData(
        x_train=np.ascontiguousarray(x_train, dtype=np.float32), y_train=y_train,
        x_val=data.to_float(val_images, mean, std, pad), y_val=val_labels.astype(np.int64),
        x_test=data.to_float(test_images, mean, std, pad), y_test=test_labels.astype(np.int64),
        mean=mean, std=std, pad=pad,
    )
