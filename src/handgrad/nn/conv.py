"""2-D convolution (cross-correlation, as PyTorch computes it), through im2col.

Shapes: x (N, C, H, W), W (O, C, kh, kw), b (O,), y (N, O, Ho, Wo) with
Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1 (likewise Wo).

Forward:   y[n, o, p, q] = b[o] + Σ_{c,i,j} W[o, c, i, j] · xp[n, c, sh·p + i, sw·q + j]
           (xp = x zero-padded). With cols = im2col(xp) of shape (C·kh·kw, Ho·Wo·N):
           Y = W₂ @ cols + b,   W₂ = W reshaped (O, C·kh·kw),   Y (O, Ho·Wo·N).
Backward, with G = ∂L/∂y laid out as Y:
           ∂L/∂W₂ = G @ colsᵀ           (a correlation of the input with the upstream gradient;
                                        computed as (cols @ Gᵀ)ᵀ, in cache-sized column
                                        blocks when the product is thin)
           ∂L/∂b  = Σ over columns of G   (as G @ 1, a BLAS product: 3-4x faster than a NumPy sum;
                                        a thin product has b inside: [W₂ b] @ [cols; 1], and
                                        ∂L/∂b comes out of G @ [cols; 1]ᵀ as its last column)
           ∂L/∂cols = W₂ᵀ @ G (in column blocks when thin),  ∂L/∂x = crop(col2im(∂L/∂cols))
           (col2im scatters each window back; this is the full convolution of the
           stride-dilated G with the flipped kernel).
When cols would be large (big batches, big images) or are not needed (eval mode), they
are built one band of output rows at a time, small enough to stay in cache, and built
again band by band in the backward pass (3x faster at batch 1000). A thin product
(K·O < THIN_PRODUCT, bound by memory) is made tile by tile as its cols are copied, in tiles
small enough for OpenBLAS's unpacked kernels (`SMALL_PRODUCT`).
"""

from __future__ import annotations

import math

import numpy as np

from handgrad.nn import init
from handgrad.nn.kernels import chwn, col2im, im2col, nchw, output_size, pad, pair, windows
from handgrad.nn.module import Module, Parameter, check_input


KEEP_COLS_BYTES = 8 << 20  # a training pass keeps cols up to this size for its backward pass
BAND_BYTES = 2 << 20  # beyond it (and in eval mode) cols are built in bands of this size
THIN_PRODUCT = 1024  # K·O (cols rows × output channels) below which a conv's products are thin
# OpenBLAS multiplies an (M, K) @ (K, N) product with M·K·N up to this many without packing its
# operands first; for thin products that is 1.5-2.5x faster, so thin products are made in
# column blocks this small (O = 32, K = 10, 25,088 columns: 0.48 ms whole, 0.29 in blocks of
# 3,125 columns, 0.54 in blocks of 3,126).
SMALL_PRODUCT = 1_000_000


def small_block(m: int, k: int) -> int:
    """Columns per block of a product with these other two dimensions that OpenBLAS makes
    without packing (at least one)."""
    return max(1, SMALL_PRODUCT // (m * k))


def weight_gradient(cols: np.ndarray, g: np.ndarray) -> np.ndarray:
    """cols (K, M) @ gᵀ (M, O) → (K, O). A thin product (K·O < THIN_PRODUCT, M in the tens of
    thousands) is summed over column blocks of `small_block` (conv1 of LeNet-5 at batch 64:
    0.92 ms whole, 0.46 ms in blocks); wider ones run whole, which is faster for them (32 → 64
    channels, 3×3, batch 64: 2.54 ms against 2.85 ms)."""
    if cols.shape[0] * g.shape[0] >= THIN_PRODUCT:
        return cols @ g.T
    block = small_block(cols.shape[0], g.shape[0])
    total = cols[:, :block] @ g[:, :block].T
    for start in range(block, cols.shape[1], block):
        total += cols[:, start : start + block] @ g[:, start : start + block].T
    return total


def columns_gradient(weight: np.ndarray, g: np.ndarray) -> np.ndarray:
    """weightᵀ (K, O) @ g (O, M) → (K, M), the gradient of cols. A thin product (K·O <
    THIN_PRODUCT) is made in column blocks of `small_block`: 1.6-3x faster (LeNet-5's conv1 at
    batch 32: 0.32 -> 0.20 ms; the wide CNN's: 0.59 -> 0.35 ms)."""
    if weight.size >= THIN_PRODUCT:
        return weight.T @ g
    block = small_block(*weight.shape)
    out = np.empty((weight.shape[1], g.shape[1]), dtype=np.result_type(weight, g))
    for start in range(0, g.shape[1], block):
        np.matmul(weight.T, g[:, start : start + block], out=out[:, start : start + block])
    return out


def _rows_padded(weight: np.ndarray) -> np.ndarray:
    """Pad a thin (O < 8, K) weight matrix with zero rows to 8: OpenBLAS multiplies the
    padded matrix faster than the thin one (the extra output rows are dropped)."""
    if weight.shape[0] >= 8:
        return weight
    padded = np.zeros((8, weight.shape[1]), dtype=weight.dtype)
    padded[: weight.shape[0]] = weight
    return padded


class Conv2d(Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.weight = Parameter(np.empty((out_channels, in_channels, *self.kernel_size), dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        init.default_(self.weight, self.bias, rng)

    def samples_independent(self) -> bool:
        return True

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)

    def forward(self, x):
        x = check_input(self, x, 4, self.in_channels)
        n, _, h, w = x.shape
        ho, wo = self.output_shape(h, w)
        if ho < 1 or wo < 1:
            raise ValueError(f"Conv2d: input {h}x{w} is smaller than the kernel {self.kernel_size} with padding {self.padding}")
        xp = pad(chwn(x), *self.padding)
        weight = _rows_padded(self.weight.data.reshape(self.out_channels, -1))
        bias = np.zeros(1, x.dtype) if self.bias is None else self.bias.data
        cols_bytes = weight.shape[1] * ho * wo * n * x.itemsize
        keep_cols = self.training and cols_bytes <= KEEP_COLS_BYTES  # for the backward pass
        if weight.size < THIN_PRODUCT:  # memory-bound: tile by tile, in cache, bias in the product
            cols, y = self._thin_forward(xp, weight, self.bias, (ho, wo), keep_cols)
            y = y[: self.out_channels]
        elif keep_cols:
            cols = im2col(xp, self.kernel_size, self.stride, (ho, wo))
            y = (weight @ cols)[: self.out_channels]
            y += bias[:, None]
        else:  # build cols a band of output rows at a time, in cache; backward builds them again
            cols, y = None, np.empty((self.out_channels, ho, wo * n), dtype=x.dtype)
            for top, bottom, band in self._bands(xp, (ho, wo)):
                cols_band = im2col(band, self.kernel_size, self.stride, (bottom - top, wo))
                out = (weight @ cols_band)[: self.out_channels].reshape(self.out_channels, bottom - top, -1)
                np.add(out, bias[:, None, None], out=y[:, top:bottom])
        self._save(xp, cols, (h, w))
        return nchw(y.reshape(self.out_channels, ho, wo, n))

    def _thin_forward(self, xp, weight, bias, out_hw, keep_cols: bool):
        """(cols or None, weight @ cols + bias) for a thin product (K·O < THIN_PRODUCT), which
        is bound by memory: each tile of cols (a band of output rows, or part of one row when a
        row's cols are wider than `small_block`) is multiplied right after it is copied, while it
        is in cache. LeNet-5 conv1: 1.10 -> 0.87 ms at batch 64 (training); inference
        at batch 1,000 on one thread 9% faster. The bias is a last column of the weight times
        a last row of ones in cols, so no pass over y adds it, and the backward pass gets its
        gradient from the weight-gradient product (the kept cols have that row)."""
        (kh, kw), (sh, sw), (ho, wo), n = self.kernel_size, self.stride, out_hw, xp.shape[3]
        taps = weight.shape[1]  # C·kh·kw rows of cols from the input
        if bias is not None:
            weight = np.concatenate([weight, _rows_padded(bias.data[:, None])], axis=1)
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
                tile_shape = (self.in_channels, kh, kw, bottom - top, right - left, n)
                tile = (cols[:, top:bottom, left:right] if keep_cols
                        else scratch[: k * math.prod(tile_shape[3:])].reshape(k, *tile_shape[3:]))
                np.copyto(tile[:taps].reshape(tile_shape), windows(band, self.kernel_size, self.stride, tile_shape[3:5]))
                tile[taps:] = 1
                np.matmul(weight, tile.reshape(k, -1), out=y[:, top:bottom, left:right].reshape(weight.shape[0], -1))
        return (None if cols is None else cols.reshape(k, -1)), y.reshape(weight.shape[0], -1)

    def _bands(self, xp, out_hw):
        """(top, bottom, input rows) for bands of output rows whose cols take about BAND_BYTES."""
        (kh, kw), (sh, _), (ho, wo) = self.kernel_size, self.stride, out_hw
        per_row = self.in_channels * kh * kw * wo * xp.shape[3] * xp.itemsize
        rows = max(1, BAND_BYTES // per_row)
        for top in range(0, ho, rows):
            bottom = min(ho, top + rows)
            yield top, bottom, xp[:, top * sh : (bottom - 1) * sh + kh]

    def backward(self, grad_out):
        return self._backward(grad_out, input_grad=True)

    def backward_parameters(self, grad_out) -> None:
        self._backward(grad_out, input_grad=False)

    def _backward(self, grad_out, input_grad: bool):
        xp, cols, (h, w) = self._take()
        _, _, ho, wo = grad_out.shape
        g = chwn(grad_out).reshape(self.out_channels, -1)
        weight = self.weight.data.reshape(self.out_channels, -1)
        bias_row = cols is not None and cols.shape[0] > weight.shape[1]  # a thin forward's row of ones
        if self.bias is not None and not bias_row:
            self.bias.accumulate(g @ np.ones(g.shape[1], g.dtype), owned=True)
        if cols is None:
            dxp = self._backward_in_bands(xp, g.reshape(self.out_channels, ho, -1), weight, (ho, wo), input_grad)
        else:
            d_weight = weight_gradient(cols, g)  # (K, O), or (K + 1, O) with ∂L/∂b as its last row
            if bias_row:
                self.bias.accumulate(d_weight[-1])
            self.weight.accumulate(d_weight[: weight.shape[1]].T.reshape(self.weight.shape), owned=True)
            dxp = col2im(columns_gradient(weight, g), xp.shape, self.kernel_size, self.stride, (ho, wo)) if input_grad else None
        if not input_grad:
            return None
        ph, pw = self.padding
        return nchw(dxp[:, ph : ph + h, pw : pw + w, :])

    def _backward_in_bands(self, xp, g, weight, out_hw, input_grad: bool):
        """The backward pass band by band, rebuilding each band's cols (all of it in cache)."""
        d_weight = np.zeros((weight.shape[1], self.out_channels), dtype=weight.dtype)
        dxp = np.zeros(xp.shape, dtype=xp.dtype) if input_grad else None
        sh = self.stride[0]
        for top, bottom, band in self._bands(xp, out_hw):
            cols_band = im2col(band, self.kernel_size, self.stride, (bottom - top, out_hw[1]))
            g_band = g[:, top:bottom].reshape(self.out_channels, -1)
            d_weight += weight_gradient(cols_band, g_band)
            if input_grad:
                col2im(columns_gradient(weight, g_band), band.shape, self.kernel_size, self.stride,
                       (bottom - top, out_hw[1]), out=dxp[:, top * sh : top * sh + band.shape[1]])
        self.weight.accumulate(d_weight.T.reshape(self.weight.shape), owned=True)
        return dxp

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")
