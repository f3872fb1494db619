"""Dropout: argument check, eval identity, inverted scaling, seeding, backward with the same mask."""

import numpy as np
import pytest
import torch

import handgrad
from handgrad import nn
from torch_helpers import assert_gradcheck, compare_with_torch


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_p_outside_unit_interval_raises(p):
    with pytest.raises(ValueError, match="Dropout.*p"):
        nn.Dropout(p)


@pytest.mark.parametrize("p", [0.0, 0.5, 0.99])
def test_eval_mode_is_identity(p, rng):
    module = nn.Dropout(p).eval()
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    y = module(x)
    np.testing.assert_array_equal(y, x)
    assert y.dtype == np.float32
    g = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(module.backward(g), g)
    compare_with_torch(module, x, rng=rng)  # torch's Dropout in eval mode: identity too


def test_p_zero_is_identity_in_training(rng):
    module = nn.Dropout(0.0)
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(module(x), x)
    np.testing.assert_array_equal(module.backward(x), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_p_zero_in_training_returns_the_input_and_draws_nothing(dtype, rng):
    """As torch's dropout with p = 0: the input itself comes back and no random number is drawn, so a
    Dropout(0) in a model leaves the random stream of every later layer as it was."""
    x = rng.standard_normal((3, 4)).astype(dtype)
    generator = np.random.default_rng(7)
    module = nn.Dropout(0.0, rng=generator)
    assert module(x) is x
    assert generator.random() == np.random.default_rng(7).random()
    handgrad.manual_seed(3)
    assert nn.Dropout(0.0)(x) is x
    assert handgrad.default_generator().random() == np.random.default_rng(3).random()
    xt = torch.tensor(x)
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    assert torch.nn.functional.dropout(xt, 0.0, training=True) is xt
    assert torch.rand(1) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_train_mode_inverted_scaling(p, dtype):
    handgrad.manual_seed(0)
    module = nn.Dropout(p)
    x = np.ones((200, 500), dtype)
    y = module(x)
    assert y.dtype == dtype
    kept = y != 0
    # every element is dropped (0) or scaled by 1/(1-p)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    n = x.size
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    # E[y] = x: the mean of y over 100k draws is 1 within a few standard errors
    assert abs(y.mean() - 1) < 5 * np.sqrt(p / (1 - p) / n)


def test_same_seed_same_mask_and_different_seed_different_mask(rng):
    x = rng.standard_normal((8, 16)).astype(np.float32)
    handgrad.manual_seed(42)
    a = nn.Dropout(0.5)(x)
    handgrad.manual_seed(42)
    b = nn.Dropout(0.5)(x)
    handgrad.manual_seed(43)
    c = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # successive calls draw new masks
    handgrad.manual_seed(42)
    module = nn.Dropout(0.5)
    first, second = module(x), module(x)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_mask_is_the_documented_draw_even_where_a_draw_equals_p(dtype):
    # u ≥ p with u drawn in the input's precision, as the docstring states; p is set to one of
    # the draws, so keeping u == p (and not dropping it) is checked too
    shape = (64, 33)
    draws = np.random.default_rng(7).random(shape, dtype=dtype)
    p = float(draws[3, 5])
    layer = nn.Dropout(p, rng=np.random.default_rng(7))
    out = layer(np.ones(shape, dtype=dtype))
    kept = out != 0
    np.testing.assert_array_equal(kept, draws >= p)
    assert kept[3, 5]


def test_explicit_rng_is_used_and_leaves_global_generator_alone(rng):
    x = np.ones((10, 10))
    handgrad.manual_seed(0)
    state = handgrad.default_generator().bit_generator.state
    a = nn.Dropout(0.5, rng=np.random.default_rng(9))(x)
    b = nn.Dropout(0.5, rng=np.random.default_rng(9))(x)
    np.testing.assert_array_equal(a, b)
    assert handgrad.default_generator().bit_generator.state == state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_uses_the_forward_mask(dtype, rng):
    module = nn.Dropout(0.3)
    x = (rng.random((6, 7)) + 0.5).astype(dtype)   # no zeros in x
    y = module(x)
    g = rng.standard_normal(x.shape).astype(dtype)
    dx = module.backward(g)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, g * (y / x), rtol=1e-6)
    np.testing.assert_array_equal(dx == 0, y == 0)


def test_train_mode_against_torch_with_the_same_mask(rng):
    """Given handgrad's mask, torch computing x·mask/(1−p) gives the same output and gradient."""
    p = 0.4
    module = nn.Dropout(p)
    x = rng.standard_normal((5, 6))
    y = module(x)
    mask = (y != 0).astype(np.float64)
    g = rng.standard_normal(x.shape)
    dx = module.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = xt * torch.tensor(mask) / (1 - p)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)


def test_dropout_gradcheck_replays_the_mask(rng):
    handgrad.manual_seed(5)
    assert_gradcheck(nn.Dropout(0.5), rng.standard_normal((4, 5)))


def test_dropout_gradcheck_with_explicit_rng(rng):
    assert_gradcheck(nn.Dropout(0.5, rng=np.random.default_rng(1)), rng.standard_normal((4, 5)))


def test_backward_without_forward():
    with pytest.raises(RuntimeError, match="Dropout.*backward.*forward"):
        nn.Dropout().backward(np.ones(3))
