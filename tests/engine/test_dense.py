"""The engine's Flatten and Linear (handgrad.engine.dense) give the textbook layers' numbers,
on contiguous and on batch-innermost memory, and keep batch-innermost memory without copies."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from handgrad.engine import Engine


def chwn_laid(rng, shape):
    """A random (N, C, H, W) array whose memory is laid CHWN (what convolutions hand on)."""
    n, *rest = shape
    return rng.standard_normal((*rest, n)).transpose(3, 0, 1, 2)


@settings(max_examples=100, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
       dims=st.sampled_from([(1, -1), (0, -1), (2, -1), (1, 2), (-3, -2), (0, 0)]), chwn=st.booleans(),
       fan_out=st.integers(1, 6), bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_flatten_then_linear_equal_the_textbook_layers(shape, dims, chwn, fan_out, bias, seed):
    """float64, random shapes: Flatten alone, and Flatten + Linear where it flattens to (N, d)."""
    rng = np.random.default_rng(seed)
    x = chwn_laid(rng, shape) if chwn else rng.standard_normal(shape)
    flatten = nn.Flatten(*dims)
    layers = [flatten]
    if flatten(x).ndim == 2 and flatten(x).shape[0] == shape[0]:
        layers.append(nn.Linear(flatten(x).shape[1], fan_out, bias=bias, dtype=np.float64, rng=rng))
    flatten._cache = None
    model = nn.Sequential(*layers)
    g = rng.standard_normal(model(x).shape)
    expected = (model(x), model.backward(g), *(p.grad.copy() for p in model.parameters()))
    model.zero_grad()
    fast = Engine(model)
    actual = (fast(x), fast.backward(g), *(p.grad.copy() for p in model.parameters()))
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_flatten_of_a_chwn_view_is_a_view(rng):
    """Flatten follows NCHW logical order even when the memory is laid CHWN, and then returns a
    view of that memory, not a copy."""
    x = chwn_laid(rng, (2, 3, 4, 5))
    fast = Engine(nn.Flatten())
    y = fast(x)
    np.testing.assert_array_equal(y, np.ascontiguousarray(x).reshape(2, -1))
    assert np.shares_memory(y, x)


def test_flatten_then_linear_keep_batch_innermost_memory_both_ways(rng):
    """Linear's input gradient comes back batch-innermost and Flatten's backward turns it into a
    CHWN view: numbers as for copies."""
    x = chwn_laid(rng, (2, 3, 4, 5))
    linear = nn.Linear(60, 7).double()
    fast = Engine(nn.Sequential(nn.Flatten(), linear))
    g = rng.standard_normal((2, 7))
    fast(x)
    dx = fast.backward(g)
    np.testing.assert_allclose(dx, (g @ linear.weight.data).reshape(x.shape), rtol=1e-12)
    assert dx.transpose(1, 2, 3, 0).flags.c_contiguous
    np.testing.assert_allclose(linear.weight.grad, g.T @ np.ascontiguousarray(x).reshape(2, -1), rtol=1e-12)
