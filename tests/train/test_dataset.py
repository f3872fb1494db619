"""The arrays of a run: limit, split, normalisation on the training part, padding, augmentation."""

import numpy as np
import pytest

from handgrad import data
from handgrad.train import TrainConfig, class_names, default_data_dir, prepare
from handgrad.train.dataset import normalisation


def test_prepare_limits_splits_and_normalises(small_data):
    d = small_data
    assert d.x_train.shape == (540, 1, 28, 28) and d.x_val.shape == (60, 1, 28, 28)
    assert d.x_test.shape == (600, 1, 28, 28) and d.y_test.shape == (600,)
    for x in (d.x_train, d.x_val, d.x_test):
        assert x.dtype == np.float32 and x.flags.c_contiguous
    for y in (d.y_train, d.y_val, d.y_test):
        assert y.dtype == np.int64
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-4
    assert d.pad == 0 and (d.mean, d.std) == normalisation(TrainConfig(limit=600).validated())
    images, labels = data.load_dataset("mnist", default_data_dir(), "train")
    train_idx, val_idx = data.train_val_split(600, 0.1, seed=0)
    assert np.array_equal(d.y_train, labels[train_idx]) and np.array_equal(d.y_val, labels[val_idx])


def test_lenet5_with_input_size_32_gets_padded_images():
    d = prepare(TrainConfig(limit=100, model_options={"input_size": 32}).validated())
    assert d.pad == 2 and d.x_train.shape[2:] == (32, 32) and d.x_test.shape[2:] == (32, 32)
    background = data.background_value(d.mean, d.std)
    assert np.all(d.x_train[:, :, :2, :] == np.float32(background))


def test_augmentation_enlarges_the_training_set_k_times_and_is_seeded():
    config = TrainConfig(limit=100, val_fraction=0.2, augment="rotate=10,translate=2", augment_copies=3)
    first, second = prepare(config.validated()), prepare(config.validated())
    plain = prepare(TrainConfig(limit=100, val_fraction=0.2).validated())
    assert first.x_train.shape == (240, 1, 28, 28) and first.x_val.shape == (20, 1, 28, 28)
    assert np.array_equal(first.x_train, second.x_train)
    assert np.array_equal(first.x_train[:80], plain.x_train) and not np.array_equal(first.x_train[80:160], plain.x_train)
    assert np.array_equal(first.y_train, np.tile(plain.y_train, 3))


def test_missing_data_raises_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data set 'mnist'"):
        prepare(TrainConfig(data_dir=str(tmp_path)).validated())


def test_class_names():
    assert class_names("mnist")[3] == "3" and class_names("fashion-mnist")[9] == "Ankle boot"
