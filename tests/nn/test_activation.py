"""ReLU, LeakyReLU, Tanh and Sigmoid against PyTorch and the numeric gradient check."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from torch_helpers import PATHS, assert_gradcheck, compare_with_torch, run_torch, torch_copy

ACTIVATIONS = [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, lambda: nn.LeakyReLU(0.2), lambda: nn.LeakyReLU(-0.5)]
IDS = ["relu", "tanh", "sigmoid", "leaky", "leaky0.2", "leaky-0.5"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("make", ACTIVATIONS, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(shape=st.sampled_from([(1, 1), (3, 7), (2, 3, 4, 5), (1, 2, 1, 6)]),
       dtype=st.sampled_from([np.float32, np.float64]), scale=st.sampled_from([0.1, 1.0, 10.0]),
       seed=st.integers(0, 2**32 - 1))
def test_activation_matches_torch(path, make, shape, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal(shape)).astype(dtype)
    compare_with_torch(make(), x, rng=rng, path=path)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=IDS)
def test_activation_gradcheck(make, rng):
    x = rng.standard_normal((3, 2, 3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of the kink of ReLU/LeakyReLU
    assert set(assert_gradcheck(make(), x)) == {"input"}


@pytest.mark.parametrize("make", ACTIVATIONS, ids=IDS)
def test_activation_float32_stays_float32(make, rng):
    module = make()
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    y = module(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    dx = module.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape


@pytest.mark.parametrize("make", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_gradient_at_zero_like_torch(make, dtype):
    """At x = 0, ReLU's and LeakyReLU's gradients follow PyTorch's convention (the x ≤ 0 branch)."""
    module = make()
    x = np.array([[0.0, -0.0, 1.0, -1.0]], dtype)
    y = module(x)
    g = np.array([[1.0, 2.0, 3.0, 4.0]], dtype)
    dx = module.backward(g)
    yt, dxt = run_torch(torch_copy(module, dtype), x, g)
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-6)
    np.testing.assert_allclose(dx, dxt.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_saturate_without_overflow(dtype):
    x = np.array([[-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would raise here
        for module in (nn.Sigmoid(), nn.Tanh()):
            y = module(x)
            dx = module.backward(np.ones_like(x))
            assert np.isfinite(y).all() and np.isfinite(dx).all() and y.dtype == dtype
    s = nn.Sigmoid()(x)
    assert s[0, 0] == 0.0 and s[0, 3] == 0.5 and s[0, -1] == 1.0
    compare_with_torch(nn.Sigmoid(), x)
    compare_with_torch(nn.Tanh(), x)


def test_leaky_relu_slope_and_repr():
    assert nn.LeakyReLU().negative_slope == 0.01
    module = nn.LeakyReLU(0.25)
    np.testing.assert_array_equal(module(np.array([-4.0, 2.0])), [-1.0, 2.0])
    np.testing.assert_array_equal(module.backward(np.array([1.0, 1.0])), [0.25, 1.0])
    assert "0.25" in repr(module)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=IDS)
def test_activation_backward_without_forward(make):
    with pytest.raises(RuntimeError, match="backward.*forward"):
        make().backward(np.ones((1, 1)))
