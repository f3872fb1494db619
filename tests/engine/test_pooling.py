"""The engine's max pooling over tiling windows (handgrad.engine.pooling) gives the textbook
layer's numbers, with the maxima found in the forward pass or in the backward pass, and
hands every other window to the textbook layer."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from handgrad.engine import Engine
from handgrad.engine import pooling as fast_pooling
from strategies import pool_configs, tiling_pool_configs


def passes(run, x, g):
    y = run(x)
    return y, run.backward(g)


@settings(max_examples=150, deadline=None)
@given(st.one_of(tiling_pool_configs(), pool_configs()), st.booleans(), st.booleans(), st.booleans())
def test_fast_max_pooling_equals_the_textbook_layer(cfg, eager, training, ties):
    """float64, random configurations (most of them tiling), with and without ties."""
    rng = np.random.default_rng(cfg["seed"])
    pool = nn.MaxPool2d(cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"]).train(training)
    shape = (cfg["n"], cfg["c"], cfg["h"], cfg["w"])
    x = rng.integers(-2, 3, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
    out_shape = pool(x).shape
    g = rng.standard_normal(out_shape)
    expected = passes(pool, x, g)
    with mock.patch.object(fast_pooling, "EAGER_MAXIMA_BYTES", 0 if eager else 1 << 60):
        actual = passes(Engine(pool), x, g)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_array_equal(a, e)  # a max and a routed gradient: no rounding at all


@pytest.mark.parametrize("stride, padding, tiled", [(None, 0, True), (1, 0, False), (None, 1, False)])
def test_only_tiling_windows_take_the_tiled_path(stride, padding, tiled, rng):
    pool = nn.MaxPool2d(2, stride=stride, padding=padding)
    step = fast_pooling.TiledMaxPool2d(pool)
    step(rng.standard_normal((1, 1, 4, 4)))
    assert (step._cache[0] is not None) == tiled
    assert (pool._cache is None) == tiled  # the textbook layer ran (and kept its cache) otherwise


def test_a_backward_without_forward_is_refused():
    with pytest.raises(RuntimeError, match="MaxPool2d.*backward.*forward"):
        fast_pooling.TiledMaxPool2d(nn.MaxPool2d(2)).backward(np.zeros((1, 1, 1, 1)))
