"""Conv2d against PyTorch (float32 and float64), on the textbook path and through the engine, and
the numeric gradient check. The engine's three forward paths each: tests/engine/test_conv.py."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import handgrad
from handgrad import nn
from strategies import conv_configs
from torch_helpers import PATHS, assert_gradcheck, compare_with_torch, torch_copy

DTYPES = [np.float32, np.float64]


def build(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    conv = nn.Conv2d(cfg["c"], cfg["o"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     bias=cfg["bias"], dtype=dtype, rng=rng)
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(dtype)
    return conv, x, rng


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=300, deadline=None)
@given(conv_configs(), st.sampled_from(DTYPES))
def test_conv2d_matches_torch(path, cfg, dtype):
    conv, x, rng = build(cfg, dtype)
    y, dx = compare_with_torch(conv, x, rng=rng, path=path)
    assert y.shape == (cfg["n"], cfg["o"], *conv.output_shape(cfg["h"], cfg["w"]))
    assert dx.shape == x.shape


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [
    dict(c=1, o=6, kernel=5, stride=1, padding=2, h=28, w=28, n=4),     # LeNet's first layer
    dict(c=3, o=2, kernel=(1, 7), stride=(3, 1), padding=(0, 3), h=9, w=11, n=1),
    dict(c=2, o=3, kernel=(7, 2), stride=(2, 3), padding=(3, 1), h=5, w=13, n=2),
    dict(c=4, o=5, kernel=3, stride=3, padding=1, h=10, w=7, n=1),
])
def test_conv2d_matches_torch_fixed_configs(cfg, dtype, path):
    cfg = dict(cfg, bias=True, seed=7)
    conv, x, rng = build(cfg, dtype)
    compare_with_torch(conv, x, rng=rng, path=path)


@pytest.mark.parametrize("cfg", [
    dict(n=2, c=2, o=3, h=5, w=6, kernel=3, stride=1, padding=1, bias=True),
    dict(n=1, c=1, o=2, h=7, w=5, kernel=(2, 4), stride=(2, 1), padding=(1, 2), bias=True),
    dict(n=2, c=3, o=2, h=6, w=6, kernel=(5, 1), stride=(1, 3), padding=(0, 0), bias=False),
    dict(n=1, c=2, o=1, h=4, w=4, kernel=1, stride=2, padding=3, bias=True),
])
def test_conv2d_gradcheck(cfg):
    cfg = dict(cfg, seed=3)
    conv, x, _ = build(cfg, np.float64)
    errors = assert_gradcheck(conv, x)
    assert set(errors) == {"input", "weight"} | ({"bias"} if cfg["bias"] else set())


def test_conv2d_float32_stays_float32(rng):
    conv = nn.Conv2d(3, 4, 3, padding=1)
    assert conv.weight.dtype == np.float32 and conv.bias.dtype == np.float32
    y = conv(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    assert y.dtype == np.float32
    dx = conv.backward(np.ones(y.shape, np.float32))
    assert dx.dtype == np.float32 and conv.weight.grad.dtype == np.float32 and conv.bias.grad.dtype == np.float32


def test_conv2d_shapes_and_state_keys():
    conv = nn.Conv2d(3, 8, (5, 3), stride=2, padding=(1, 0))
    assert conv.weight.shape == (8, 3, 5, 3) and conv.bias.shape == (8,)
    assert conv.kernel_size == (5, 3) and conv.stride == (2, 2) and conv.padding == (1, 0)
    assert list(conv.state_dict()) == list(torch.nn.Conv2d(3, 8, (5, 3)).state_dict())
    no_bias = nn.Conv2d(3, 8, 3, bias=False)
    assert no_bias.bias is None
    assert list(no_bias.state_dict()) == ["weight"]
    assert list(no_bias.state_dict()) == list(torch.nn.Conv2d(3, 8, 3, bias=False).state_dict())


def test_conv2d_accepts_non_contiguous_input_and_gradient(rng):
    """A CHWN-laid input (what the previous layer hands on) gives the same numbers as a contiguous one."""
    conv = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    base = rng.standard_normal((2, 5, 6, 4))  # (C, H, W, N)
    x = base.transpose(3, 0, 1, 2)             # NCHW view, not C-contiguous
    g = rng.standard_normal((3, 5, 6, 4)).transpose(3, 0, 1, 2)
    y1 = conv(x); dx1 = conv.backward(g); gw1 = conv.weight.grad.copy()
    conv.zero_grad()
    y2 = conv(np.ascontiguousarray(x)); dx2 = conv.backward(np.ascontiguousarray(g))
    np.testing.assert_allclose(y1, y2, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx1, dx2, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gw1, conv.weight.grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("path", PATHS)
def test_conv2d_stacked_matches_torch(rng, path):
    """Two convolutions in a row: the second consumes the first's CHWN-laid output."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), nn.ReLU(),
                          nn.Conv2d(4, 3, (2, 3), stride=(1, 2), dtype=np.float64))
    compare_with_torch(model, rng.standard_normal((3, 2, 7, 8)), rng=rng, path=path)


def test_conv2d_rejects_bad_input(rng):
    conv = nn.Conv2d(3, 4, 5)
    with pytest.raises(ValueError, match="Conv2d.*channels"):
        conv(np.zeros((1, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="Conv2d.*4-D"):
        conv(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="Conv2d.*smaller than the kernel"):
        conv(np.zeros((1, 3, 4, 8), np.float32))
    with pytest.raises(TypeError, match="Conv2d.*dtype"):
        conv(np.zeros((1, 3, 8, 8), np.float64))


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(kernel_size=0), ValueError, "kernel_size"),
    (dict(kernel_size=3, stride=0), ValueError, "stride"),
    (dict(kernel_size=3, padding=-1), ValueError, "padding"),
    (dict(kernel_size=(3, 3, 3)), TypeError, "kernel_size"),
    (dict(kernel_size=2.5), TypeError, "kernel_size"),
])
def test_conv2d_rejects_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        nn.Conv2d(1, 1, **kwargs)


def test_conv2d_rng_and_seed_reproducible():
    a = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(5))
    b = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    handgrad.manual_seed(11)
    c = nn.Conv2d(2, 3, 3)
    handgrad.manual_seed(11)
    d = nn.Conv2d(2, 3, 3)
    np.testing.assert_array_equal(c.weight.data, d.weight.data)
    np.testing.assert_array_equal(c.bias.data, d.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_conv2d_backward_without_forward():
    with pytest.raises(RuntimeError, match="Conv2d.*backward.*forward"):
        nn.Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1), np.float32))


def test_conv2d_forward_alone_matches_torch(rng):
    conv = nn.Conv2d(1, 2, 3, dtype=np.float64, rng=rng)
    twin = torch_copy(conv, np.float64)
    x = rng.standard_normal((1, 1, 4, 4))
    np.testing.assert_allclose(conv(x), twin(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(kernel_size=0), ValueError, r"^kernel_size must be at least 1, got 0$"),
    (dict(kernel_size=(3, 3, 3)), TypeError, r"^kernel_size must be an int or a pair of ints, got \(3, 3, 3\)$"),
    (dict(kernel_size=3, stride=(1, 0)), ValueError, r"^stride must be at least 1, got \(1, 0\)$"),
    (dict(kernel_size=3, stride=None), TypeError, r"^stride must be an int or a pair of ints, got None$"),
    (dict(kernel_size=3, padding=-1), ValueError, r"^padding must be at least 0, got -1$"),
    (dict(kernel_size=3, padding="same"), TypeError, r"^padding must be an int or a pair of ints, got 'same'$"),
])
def test_conv2d_argument_messages(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.Conv2d(1, 1, **kwargs)


def test_conv2d_too_small_input_message_gives_height_by_width():
    with pytest.raises(ValueError,
                       match=r"^Conv2d: input 4x8 is smaller than the kernel \(5, 5\) with padding \(0, 0\)$"):
        nn.Conv2d(3, 4, 5)(np.zeros((1, 3, 4, 8), np.float32))
    with pytest.raises(ValueError,
                       match=r"^Conv2d: input 8x2 is smaller than the kernel \(3, 5\) with padding \(0, 1\)$"):
        nn.Conv2d(3, 4, (3, 5), padding=(0, 1))(np.zeros((1, 3, 8, 2), np.float32))
