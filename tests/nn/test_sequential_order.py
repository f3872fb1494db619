"""Sequential runs ReLU→MaxPool2d as MaxPool2d→ReLU; every number must equal the plain order."""

import numpy as np
import pytest

from handgrad import nn




@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d((2, 3))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reordered_relu_pool_is_exact(pool, dtype):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), pool, nn.Flatten()).to(dtype)
    # integers make ties (and all-negative windows) frequent
    x = rng.integers(-3, 4, size=(4, 2, 9, 8)).astype(dtype)
    out = model(x)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    dx = model.backward(grad_out)
    fast_grads = [p.grad.copy() for p in model.parameters()]

    model.zero_grad()
    modules = list(model)
    ref = x
    for module in modules:
        ref = module(ref)
    g = grad_out
    for module in reversed(modules):
        g = module.backward(g)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(dx, g)
    for fast, param in zip(fast_grads, model.parameters()):
        np.testing.assert_array_equal(fast, param.grad)


def test_execution_order_swaps_only_relu_then_maxpool():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Tanh(), nn.MaxPool2d(2), nn.ReLU(), nn.AvgPool2d(2))
    order = [type(m).__name__ for m in model.execution_order()]
    assert order == ["MaxPool2d", "ReLU", "Tanh", "MaxPool2d", "ReLU", "AvgPool2d"]
