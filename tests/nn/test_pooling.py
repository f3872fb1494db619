"""MaxPool2d and AvgPool2d against PyTorch (on the textbook path and through the engine), the
numeric gradient check, and max-pool ties."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from handgrad.engine import pooling as fast_pooling
from strategies import pool_configs
from torch_helpers import PATHS, assert_gradcheck, compare_with_torch, run_torch, runner, torch_copy

DTYPES = [np.float32, np.float64]


def make(kind, cfg):
    if kind == "max":
        return nn.MaxPool2d(cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"])
    return nn.AvgPool2d(cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                        count_include_pad=cfg["count_include_pad"])


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=300, deadline=None)
@given(pool_configs(), st.sampled_from(DTYPES), st.sampled_from(["max", "avg"]))
def test_pooling_matches_torch(path, cfg, dtype, kind):
    rng = np.random.default_rng(cfg["seed"])
    pool = make(kind, cfg)
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(dtype)  # continuous: no ties
    y, dx = compare_with_torch(pool, x, rng=rng, path=path)
    assert y.dtype == dtype and dx.dtype == dtype


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("cfg", [
    dict(n=2, c=2, h=6, w=5, kernel=2, stride=None, padding=0, count_include_pad=True),
    dict(n=1, c=1, h=7, w=8, kernel=(3, 2), stride=(1, 2), padding=(1, 1), count_include_pad=True),
    dict(n=2, c=1, h=5, w=7, kernel=(5, 3), stride=(2, 1), padding=(2, 0), count_include_pad=False),
    dict(n=1, c=2, h=4, w=4, kernel=3, stride=1, padding=1, count_include_pad=False),
])
def test_pooling_gradcheck(kind, cfg):
    x = np.random.default_rng(1).standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"]))
    assert set(assert_gradcheck(make(kind, cfg), x)) == {"input"}


def test_stride_defaults_to_kernel_size():
    assert nn.MaxPool2d(3).stride == (3, 3)
    assert nn.AvgPool2d((2, 3)).stride == (2, 3)
    assert nn.MaxPool2d(3, stride=1).stride == (1, 1)
    assert nn.MaxPool2d(2)(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 1, 14, 14)


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
def test_pooling_rejects_bad_arguments(cls):
    with pytest.raises(ValueError, match="padding"):
        cls(2, padding=2)
    with pytest.raises(ValueError, match="padding"):
        cls((5, 2), padding=(1, 2))
    with pytest.raises(ValueError, match="kernel_size"):
        cls(0)
    with pytest.raises(ValueError, match="4-D"):
        cls(2)(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="smaller than the window"):
        cls(3)(np.zeros((1, 1, 2, 5), np.float32))


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
def test_pooling_backward_without_forward(cls):
    with pytest.raises(RuntimeError, match="backward.*forward"):
        cls(2).backward(np.zeros((1, 1, 1, 1), np.float32))


# -- ties: the gradient goes to the first maximum in row-major order ----------------------------


def first_max_gradient(x, kernel, stride):
    """Reference: for every window, route its upstream gradient (1) to its first max (row-major)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    grad = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for p in range(ho):
                for q in range(wo):
                    win = x[b, ch, p * sh : p * sh + kh, q * sw : q * sw + kw]
                    i, j = np.unravel_index(np.argmax(win), win.shape)  # argmax returns the first maximum
                    grad[b, ch, p * sh + i, q * sw + j] += 1
    return grad


@pytest.mark.parametrize("path, eager", [("reference", False), ("engine", True), ("engine", False)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride, padding", [
    ((2, 2), None, 0), ((3, 2), None, 0), ((3, 3), (3, 3), 0), ((1, 2), None, 0), ((1, 1), None, 0),
    ((3, 3), (1, 1), 0), ((3, 2), (2, 1), 0), ((3, 3), (2, 2), 1), ((5, 4), (1, 3), (2, 1)),
])
def test_maxpool_ties_go_to_first_maximum(monkeypatch, dtype, kernel, stride, padding, path, eager):
    """On the engine, tiles have their maxima found in the forward pass (eager) or the backward."""
    monkeypatch.setattr(fast_pooling, "EAGER_MAXIMA_BYTES", 0 if eager else 1 << 60)
    rng = np.random.default_rng(0)
    inputs = [np.full((2, 2, 7, 8), 1.5, dtype=dtype),                    # every element ties
              np.full((1, 1, 7, 8), -3.0, dtype=dtype),                   # negative: padding must not win
              rng.integers(0, 3, size=(2, 3, 7, 8)).astype(dtype)]        # integer values, many ties
    for x in inputs:
        pool = nn.MaxPool2d(kernel, stride=stride, padding=padding)
        run = runner(pool, path)
        y = run(x)
        dx = run.backward(np.ones(y.shape, dtype))
        # torch (CPU) also routes ties to the first maximum: the two agree exactly
        yt, dxt = run_torch(torch_copy(pool, dtype), x, np.ones(y.shape, dtype))
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(dx, dxt.numpy())
        if padding == 0:
            np.testing.assert_array_equal(dx, first_max_gradient(x, pool.kernel_size, pool.stride))


def test_maxpool_all_equal_by_hand():
    pool = nn.MaxPool2d(2)
    x = np.ones((1, 1, 4, 4), np.float32)
    pool(x)
    dx = pool.backward(np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2))
    expected = np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_torch_cpu_routes_ties_to_first_maximum():
    """The premise of the tie tests: torch's CPU max-pool gradient goes to the first maximum."""
    x = torch.ones(1, 1, 3, 3, requires_grad=True)
    torch.nn.functional.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0].numpy(), [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_maxpool_overlapping_windows_accumulate():
    pool = nn.MaxPool2d(3, stride=1)
    x = np.zeros((1, 1, 5, 5), np.float64)
    x[0, 0, 2, 2] = 1.0  # the maximum of all 9 windows
    pool(x)
    dx = pool.backward(np.ones((1, 1, 3, 3)))
    assert dx[0, 0, 2, 2] == 9 and dx.sum() == 9


def test_maxpool_large_kernel_argmax_storage(rng):
    """More than 255 taps: the argmax index no longer fits in uint8."""
    pool = nn.MaxPool2d(17, stride=1)
    x = rng.standard_normal((1, 1, 18, 18))
    compare_with_torch(pool, x, rng=rng)


def test_avgpool_count_include_pad_by_hand():
    x = np.ones((1, 1, 2, 2), np.float64)
    with_pad = nn.AvgPool2d(3, stride=1, padding=1)(x)
    without = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    np.testing.assert_allclose(with_pad[0, 0], np.full((2, 2), 4 / 9))
    np.testing.assert_allclose(without[0, 0], np.ones((2, 2)))


def test_avgpool_float32_keeps_float32(rng):
    for pool in (nn.AvgPool2d(3, stride=2, padding=1), nn.MaxPool2d(3, stride=2, padding=1)):
        x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
        y = pool(x)
        assert y.dtype == np.float32
        assert pool.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
@pytest.mark.parametrize("args, kwargs, error, message", [
    ((0,), {}, ValueError, r"^kernel_size must be at least 1, got 0$"),
    ((2,), dict(stride=0), ValueError, r"^stride must be at least 1, got 0$"),
    ((2,), dict(stride=(1, 2, 3)), TypeError, r"^stride must be an int or a pair of ints, got \(1, 2, 3\)$"),
    ((2,), dict(padding=-1), ValueError, r"^padding must be at least 0, got -1$"),
    ((2,), dict(padding=1.5), TypeError, r"^padding must be an int or a pair of ints, got 1\.5$"),
    ((2,), dict(padding=2), ValueError, r"^{cls}: padding \(2, 2\) must be at most half of kernel_size \(2, 2\)$"),
])
def test_pooling_argument_messages(cls, args, kwargs, error, message):
    with pytest.raises(error, match=message.format(cls=cls.__name__)):
        cls(*args, **kwargs)


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
def test_pooling_input_messages(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected a 4-D input \(N, C, H, W\), got shape \(4, 4\)$"):
        cls(2)(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=rf"^{name}: input \(2, 5\) is smaller than the window \(3, 3\)$"):
        cls(3)(np.zeros((1, 1, 2, 5), np.float32))


@pytest.mark.parametrize("kernel, stride, padding, count_include_pad", [
    ((3, 1), (2, 1), (0, 0), True),
    ((1, 3), (1, 2), (0, 1), True),
    ((3, 1), (2, 1), (1, 0), False),
])
def test_avgpool_float32_backward_equals_torch_bit_for_bit(kernel, stride, padding, count_include_pad, rng):
    """Each element lies in at most two windows, so the order of the sum cannot matter: the float32
    gradient, g / d in float32 then added up in float32, is exactly torch's."""
    pool = nn.AvgPool2d(kernel, stride=stride, padding=padding, count_include_pad=count_include_pad)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    y = pool(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = pool.backward(g)
    yt, dxt = run_torch(torch_copy(pool, np.float32), x, g)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(dx, dxt.numpy())
