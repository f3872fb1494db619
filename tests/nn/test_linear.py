"""Linear against PyTorch (float32 and float64; the textbook path and the engine) and the numeric
gradient check."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from torch_helpers import PATHS, assert_gradcheck, compare_with_torch


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 8), fan_in=st.integers(1, 40), fan_out=st.integers(1, 20), bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_linear_matches_torch(path, n, fan_in, fan_out, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(fan_in, fan_out, bias=bias, dtype=dtype, rng=rng)
    x = rng.standard_normal((n, fan_in)).astype(dtype)
    y, dx = compare_with_torch(layer, x, rng=rng, path=path)
    assert y.shape == (n, fan_out) and dx.shape == x.shape


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n, fan_in, fan_out", [(1, 3, 2), (4, 7, 5), (3, 1, 1)])
def test_linear_gradcheck(n, fan_in, fan_out, bias, rng):
    layer = nn.Linear(fan_in, fan_out, bias=bias, dtype=np.float64, rng=rng)
    errors = assert_gradcheck(layer, rng.standard_normal((n, fan_in)))
    assert set(errors) == {"input", "weight"} | ({"bias"} if bias else set())


def test_linear_shapes_keys_and_dtype(rng):
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert list(layer.state_dict()) == list(torch.nn.Linear(5, 3).state_dict())
    assert list(nn.Linear(5, 3, bias=False).state_dict()) == ["weight"]
    y = layer(rng.standard_normal((2, 5)).astype(np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


def test_linear_rejects_bad_input():
    layer = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="Linear.*2-D"):
        layer(np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match="Linear.*4 features"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError, match="Linear.*dtype"):
        layer(np.zeros((2, 4), np.float64))
    with pytest.raises(RuntimeError, match="Linear.*backward.*forward"):
        nn.Linear(4, 2).backward(np.zeros((1, 2), np.float32))


def test_linear_by_hand():
    layer = nn.Linear(2, 1, dtype=np.float64)
    layer.weight.data[...] = [[2.0, -1.0]]
    layer.bias.data[...] = [0.5]
    y = layer(np.array([[1.0, 3.0]]))
    np.testing.assert_array_equal(y, [[-0.5]])
    dx = layer.backward(np.array([[2.0]]))
    np.testing.assert_array_equal(dx, [[4.0, -2.0]])
    np.testing.assert_array_equal(layer.weight.grad, [[2.0, 6.0]])
    np.testing.assert_array_equal(layer.bias.grad, [2.0])
