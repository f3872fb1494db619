"""Conv2d against PyTorch (float32 and float64) and the numeric gradient check."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import handgrad
from handgrad import nn
from torch_helpers import assert_gradcheck, compare_with_torch, torch_copy

DTYPES = [np.float32, np.float64]


@st.composite
def conv_configs(draw, max_size=7):
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), max(1, kh - 2 * ph) + max_size))
    w = draw(st.integers(max(1, kw - 2 * pw), max(1, kw - 2 * pw) + max_size))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), o=draw(st.integers(1, 4)), h=h, w=w,
                kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), bias=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


def build(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    conv = nn.Conv2d(cfg["c"], cfg["o"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     bias=cfg["bias"], dtype=dtype, rng=rng)
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(dtype)
    return conv, x, rng


@settings(max_examples=300, deadline=None)
@given(conv_configs(), st.sampled_from(DTYPES))
def test_conv2d_matches_torch(cfg, dtype):
    conv, x, rng = build(cfg, dtype)
    y, dx = compare_with_torch(conv, x, rng=rng)
    assert y.shape == (cfg["n"], cfg["o"], *conv.output_shape(cfg["h"], cfg["w"]))
    assert dx.shape == x.shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [
    dict(c=1, o=6, kernel=5, stride=1, padding=2, h=28, w=28, n=4),     # LeNet's first layer
    dict(c=3, o=2, kernel=(1, 7), stride=(3, 1), padding=(0, 3), h=9, w=11, n=1),
    dict(c=2, o=3, kernel=(7, 2), stride=(2, 3), padding=(3, 1), h=5, w=13, n=2),
    dict(c=4, o=5, kernel=3, stride=3, padding=1, h=10, w=7, n=1),
])
def test_conv2d_matches_torch_fixed_configs(cfg, dtype):
    cfg = dict(cfg, bias=True, seed=7)
    conv, x, rng = build(cfg, dtype)
    compare_with_torch(conv, x, rng=rng)


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


def test_conv2d_stacked_matches_torch(rng):
    """Two convolutions in a row: the second consumes the first's CHWN-laid output."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), nn.ReLU(),
                          nn.Conv2d(4, 3, (2, 3), stride=(1, 2), dtype=np.float64))
    compare_with_torch(model, rng.standard_normal((3, 2, 7, 8)), rng=rng)


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


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((3, 1), (2, 0))])
@pytest.mark.parametrize("banded_training", [False, True])
def test_banded_passes_equal_the_plain_training_pass(monkeypatch, stride, padding, banded_training):
    """Large cols (and eval mode) are built band by band, twice; nothing may change."""
    import handgrad.nn.conv as conv_module

    rng = np.random.default_rng(3)
    conv = nn.Conv2d(3, 5, (3, 2), stride=stride, padding=padding).double()
    x = rng.standard_normal((4, 3, 11, 9))
    plain = conv(x)
    g = rng.standard_normal(plain.shape)
    dx_plain = conv.backward(g)
    grads_plain = [p.grad.copy() for p in conv.parameters()]

    monkeypatch.setattr(conv_module, "BAND_BYTES", 1)  # one output row per band
    if banded_training:
        monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0)
    else:
        conv.eval()
    conv.zero_grad()
    banded = conv(x)
    np.testing.assert_allclose(banded, plain, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.backward(g), dx_plain, rtol=1e-12, atol=1e-12)
    for before, param in zip(grads_plain, conv.parameters()):
        np.testing.assert_allclose(param.grad, before, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("columns", [1, 5, 8, 13])
@pytest.mark.parametrize("rows", [(7, 3), (64, 16)])  # blocked (K·O < THIN_PRODUCT) and whole
def test_blocked_weight_gradient_equals_one_product(monkeypatch, columns, rows, rng):
    import handgrad.nn.conv as conv_module

    monkeypatch.setattr(conv_module, "SMALL_PRODUCT", 4 * rows[0] * rows[1])  # blocks of 4 columns
    cols, g = rng.standard_normal((rows[0], columns)), rng.standard_normal((rows[1], columns))
    np.testing.assert_allclose(conv_module.weight_gradient(cols, g), cols @ g.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("columns", [1, 5, 8, 13])
@pytest.mark.parametrize("shape", [(3, 7), (16, 64)])  # (O, K): blocked (K·O < THIN_PRODUCT) and whole
def test_blocked_columns_gradient_equals_one_product(monkeypatch, columns, shape, rng):
    import handgrad.nn.conv as conv_module

    monkeypatch.setattr(conv_module, "SMALL_PRODUCT", 4 * shape[0] * shape[1])  # blocks of 4 columns
    weight, g = rng.standard_normal(shape), rng.standard_normal((shape[0], columns))
    np.testing.assert_allclose(conv_module.columns_gradient(weight, g), weight.T @ g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((3, 1), (2, 0))])
# a product per output pixel: 8 rows (5 padded) x K = 18 + 1 (the bias row) x 4 samples;
# tiles of 1 pixel, 5 pixels (part of a row), 16 (2-3 rows)
@pytest.mark.parametrize("pixels", [1, 5, 16])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_thin_forward_in_tiles_equals_one_product(monkeypatch, stride, padding, pixels, training, bias):
    """A thin forward product is made tile by tile as cols are copied (tiles of one pixel,
    of part of a row, of whole rows), the bias inside it; the cols it keeps and every number
    after it are those of the whole product, in training and in eval mode."""
    import handgrad.nn.conv as conv_module

    rng = np.random.default_rng(4)
    conv = nn.Conv2d(3, 5, (3, 2), stride=stride, padding=padding, bias=bias).double().train(training)
    x = rng.standard_normal((4, 3, 11, 9))
    results = []
    for thin_product, tile_product in [(0, conv_module.SMALL_PRODUCT), (1 << 30, 8 * (18 + bias) * 4 * pixels)]:  # whole; tiles
        monkeypatch.setattr(conv_module, "THIN_PRODUCT", thin_product)
        monkeypatch.setattr(conv_module, "SMALL_PRODUCT", tile_product)
        conv.zero_grad()
        y = conv(x)
        dx = conv.backward(np.cos(y))
        results.append((y, dx) + tuple(p.grad.copy() for p in conv.parameters()))
    for whole, tiled in zip(*results):
        np.testing.assert_allclose(tiled, whole, rtol=1e-12, atol=1e-12)
