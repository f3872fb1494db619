"""Flatten: shapes as PyTorch's, backward restores the shape, dtype kept."""

import numpy as np
import pytest

from handgrad import nn
from torch_helpers import PATHS, assert_gradcheck, compare_with_torch


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, -1), (2, -1), (1, 2), (-3, -2), (0, 0)])
def test_flatten_matches_torch(start_dim, end_dim, dtype, path, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    y, dx = compare_with_torch(nn.Flatten(start_dim, end_dim), x, rng=rng, path=path)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape


def test_flatten_default_and_batch_of_one(rng):
    module = nn.Flatten()
    x = rng.standard_normal((1, 16, 5, 5)).astype(np.float32)
    y = module(x)
    assert y.shape == (1, 400) and y.dtype == np.float32
    dx = module.backward(np.arange(400, dtype=np.float32).reshape(1, 400))
    assert dx.shape == x.shape and dx.dtype == np.float32
    np.testing.assert_array_equal(dx.reshape(-1), np.arange(400))


def test_flatten_gradcheck(rng):
    assert_gradcheck(nn.Flatten(), rng.standard_normal((2, 2, 3, 2)))


def test_flatten_backward_without_forward():
    with pytest.raises(RuntimeError, match="Flatten.*backward.*forward"):
        nn.Flatten().backward(np.ones((1, 4)))
