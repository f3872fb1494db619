"""load_dataset on the shipped sets and on small fake ones."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from handgrad.data import DatasetNotFoundError, load_dataset, write_idx

DATA = Path(__file__).resolve().parents[2] / "data"


def make_fake(root, images, labels, folder="mnist", prefix="train", gz=True):
    """Write a fake split under root/folder with the official names."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    images_path = root / folder / f"{prefix}-images-idx3-ubyte{suffix}"
    labels_path = root / folder / f"{prefix}-labels-idx1-ubyte{suffix}"
    write_idx(images_path, images)
    write_idx(labels_path, labels)
    return images_path, labels_path


def fake_images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_shipped_sets(name, split, n):
    images, labels = load_dataset(name, root=DATA, split=split)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0


def test_fashion_underscore_alias():
    a = load_dataset("fashion-mnist", root=DATA, split="test")
    b = load_dataset("fashion_mnist", root=DATA, split="test")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_mnist_first_test_labels():
    _, labels = load_dataset("mnist", root=DATA, split="test")
    np.testing.assert_array_equal(labels[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])


def test_callers_cannot_corrupt_the_cache():
    images, labels = load_dataset("mnist", root=DATA, split="test")
    images[:] = 0
    labels[:] = 0
    again, again_labels = load_dataset("mnist", root=DATA, split="test")
    assert again.any() and again_labels.any()


def test_default_root_is_data(monkeypatch):
    monkeypatch.chdir(DATA.parent)
    images, _ = load_dataset("mnist", split="test")
    assert images.shape == (10000, 28, 28)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown data set 'cifar10'.*mnist, fashion-mnist"):
        load_dataset("cifar10", root=DATA)


def test_unknown_split_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown split 'val'.*train, test"):
        load_dataset("mnist", root=DATA, split="val")


def test_missing_folder_says_where_and_what(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", root=tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path / "fashion-mnist") in message
    for name in ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
        assert name in message
    assert "data/fashion-mnist/" in message and "never downloads" in message


def test_missing_file_is_named(tmp_path):
    make_fake(tmp_path, fake_images(3), np.array([0, 1, 2], np.uint8))
    os.remove(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz")
    with pytest.raises(DatasetNotFoundError, match="no file train-labels-idx1-ubyte.gz"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", root=tmp_path, split="test")


@pytest.mark.parametrize("gz", [True, False])
def test_fake_set_plain_or_gzip(tmp_path, gz):
    images = fake_images(5)
    labels = np.array([0, 9, 3, 3, 1], np.uint8)
    make_fake(tmp_path, images, labels, folder="fashion-mnist", prefix="t10k", gz=gz)
    got_images, got_labels = load_dataset("fashion_mnist", root=str(tmp_path), split="test")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_changed_file_is_reread(tmp_path):
    make_fake(tmp_path, fake_images(4), np.zeros(4, np.uint8))
    assert len(load_dataset("mnist", root=tmp_path)[0]) == 4
    make_fake(tmp_path, fake_images(6), np.ones(6, np.uint8))
    images, labels = load_dataset("mnist", root=tmp_path)
    assert len(images) == 6 and labels.tolist() == [1] * 6


def test_count_mismatch_is_rejected(tmp_path):
    _, labels_path = make_fake(tmp_path, fake_images(5), np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=re.escape(f"{labels_path}: 4 labels for 5 images")):
        load_dataset("mnist", root=tmp_path)


def test_label_out_of_range_is_rejected(tmp_path):
    _, labels_path = make_fake(tmp_path, fake_images(3), np.array([0, 10, 2], np.uint8))
    with pytest.raises(ValueError, match=re.escape(f"{labels_path}: label 10 at index 1")):
        load_dataset("mnist", root=tmp_path)


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((3, 27, 27), np.uint8),
        np.zeros((3, 784), np.uint8),
        np.zeros((3, 28, 28), np.float32),
        np.zeros((3, 1, 28, 28), np.uint8),
    ],
)
def test_bad_images_are_rejected(tmp_path, images):
    images_path, _ = make_fake(tmp_path, images, np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=re.escape(f"{images_path}: expected uint8 images")):
        load_dataset("mnist", root=tmp_path)


@pytest.mark.parametrize("labels", [np.zeros((3, 1), np.uint8), np.zeros(3, np.int32)])
def test_bad_labels_are_rejected(tmp_path, labels):
    _, labels_path = make_fake(tmp_path, fake_images(3), labels)
    with pytest.raises(ValueError, match=re.escape(f"{labels_path}: expected uint8 labels")):
        load_dataset("mnist", root=tmp_path)


def test_corrupt_file_error_names_it(tmp_path):
    images_path, _ = make_fake(tmp_path, fake_images(3), np.zeros(3, np.uint8))
    images_path.write_bytes(images_path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=re.escape(str(images_path))):
        load_dataset("mnist", root=tmp_path)


OFFICIAL = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
)


def test_missing_folder_message_names_the_set_the_folder_and_the_files(tmp_path):
    folder = tmp_path / "fashion-mnist"
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion_mnist", root=tmp_path)
    assert str(info.value).startswith(
        f"data set 'fashion_mnist': no folder {folder}. Looked in {folder}, which should hold "
        f"the official files {OFFICIAL} (or the same names without .gz)."
    )


@pytest.mark.parametrize("missing", ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"])
def test_missing_file_message_names_the_set_and_the_file(tmp_path, missing):
    make_fake(tmp_path, fake_images(3), np.array([0, 1, 2], np.uint8))
    os.remove(tmp_path / "mnist" / missing)
    folder = tmp_path / "mnist"
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", root=tmp_path)
    assert str(info.value).startswith(
        f"data set 'mnist': no file {missing} in {folder}. Looked in {folder}, which should "
        f"hold the official files {OFFICIAL}"
    )
