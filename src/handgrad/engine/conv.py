"""Conv2d by tuned kernels: the numbers of `handgrad.nn.conv`, computed in pieces that fit
the caches and OpenBLAS's fast kernels.

Three forward paths, chosen by the sizes of the products:
- thin (K·O < THIN_PRODUCT, K = C·kh·kw): the product is bound by memory, so each tile of
  cols is multiplied right after it is copied, while it is in cache, in tiles small enough
  for OpenBLAS's unpacked kernels (`SMALL_PRODUCT`); the bias rides in the product as a
  last column of the weight times a row of ones in cols, so no pass over y adds it, and
  its gradient comes out of the weight-gradient product as that row's column;
- kept cols (training, cols up to KEEP_COLS_BYTES): the textbook's one product;
- bands (cols larger than that, or eval mode, where no backward needs them): cols are built
  one band of output rows at a time (BAND_BYTES, in cache), and built again band by band
  in the backward pass instead of being written to and read back from memory.
The backward pass uses the kept cols, or rebuilds them band by band; thin products are
summed over column blocks below OpenBLAS's small-product size. The figures behind each
threshold are in reports/benchmarks.md.
"""

from __future__ import annotations

import math

import numpy as np

from handgrad.engine.fast import FastLayer
from handgrad.nn.kernels import chwn, col2im, im2col, nchw, pad, windows

KEEP_COLS_BYTES = 8 << 20  # a training pass keeps cols up to this size for its backward pass
BAND_BYTES = 2 << 20  # beyond it (and in eval mode) cols are built in bands of this size
THIN_PRODUCT = 1024  # K·O (cols rows × output channels) below which a conv's products are thin
# OpenBLAS multiplies an (M, K) @ (K, N) product with M·K·N up to this many without packing its
# operands first; packing dominates a thin product, so thin products are made in column blocks
# this small (one column more per block and the product is packed, and slower than whole).
SMALL_PRODUCT = 1_000_000


def small_block(m: int, k: int) -> int:
    """Columns per block of a product with these other two dimensions that OpenBLAS makes
    without packing (at least one)."""
    return max(1, SMALL_PRODUCT // (m * k))


def weight_gradient(cols: np.ndarray, g: np.ndarray) -> np.ndarray:
    """cols (K, M) @ gᵀ (M, O) → (K, O). A thin product (K·O < THIN_PRODUCT, M in the tens of
    thousands) is summed over column blocks of `small_block`; wider ones run whole, which is
    faster for them."""
    if cols.shape[0] * g.shape[0] >= THIN_PRODUCT:
        return cols @ g.T
    block = small_block(cols.shape[0], g.shape[0])
    total = cols[:, :block] @ g[:, :block].T
    for start in range(block, cols.shape[1], block):
        total += cols[:, start : start + block] @ g[:, start : start + block].T
    return total


def columns_gradient(weight: np.ndarray, g: np.ndarray) -> np.ndarray:
    """weightᵀ (K, O) @ g (O, M) → (K, M), the gradient of cols; a thin product (K·O <
    THIN_PRODUCT) in column blocks of `small_block`."""
    if weight.size >= THIN_PRODUCT:
        return weight.T @ g
    block = small_block(*weight.shape)
    out = np.empty((weight.shape[1], g.shape[1]), dtype=np.result_type(weight, g))
    for start in range(0, g.shape[1], block):
        np.matmul(weight.T, g[:, start : start + block], out=out[:, start : start + block])
    return out


def rows_padded(weight: np.ndarray) -> np.ndarray:
    """Pad a thin (O < 8, K) weight matrix with zero rows to 8: OpenBLAS multiplies the
    padded matrix faster than the thin one (the extra output rows are dropped)."""
    if weight.shape[0] >= 8:
        return weight
    padded = np.zeros((8, weight.shape[1]), dtype=weight.dtype)
    padded[: weight.shape[0]] = weight
    return padded


class FastConv2d(FastLayer):
    def forward(self, x):
        conv = self.layer
        x, (ho, wo) = conv.checked(x)
        n, (h, w), o = len(x), x.shape[2:], conv.out_channels
        xp = pad(chwn(x), *conv.padding)
        weight = rows_padded(conv.weight.data.reshape(o, -1))
        bias = np.zeros(1, x.dtype) if conv.bias is None else conv.bias.data
        cols_bytes = weight.shape[1] * ho * wo * n * x.itemsize
        keep_cols = conv.training and cols_bytes <= KEEP_COLS_BYTES  # for the backward pass
        if weight.size < THIN_PRODUCT:  # memory-bound: tile by tile, in cache, bias in the product
            cols, y = self._thin_forward(xp, weight, conv.bias, (ho, wo), keep_cols)
            y = y[:o]
        elif keep_cols:
            cols = im2col(xp, conv.kernel_size, conv.stride, (ho, wo))
            y = (weight @ cols)[:o]
            y += bias[:, None]
        else:  # build cols a band of output rows at a time, in cache; backward builds them again
            cols, y = None, np.empty((o, ho, wo * n), dtype=x.dtype)
            for top, bottom, band in self._bands(xp, (ho, wo)):
                cols_band = im2col(band, conv.kernel_size, conv.stride, (bottom - top, wo))
                out = (weight @ cols_band)[:o].reshape(o, bottom - top, -1)
                np.add(out, bias[:, None, None], out=y[:, top:bottom])
        self._save(xp, cols, (h, w))
        return nchw(y.reshape(o, ho, wo, n))

    def _thin_forward(self, xp, weight, bias, out_hw, keep_cols: bool):
        """(cols or None, weight @ cols + bias) for a thin product, made tile by tile (a band of
        output rows, or part of one row when a row's cols are wider than `small_block`), each
        multiplied right after it is copied; with the bias as a last column of the weight
        times a last row of ones in cols (kept cols have that row: see `backward`)."""
        conv = self.layer
        (kh, kw), (sh, sw), (ho, wo), n = conv.kernel_size, conv.stride, out_hw, xp.shape[3]
        taps = weight.shape[1]  # C·kh·kw rows of cols from the input
        if bias is not None:
            weight = np.concatenate([weight, rows_padded(bias.data[:, None])], axis=1)
        k = weight.shape[1]
        positions = max(1, small_block(*weight.shape) // n)  # output pixels per tile
        rows, columns = (positions // wo, wo) if positions >= wo else (1, positions)
        y = np.empty((weight.shape[0], ho, wo, n), dtype=xp.dtype)
        cols = np.empty((k, ho, wo, n), dtype=xp.dtype) if keep_cols else None
        scratch = None if keep_cols else np.empty(k * rows * columns * n, dtype=xp.dtype)
        for top in range(0, ho, rows):
            bottom = min(ho, top + rows)
            for left in range(0, wo, columns):
                right = min(wo, left + columns)
                band = xp[:, top * sh : (bottom - 1) * sh + kh, left * sw : (right - 1) * sw + kw]
                tile_shape = (conv.in_channels, kh, kw, bottom - top, right - left, n)
                tile = (cols[:, top:bottom, left:right] if keep_cols
                        else scratch[: k * math.prod(tile_shape[3:])].reshape(k, *tile_shape[3:]))
                np.copyto(tile[:taps].reshape(tile_shape), windows(band, conv.kernel_size, conv.stride, tile_shape[3:5]))
                tile[taps:] = 1
                np.matmul(weight, tile.reshape(k, -1), out=y[:, top:bottom, left:right].reshape(weight.shape[0], -1))
        return (None if cols is None else cols.reshape(k, -1)), y.reshape(weight.shape[0], -1)

    def _bands(self, xp, out_hw):
        """(top, bottom, input rows) for bands of output rows whose cols take about BAND_BYTES."""
        conv = self.layer
        (kh, kw), (sh, _), (ho, wo) = conv.kernel_size, conv.stride, out_hw
        per_row = conv.in_channels * kh * kw * wo * xp.shape[3] * xp.itemsize
        rows = max(1, BAND_BYTES // per_row)
        for top in range(0, ho, rows):
            bottom = min(ho, top + rows)
            yield top, bottom, xp[:, top * sh : (bottom - 1) * sh + kh]

    def backward(self, grad_out):
        return self._backward(grad_out, input_grad=True)

    def backward_parameters(self, grad_out) -> None:
        self._backward(grad_out, input_grad=False)

    def _backward(self, grad_out, input_grad: bool):
        conv = self.layer
        xp, cols, (h, w) = self._take()
        _, o, ho, wo = grad_out.shape
        g = chwn(grad_out).reshape(o, -1)
        weight = conv.weight.data.reshape(o, -1)
        bias_row = cols is not None and cols.shape[0] > weight.shape[1]  # a thin forward's row of ones
        if conv.bias is not None and not bias_row:
            conv.bias.accumulate(g @ np.ones(g.shape[1], g.dtype), owned=True)  # a BLAS product beats a sum
        if cols is None:
            dxp = self._backward_in_bands(xp, g.reshape(o, ho, -1), weight, (ho, wo), input_grad)
        else:
            d_weight = weight_gradient(cols, g)  # (K, O), or (K + 1, O) with ∂L/∂b as its last row
            if bias_row:
                conv.bias.accumulate(d_weight[-1])
            conv.weight.accumulate(d_weight[: weight.shape[1]].T.reshape(conv.weight.shape), owned=True)
            dxp = (col2im(columns_gradient(weight, g), xp.shape, conv.kernel_size, conv.stride, (ho, wo))
                   if input_grad else None)
        if not input_grad:
            return None
        ph, pw = conv.padding
        return nchw(dxp[:, ph : ph + h, pw : pw + w, :])

    def _backward_in_bands(self, xp, g, weight, out_hw, input_grad: bool):
        """The backward pass band by band, rebuilding each band's cols (all of it in cache)."""
        conv = self.layer
        d_weight = np.zeros((weight.shape[1], conv.out_channels), dtype=weight.dtype)
        dxp = np.zeros(xp.shape, dtype=xp.dtype) if input_grad else None
        sh = conv.stride[0]
        for top, bottom, band in self._bands(xp, out_hw):
            cols_band = im2col(band, conv.kernel_size, conv.stride, (bottom - top, out_hw[1]))
            g_band = g[:, top:bottom].reshape(conv.out_channels, -1)
            d_weight += weight_gradient(cols_band, g_band)
            if input_grad:
                col2im(columns_gradient(weight, g_band), band.shape, conv.kernel_size, conv.stride,
                       (bottom - top, out_hw[1]), out=dxp[:, top * sh : top * sh + band.shape[1]])
        conv.weight.accumulate(d_weight.T.reshape(conv.weight.shape), owned=True)
        return dxp
