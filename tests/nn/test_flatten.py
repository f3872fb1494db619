"""Flatten: shapes as PyTorch's, backward restores the shape, dtype kept."""

import numpy as np
import pytest

from handgrad import nn
from torch_helpers import assert_gradcheck, compare_with_torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, -1), (2, -1), (1, 2), (-3, -2), (0, 0)])
def test_flatten_matches_torch(start_dim, end_dim, dtype, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    y, dx = compare_with_torch(nn.Flatten(start_dim, end_dim), x, rng=rng)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape


def test_flatten_default_and_batch_of_one(rng):
    module = nn.Flatten()
    x = rng.standard_normal((1, 16, 5, 5)).astype(np.float32)
    y = module(x)
    assert y.shape == (1, 400) and y.dtype == np.float32
    dx = module.backward(np.arange(400, dtype=np.float32).reshape(1, 400))
    assert dx.shape == x.shape and dx.dtype == np.float32
    np.testing.assert_array_equal(dx.reshape(-1), np.arange(400))


def test_flatten_of_a_chwn_view(rng):
    """Flatten must follow NCHW logical order even when the memory is laid CHWN; it then
    returns a view of that memory, not a copy."""
    x = rng.standard_normal((3, 4, 5, 2)).transpose(3, 0, 1, 2)
    y = nn.Flatten()(x)
    np.testing.assert_array_equal(y, np.ascontiguousarray(x).reshape(2, -1))
    assert np.shares_memory(y, x)


def test_flatten_gradcheck(rng):
    assert_gradcheck(nn.Flatten(), rng.standard_normal((2, 2, 3, 2)))


def test_flatten_backward_without_forward():
    with pytest.raises(RuntimeError, match="Flatten.*backward.*forward"):
        nn.Flatten().backward(np.ones((1, 4)))


def test_flatten_then_linear_keep_batch_innermost_memory_both_ways(rng):
    """Flatten of CHWN memory gives a transposed view; Linear's input gradient comes back in
    that layout and Flatten's backward turns it into a CHWN view: numbers as for copies."""
    x = rng.standard_normal((3, 4, 5, 2)).transpose(3, 0, 1, 2)  # NCHW shape, CHWN memory
    flatten, linear = nn.Flatten(), nn.Linear(60, 7).double()
    g = rng.standard_normal((2, 7))
    linear(flatten(x))
    dx = flatten.backward(linear.backward(g))
    expected = (g @ linear.weight.data).reshape(x.shape)
    np.testing.assert_allclose(dx, expected, rtol=1e-12)
    assert dx.transpose(1, 2, 3, 0).flags.c_contiguous
    np.testing.assert_allclose(linear.weight.grad, g.T @ np.ascontiguousarray(x).reshape(2, -1), rtol=1e-12)
