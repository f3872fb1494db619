"""Window views, im2col and col2im, written once for every convolution and pooling layer.

Inside a layer, images are handled in CHWN axis order: `chwn(x)` is a free view of an
NCHW-shaped array, and `nchw(y)` turns a CHWN result back into an NCHW-shaped view.
With the batch innermost, a convolution is one matrix multiply with no transposes,

    Y (O, Ho·Wo·N) = W (O, C·kh·kw) @ cols (C·kh·kw, Ho·Wo·N),

and every kernel tap (i, j) of im2col/col2im/pooling copies long contiguous runs.
Layers hand on CHWN memory behind NCHW shapes, so the next layer's `chwn` is free.

NumPy runs a ufunc on operands that are not contiguous through 8,192-element copy
buffers; `unbuffered()` shrinks them so that the strided `+=` of col2im runs on the views
in place instead of through copies.

`im2col_reference`/`col2im_reference` are the plain NCHW versions (a window view and
`np.add.at`); the tests hold the fast ones equal to them.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view


def pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least `minimum`, as a pair."""
    try:
        values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        values = ()
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2·padding − kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def chwn(x: np.ndarray) -> np.ndarray:
    """View an (N, C, H, W) array in (C, H, W, N) axis order."""
    return x.transpose(1, 2, 3, 0)


def nchw(x: np.ndarray) -> np.ndarray:
    """View a (C, H, W, N) array in (N, C, H, W) axis order."""
    return x.transpose(3, 0, 1, 2)


def pad(x: np.ndarray, ph: int, pw: int, value: float = 0.0) -> np.ndarray:
    """Pad the H and W axes of a (C, H, W, N) array; no copy when there is no padding."""
    if ph == 0 and pw == 0:
        return x
    c, h, w, n = x.shape
    out = np.full((c, h + 2 * ph, w + 2 * pw, n), value, dtype=x.dtype)
    out[:, ph : ph + h, pw : pw + w, :] = x
    return out


def window(xp: np.ndarray, i: int, j: int, stride: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """The (C, Ho, Wo, N) view of the elements that kernel tap (i, j) sees in every window."""
    (sh, sw), (ho, wo) = stride, out_hw
    return xp[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]


def blocks(x: np.ndarray, kernel, out_hw) -> np.ndarray:
    """Non-overlapping windows (stride = kernel, no padding) of a (C, H, W, N) array as a
    (C, Ho, kh, Wo, kw, N) view when x is contiguous (rows and columns past the last whole
    window are dropped)."""
    (kh, kw), (ho, wo) = kernel, out_hw
    c, n = x.shape[0], x.shape[3]
    return x[:, : ho * kh, : wo * kw, :].reshape(c, ho, kh, wo, kw, n)


@contextmanager
def unbuffered(size: int = 1024):
    """Run the ufuncs inside with NumPy's buffer size set to `size` elements (restored after).

    A ufunc on a strided view, such as `window(xp, i, j, ...)[...] += cols[:, i, j]`, copies
    its operands through buffers of `np.getbufsize()` (8,192) elements; with buffers no
    longer than the view's contiguous runs it works on the views directly (figures in
    reports/benchmarks.md). The setting is NumPy's per-thread context, so threads do not
    disturb each other."""
    previous = np.setbufsize(size)
    try:
        yield
    finally:
        np.setbufsize(previous)


def taps(kernel: tuple[int, int]):
    """Kernel taps (i, j) in row-major order."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def windows(xp: np.ndarray, kernel, stride, out_hw, writeable: bool = False) -> np.ndarray:
    """The (C, kh, kw, Ho, Wo, N) view of every window of a (C, Hp, Wp, N) array: element
    [c, i, j, y, x, n] is xp[c, sh·y + i, sw·x + j, n] (writeable only where windows do not
    overlap)."""
    sc, s_h, s_w, sn = xp.strides
    return as_strided(
        xp, (xp.shape[0], *kernel, *out_hw, xp.shape[3]),
        (sc, s_h, s_w, s_h * stride[0], s_w * stride[1], sn), writeable=writeable)


def im2col(xp: np.ndarray, kernel, stride, out_hw) -> np.ndarray:
    """(C, Hp, Wp, N) padded input → cols (C·kh·kw, Ho·Wo·N), in one copy."""
    c = xp.shape[0]
    return windows(xp, kernel, stride, out_hw).reshape(c * kernel[0] * kernel[1], -1)


def col2im(cols: np.ndarray, padded_shape, kernel, stride, out_hw, out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of im2col: scatter-add cols (C·kh·kw, Ho·Wo·N) back into a (C, Hp, Wp, N) array
    (a new one, or added into `out`, which is returned)."""
    c, n = padded_shape[0], padded_shape[3]
    cols = cols.reshape(c, kernel[0], kernel[1], out_hw[0], out_hw[1], n)
    xp = np.zeros(padded_shape, dtype=cols.dtype) if out is None else out
    if out is None and all(o == 1 or s >= k for o, s, k in zip(out_hw, stride, kernel)):  # no element is in two windows
        windows(xp, kernel, stride, out_hw, writeable=True)[...] = cols  # one copy (LeNet-5's C5)
        return xp
    with unbuffered():
        for i, j in taps(kernel):
            window(xp, i, j, stride, out_hw)[...] += cols[:, i, j]
    return xp


# -- plain reference versions (NCHW), for the tests and the guide -------------------


def im2col_reference(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """(N, C, H, W) → (N·Ho·Wo, C·kh·kw): row (n, y, x) holds the window of output pixel (y, x)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # (N, C, Ho, Wo, kh, kw)
    n, c, ho, wo = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)


def col2im_reference(cols: np.ndarray, x_shape, kernel, stride, padding) -> np.ndarray:
    """Adjoint of im2col_reference, with np.add.at: (N·Ho·Wo, C·kh·kw) → (N, C, H, W)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x_shape
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    cols = cols.reshape(n, ho, wo, c, kh, kw)
    rows = (np.arange(ho) * sh)[:, None] + np.arange(kh)[None, :]  # (Ho, kh)
    columns = (np.arange(wo) * sw)[:, None] + np.arange(kw)[None, :]  # (Wo, kw)
    index = (
        np.arange(n)[:, None, None, None, None, None],
        np.arange(c)[None, None, None, :, None, None],
        rows[None, :, None, None, :, None],
        columns[None, None, :, None, None, :],
    )
    np.add.at(xp, index, cols)
    return xp[:, :, ph : ph + h, pw : pw + w]
