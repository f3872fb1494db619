"""iterate_batches and Batches."""

import numpy as np
import pytest

from handgrad.data import Batches, iterate_batches

N = 103


@pytest.fixture
def data():
    x = np.arange(N * 4, dtype=np.float32).reshape(N, 1, 2, 2)
    y = np.arange(N) * 10
    return x, y


def flat_order(batches):
    return np.concatenate([yb for _, yb in batches]) // 10


def test_every_index_once_and_pairs_kept(data):
    x, y = data
    batches = list(iterate_batches(x, y, 10, rng=np.random.default_rng(0)))
    assert [len(yb) for _, yb in batches] == [10] * 10 + [3]
    assert sorted(flat_order(batches)) == list(range(N))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0, 0, 0], yb // 10 * 4)
        assert xb.flags.c_contiguous and xb.dtype == np.float32


def test_drop_last(data):
    x, y = data
    batches = list(iterate_batches(x, y, 10, rng=np.random.default_rng(0), drop_last=True))
    assert [len(yb) for _, yb in batches] == [10] * 10
    assert len(set(flat_order(batches))) == 100


def test_no_shuffle_is_in_order(data):
    x, y = data
    order = flat_order(iterate_batches(x, y, 16, shuffle=False))
    np.testing.assert_array_equal(order, np.arange(N))


def test_order_changes_per_epoch_and_seed_reproduces(data):
    x, y = data
    rng = np.random.default_rng(5)
    first = flat_order(iterate_batches(x, y, 8, rng=rng))
    second = flat_order(iterate_batches(x, y, 8, rng=rng))
    assert not np.array_equal(first, second)
    again = flat_order(iterate_batches(x, y, 8, rng=np.random.default_rng(5)))
    np.testing.assert_array_equal(first, again)


def test_bad_arguments_raise_at_the_call(data):
    x, y = data
    with pytest.raises(ValueError, match="differ in length"):
        iterate_batches(x, y[:-1], 4)
    with pytest.raises(ValueError, match="batch_size"):
        iterate_batches(x, y, 0)


def test_batches_len(data):
    x, y = data
    assert len(Batches(x, y, 10)) == 11
    assert len(Batches(x, y, 10, drop_last=True)) == 10
    assert len(Batches(x, y, 200)) == 1


def test_batches_epochs_differ_and_resume_reproduces(data):
    x, y = data
    batches = Batches(x, y, 16, seed=7)
    epochs = [flat_order(batches) for _ in range(3)]
    assert batches.epoch == 3
    for order in epochs:
        assert sorted(order) == list(range(N))
    assert not np.array_equal(epochs[0], epochs[1])
    resumed = Batches(x, y, 16, seed=7, epoch=2)
    np.testing.assert_array_equal(flat_order(resumed), epochs[2])
    fresh = Batches(x, y, 16, seed=7)
    np.testing.assert_array_equal(flat_order(fresh), epochs[0])
    other_seed = Batches(x, y, 16, seed=8)
    assert not np.array_equal(flat_order(other_seed), epochs[0])


def test_batches_without_shuffle(data):
    x, y = data
    batches = Batches(x, y, 50, shuffle=False)
    np.testing.assert_array_equal(flat_order(batches), np.arange(N))
    np.testing.assert_array_equal(flat_order(batches), np.arange(N))


def test_batches_bad_seed(data):
    x, y = data
    with pytest.raises(ValueError, match="seed"):
        Batches(x, y, 4, seed=-1)


def test_batch_size_one(data):
    x, y = data
    batches = list(iterate_batches(x, y, 1, rng=np.random.default_rng(0)))
    assert len(batches) == N and all(len(yb) == 1 for _, yb in batches)
    assert len(Batches(x, y, 1)) == N


def test_unshuffled_batches_are_views_of_consecutive_slices(data):
    x, y = data
    batches = list(iterate_batches(x, y, 16, shuffle=False))
    assert [len(xb) for xb, _ in batches] == [16] * 6 + [7]
    for k, (xb, yb) in enumerate(batches):
        np.testing.assert_array_equal(xb, x[16 * k : 16 * (k + 1)])
        np.testing.assert_array_equal(yb, y[16 * k : 16 * (k + 1)])
        assert np.shares_memory(xb, x) and np.shares_memory(yb, y)


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_drop_last_drops_the_short_batch(data, shuffle):
    x, y = data
    batches = Batches(x, y, 10, shuffle=shuffle, drop_last=True)
    sizes = [len(yb) for _, yb in batches]
    assert sizes == [10] * 10 and len(sizes) == len(batches)


def test_batches_order_is_the_documented_permutation(data):
    # Documented: epoch k runs with np.random.default_rng([seed, k]); seed defaults to 0.
    x, y = data
    for batches, seed in [(Batches(x, y, 16), 0), (Batches(x, y, 16, seed=3), 3)]:
        for epoch in range(2):
            expected = np.random.default_rng([seed, epoch]).permutation(N)
            np.testing.assert_array_equal(flat_order(batches), expected)
