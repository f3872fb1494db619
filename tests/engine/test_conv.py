"""The engine's Conv2d (handgrad.engine.conv): each of its three forward paths (thin tiles with
the bias in the product, kept cols, bands) and their backward passes give the textbook
layer's numbers and PyTorch's, and the blocked products equal one product."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from handgrad.engine import Engine
from handgrad.engine import conv as fast_conv
from strategies import conv_configs
from torch_helpers import compare_with_torch

# Thresholds that force each path on any input (BAND_BYTES = 1: one output row per band).
FORCED = {
    "thin": dict(THIN_PRODUCT=1 << 60),
    "kept cols": dict(THIN_PRODUCT=0, KEEP_COLS_BYTES=1 << 60),
    "bands": dict(THIN_PRODUCT=0, KEEP_COLS_BYTES=0, BAND_BYTES=1),
}


def passes(run, x, g, input_grad=True):
    """(y, ∂L/∂x or None, *parameter gradients) of one forward and backward through `run`."""
    for param in run.parameters():
        param.grad = None
    y = run(x)
    dx = run.backward(g) if input_grad else run.backward_parameters(g)
    return (y, dx, *(p.grad.copy() for p in run.parameters()))


def assert_same(actual, expected, rtol=1e-12):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if e is None:
            assert a is None
        else:
            assert a.shape == e.shape and a.dtype == e.dtype
            np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * max(1.0, float(np.abs(e).max(initial=0))))


@settings(max_examples=150, deadline=None)
@given(conv_configs(), st.sampled_from(sorted(FORCED)), st.booleans(), st.booleans(),
       st.sampled_from([1, 7, 40, 1 << 20]))
def test_every_path_equals_the_textbook_layer(cfg, path, training, input_grad, tile):
    """float64, random configurations: fast == reference, tile sizes from one product per
    output pixel to whole rows (SMALL_PRODUCT scaled by `tile`)."""
    rng = np.random.default_rng(cfg["seed"])
    conv = nn.Conv2d(cfg["c"], cfg["o"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     bias=cfg["bias"], dtype=np.float64, rng=rng).train(training)
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"]))
    g = rng.standard_normal((cfg["n"], cfg["o"], *conv.output_shape(cfg["h"], cfg["w"])))
    expected = passes(conv, x, g, input_grad)
    k = 8 * (cfg["c"] * cfg["kernel"][0] * cfg["kernel"][1] + 1) * cfg["n"]  # a product per output pixel
    with mock.patch.multiple(fast_conv, **FORCED[path], SMALL_PRODUCT=k * tile):
        actual = passes(Engine(conv), x, g, input_grad)
    assert_same(actual, expected)


@pytest.mark.parametrize("path", sorted(FORCED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", [
    dict(c=1, o=6, kernel=5, stride=1, padding=2, h=28, w=28, n=4),     # LeNet-5's C1
    dict(c=6, o=16, kernel=5, stride=1, padding=0, h=14, w=14, n=3),    # its C3
    dict(c=3, o=2, kernel=(1, 7), stride=(3, 1), padding=(0, 3), h=9, w=11, n=2),
    dict(c=4, o=5, kernel=3, stride=3, padding=1, h=10, w=7, n=1),
])
def test_every_path_equals_torch(monkeypatch, path, dtype, cfg):
    for name, value in FORCED[path].items():
        monkeypatch.setattr(fast_conv, name, value)
    rng = np.random.default_rng(5)
    conv = nn.Conv2d(cfg["c"], cfg["o"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     dtype=dtype, rng=rng)
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(dtype)
    compare_with_torch(conv, x, rng=rng, path="engine")


def test_the_paths_are_the_ones_the_thresholds_choose(monkeypatch, rng):
    """The forced thresholds above really select three different paths: what the forward pass
    keeps for the backward pass tells them apart."""
    conv = nn.Conv2d(2, 3, 3, dtype=np.float64)
    x = rng.standard_normal((2, 2, 6, 6))
    kept = {}
    for path, values in FORCED.items():
        with mock.patch.multiple(fast_conv, **values):
            step = fast_conv.FastConv2d(conv)
            step(x)
            _, cols, _ = step._cache
            kept[path] = None if cols is None else cols.shape[0]
    assert kept == {"thin": 2 * 9 + 1, "kept cols": 2 * 9, "bands": None}  # thin: the bias row of ones


@pytest.mark.parametrize("columns", [1, 5, 8, 13])
@pytest.mark.parametrize("rows", [(7, 3), (64, 16)])  # blocked (K·O < THIN_PRODUCT) and whole
def test_blocked_weight_gradient_equals_one_product(monkeypatch, columns, rows, rng):
    monkeypatch.setattr(fast_conv, "SMALL_PRODUCT", 4 * rows[0] * rows[1])  # blocks of 4 columns
    cols, g = rng.standard_normal((rows[0], columns)), rng.standard_normal((rows[1], columns))
    np.testing.assert_allclose(fast_conv.weight_gradient(cols, g), cols @ g.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("columns", [1, 5, 8, 13])
@pytest.mark.parametrize("shape", [(3, 7), (16, 64)])  # (O, K): blocked (K·O < THIN_PRODUCT) and whole
def test_blocked_columns_gradient_equals_one_product(monkeypatch, columns, shape, rng):
    monkeypatch.setattr(fast_conv, "SMALL_PRODUCT", 4 * shape[0] * shape[1])  # blocks of 4 columns
    weight, g = rng.standard_normal(shape), rng.standard_normal((shape[0], columns))
    np.testing.assert_allclose(fast_conv.columns_gradient(weight, g), weight.T @ g, rtol=1e-12, atol=1e-12)


def test_a_backward_without_forward_is_refused():
    with pytest.raises(RuntimeError, match="Conv2d.*backward.*forward"):
        fast_conv.FastConv2d(nn.Conv2d(1, 1, 1)).backward(np.zeros((1, 1, 1, 1), np.float32))
