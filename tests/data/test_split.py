"""train_val_split."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handgrad.data import train_val_split


@given(n=st.integers(0, 500), fraction=st.floats(0.0, 0.99), seed=st.integers(0, 2**32))
def test_split_partitions_the_indices(n, fraction, seed):
    train, val = train_val_split(n, fraction, seed=seed)
    assert len(val) == round(n * fraction)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_same_seed_same_split_other_seed_other_split():
    a = train_val_split(1000, 0.1, seed=3)
    b = train_val_split(1000, 0.1, seed=3)
    c = train_val_split(1000, 0.1, seed=4)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])


def test_shuffled_validation_is_spread_out():
    _, val = train_val_split(60000, 0.1, seed=0)
    assert len(val) == 6000
    assert val.min() < 6000 and val.max() > 54000


def test_no_shuffle_takes_the_last_fraction():
    train, val = train_val_split(10, 0.3, shuffle=False)
    np.testing.assert_array_equal(train, np.arange(7))
    np.testing.assert_array_equal(val, [7, 8, 9])


def test_zero_fraction_gives_empty_validation():
    train, val = train_val_split(5, 0.0)
    assert len(val) == 0 and len(train) == 5


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(10, fraction)


def test_bad_n():
    with pytest.raises(ValueError, match="n must be"):
        train_val_split(-1)


def test_defaults_are_a_tenth_drawn_with_seed_zero():
    # Documented: round(n * 0.1) indices, drawn from np.random.default_rng(seed), seed 0.
    train, val = train_val_split(100)
    order = np.random.default_rng(0).permutation(100)
    np.testing.assert_array_equal(val, np.sort(order[:10]))
    np.testing.assert_array_equal(train, np.sort(order[10:]))
