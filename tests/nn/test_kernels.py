"""kernels.py: the fast CHWN im2col/col2im equal the plain NCHW references, and are adjoint."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad.nn import kernels
from handgrad.nn.kernels import (chwn, col2im, col2im_reference, im2col, im2col_reference, nchw, output_size, pad,
                                 pair)


@st.composite
def geometries(draw):
    """(N, C, H, W), kernel, stride, padding with at least one output pixel; non-square allowed."""
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), max(1, kh - 2 * ph) + 7))
    w = draw(st.integers(max(1, kw - 2 * pw), max(1, kw - 2 * pw) + 7))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), seed


def fast_im2col(x, kernel, stride, padding):
    n, c, h, w = x.shape
    out_hw = output_size(h, kernel[0], stride[0], padding[0]), output_size(w, kernel[1], stride[1], padding[1])
    xp = pad(chwn(x), *padding)
    return im2col(xp, kernel, stride, out_hw), xp.shape, out_hw


def reference_to_fast_layout(cols_ref, n, out_hw):
    """(N·Ho·Wo, C·kh·kw) rows (n, y, x) → (C·kh·kw, Ho·Wo·N) columns (y, x, n)."""
    ho, wo = out_hw
    return cols_ref.reshape(n, ho, wo, -1).transpose(3, 1, 2, 0).reshape(-1, ho * wo * n)


@settings(max_examples=150, deadline=None)
@given(geometries(), st.sampled_from([np.float32, np.float64]))
def test_im2col_equals_reference(geometry, dtype):
    shape, kernel, stride, padding, seed = geometry
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    cols, _, out_hw = fast_im2col(x, kernel, stride, padding)
    ref = im2col_reference(x, kernel, stride, padding)
    assert cols.dtype == dtype and ref.dtype == dtype
    assert cols.shape == (shape[1] * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * shape[0])
    np.testing.assert_array_equal(cols, reference_to_fast_layout(ref, shape[0], out_hw))


@settings(max_examples=150, deadline=None)
@given(geometries(), st.sampled_from([np.float32, np.float64]))
def test_col2im_equals_reference(geometry, dtype):
    shape, kernel, stride, padding, seed = geometry
    n, c, h, w = shape
    rng = np.random.default_rng(seed)
    _, padded_shape, out_hw = fast_im2col(np.zeros(shape, dtype), kernel, stride, padding)
    cols = rng.standard_normal((c * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * n)).astype(dtype)
    xp = col2im(cols, padded_shape, kernel, stride, out_hw)
    assert xp.shape == padded_shape and xp.dtype == dtype
    ph, pw = padding
    fast = nchw(xp[:, ph : ph + h, pw : pw + w, :])
    cols_ref = cols.reshape(-1, out_hw[0], out_hw[1], n).transpose(3, 1, 2, 0).reshape(n * out_hw[0] * out_hw[1], -1)
    ref = col2im_reference(cols_ref, shape, kernel, stride, padding)
    assert ref.shape == shape and ref.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fast, ref, rtol=rtol, atol=rtol)


@settings(max_examples=100, deadline=None)
@given(geometries())
def test_col2im_is_adjoint_of_im2col(geometry):
    """<im2col(x), c> == <x, col2im(c)>, for the fast pair (padded space) and the reference pair."""
    shape, kernel, stride, padding, seed = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    cols, padded_shape, out_hw = fast_im2col(x, kernel, stride, padding)
    c = rng.standard_normal(cols.shape)
    xp = pad(chwn(x), *padding)
    lhs = np.sum(cols * c)
    rhs = np.sum(xp * col2im(c, padded_shape, kernel, stride, out_hw))
    assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)

    cols_ref = im2col_reference(x, kernel, stride, padding)
    c_ref = rng.standard_normal(cols_ref.shape)
    lhs_ref = np.sum(cols_ref * c_ref)
    rhs_ref = np.sum(x * col2im_reference(c_ref, shape, kernel, stride, padding))
    assert np.isclose(lhs_ref, rhs_ref, rtol=1e-12, atol=1e-12)


def test_im2col_small_example_by_hand():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    ref = im2col_reference(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(ref, [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]])
    cols, _, _ = fast_im2col(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(cols, ref.T)


def test_col2im_adds_overlapping_windows():
    """Every pixel receives one contribution per window that covers it."""
    shape, kernel, stride = (1, 1, 4, 5), (3, 2), (1, 1)
    _, padded_shape, out_hw = fast_im2col(np.zeros(shape), kernel, stride, (0, 0))
    counts = nchw(col2im(np.ones((6, out_hw[0] * out_hw[1])), padded_shape, kernel, stride, out_hw))
    expected = np.outer([1, 2, 2, 1], [1, 2, 2, 2, 1])
    np.testing.assert_array_equal(counts[0, 0], expected)


@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((2, 3, 5, 5), (5, 5), (1, 1), (0, 0)),  # one window (LeNet-5's C5)
    ((2, 2, 6, 4), (2, 2), (2, 2), (0, 0)),  # windows that tile the input
    ((1, 2, 7, 8), (2, 3), (3, 3), (1, 1)),  # gaps between windows, padding
    ((1, 1, 3, 9), (3, 2), (1, 2), (0, 0)),  # one row of windows that overlap nowhere
])
def test_col2im_of_windows_that_do_not_overlap_equals_reference(shape, kernel, stride, padding):
    """Windows that share no element are written back in one copy."""
    rng = np.random.default_rng(1)
    cols, padded_shape, out_hw = fast_im2col(np.zeros(shape), kernel, stride, padding)
    c = rng.standard_normal(cols.shape)
    xp = col2im(c, padded_shape, kernel, stride, out_hw)
    n, (ph, pw), (h, w) = shape[0], padding, shape[2:]
    c_ref = c.reshape(-1, out_hw[0], out_hw[1], n).transpose(3, 1, 2, 0).reshape(n * out_hw[0] * out_hw[1], -1)
    np.testing.assert_array_equal(nchw(xp[:, ph : ph + h, pw : pw + w, :]), col2im_reference(c_ref, shape, kernel, stride, padding))


@pytest.mark.parametrize("kernel,stride", [((3, 2), (1, 1)), ((2, 2), (2, 2))])  # overlapping; tiling
def test_col2im_into_out_adds_to_what_is_there(kernel, stride):
    """col2im(..., out=a) adds the scattered cols into `a` (the banded backward pass of a
    convolution sums overlapping bands this way) and returns it."""
    rng = np.random.default_rng(2)
    cols, padded_shape, out_hw = fast_im2col(np.zeros((2, 3, 6, 6)), kernel, stride, (0, 0))
    c, before = rng.standard_normal(cols.shape), rng.standard_normal(padded_shape)
    out = before.copy()
    assert col2im(c, padded_shape, kernel, stride, out_hw, out=out) is out
    np.testing.assert_allclose(out, before + col2im(c, padded_shape, kernel, stride, out_hw), rtol=1e-12, atol=1e-12)


def test_chwn_nchw_are_free_views_and_inverse():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    v = chwn(x)
    assert v.shape == (3, 4, 5, 2) and np.shares_memory(v, x)
    back = nchw(v)
    assert back.shape == x.shape and np.shares_memory(back, x)
    np.testing.assert_array_equal(back, x)


def test_pad_value_and_no_copy_without_padding():
    x = np.ones((1, 2, 3, 1))
    assert pad(x, 0, 0) is x
    p = pad(x, 1, 2, value=-np.inf)
    assert p.shape == (1, 4, 7, 1)
    assert np.isneginf(p[0, 0]).all() and np.isneginf(p[0, :, :2]).all()
    np.testing.assert_array_equal(p[:, 1:3, 2:5, :], x)


@pytest.mark.parametrize("size, kernel, stride, padding, expected",
                         [(28, 5, 1, 2, 28), (28, 2, 2, 0, 14), (7, 3, 2, 1, 4), (5, 5, 1, 0, 1), (6, 4, 3, 0, 1)])
def test_output_size(size, kernel, stride, padding, expected):
    assert output_size(size, kernel, stride, padding) == expected


def test_pair():
    assert pair(3, "k", 1) == (3, 3)
    assert pair((2, 5), "k", 1) == (2, 5)
    assert pair(np.int64(2), "k", 1) == (2, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        pair(0, "kernel_size", 1)
    with pytest.raises(ValueError, match="padding"):
        pair((1, -1), "padding", 0)
    with pytest.raises(TypeError, match="stride"):
        pair((1, 2, 3), "stride", 1)
    with pytest.raises(TypeError, match="stride"):
        pair(1.5, "stride", 1)
    assert kernels.taps((2, 3)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_unbuffered_sets_and_restores_numpy_buffer_size():
    before = np.getbufsize()
    with kernels.unbuffered(512):
        assert np.getbufsize() == 512
    assert np.getbufsize() == before
    with pytest.raises(RuntimeError), kernels.unbuffered(512):
        raise RuntimeError("inside")
    assert np.getbufsize() == before


def test_col2im_leaves_numpy_buffer_size_alone():
    before = np.getbufsize()
    cols = np.ones((1 * 3 * 3, 4 * 4 * 2), dtype=np.float32)
    col2im(cols, (1, 6, 6, 2), (3, 3), (1, 1), (4, 4))
    assert np.getbufsize() == before


@pytest.mark.parametrize("kernel, stride", [((3, 2), (1, 1)), ((2, 2), (2, 2))])  # overlapping; tiling
def test_windows_view_is_read_only_unless_asked(kernel, stride):
    """windows() is a view of the input, in which overlapping windows share elements: it refuses
    writes unless asked for a writeable one (as col2im does where windows do not overlap)."""
    x = np.arange(2 * 5 * 6 * 3, dtype=np.float64).reshape(2, 5, 6, 3)  # (C, H, W, N)
    out_hw = output_size(5, kernel[0], stride[0], 0), output_size(6, kernel[1], stride[1], 0)
    view = kernels.windows(x, kernel, stride, out_hw)
    assert np.shares_memory(view, x) and not view.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        view[...] = 0
    np.testing.assert_array_equal(view[:, 1, 1, 1, 1, :], x[:, stride[0] + 1, stride[1] + 1, :])
    writeable = kernels.windows(x, kernel, stride, out_hw, writeable=True)
    writeable[0, 0, 0, 0, 0, 0] = -1.0
    assert x[0, 0, 0, 0] == -1.0
