"""2-D convolution (cross-correlation, as PyTorch computes it), through im2col.

Shapes: x (N, C, H, W), W (O, C, kh, kw), b (O,), y (N, O, Ho, Wo) with
Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1 (likewise Wo).

Forward:   y[n, o, p, q] = b[o] + Σ_{c,i,j} W[o, c, i, j] · xp[n, c, sh·p + i, sw·q + j]
           (xp = x zero-padded). With cols = im2col(xp) of shape (C·kh·kw, Ho·Wo·N):
           Y = W₂ @ cols + b,   W₂ = W reshaped (O, C·kh·kw),   Y (O, Ho·Wo·N).
Backward, with G = ∂L/∂y laid out as Y:
           ∂L/∂W₂ = G @ colsᵀ           (a correlation of the input with the upstream gradient)
           ∂L/∂b  = Σ over columns of G
           ∂L/∂cols = W₂ᵀ @ G,  ∂L/∂x = crop(col2im(∂L/∂cols))
           (col2im scatters each window back; this is the full convolution of the
           stride-dilated G with the flipped kernel).
In eval mode nothing is kept for the backward pass, so the forward pass builds cols one
band of output rows at a time, small enough to stay in cache (3x faster at batch 1000).
"""

from __future__ import annotations

import numpy as np

from handgrad.nn import init
from handgrad.nn.kernels import chwn, col2im, im2col, nchw, output_size, pad, pair
from handgrad.nn.linear import check_input
from handgrad.nn.module import Module, Parameter


BAND_BYTES = 2 << 20  # size of the im2col band of an eval-mode forward pass


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
        if self.training:  # keep cols for the backward pass
            cols = im2col(xp, self.kernel_size, self.stride, (ho, wo))
            y = (weight @ cols)[: self.out_channels]
            y += bias[:, None]
        else:  # nothing to keep: build cols a band of output rows at a time, in cache
            cols, y = None, self._forward_in_bands(xp, weight, bias, (ho, wo))
        self._save(xp, cols, (h, w))
        return nchw(y.reshape(self.out_channels, ho, wo, n))

    def _forward_in_bands(self, xp, weight, bias, out_hw):
        """W @ im2col(xp) + b, computed for bands of output rows whose cols fit in about 2 MB."""
        (kh, kw), (sh, _), (ho, wo) = self.kernel_size, self.stride, out_hw
        y = np.empty((self.out_channels, ho, wo * xp.shape[3]), dtype=xp.dtype)
        rows = max(1, BAND_BYTES // (weight.shape[1] * wo * xp.shape[3] * xp.itemsize))
        for top in range(0, ho, rows):
            bottom = min(ho, top + rows)
            band = xp[:, top * sh : (bottom - 1) * sh + kh]
            cols = im2col(band, self.kernel_size, self.stride, (bottom - top, wo))
            band_out = (weight @ cols)[: self.out_channels].reshape(self.out_channels, bottom - top, -1)
            np.add(band_out, bias[:, None, None], out=y[:, top:bottom])
        return y.reshape(self.out_channels, -1)

    def backward(self, grad_out):
        xp, cols, (h, w) = self._take()
        _, _, ho, wo = grad_out.shape
        if cols is None:  # the forward pass ran in eval mode
            cols = im2col(xp, self.kernel_size, self.stride, (ho, wo))
        g = chwn(grad_out).reshape(self.out_channels, -1)
        weight = self.weight.data.reshape(self.out_channels, -1)
        self.weight.accumulate((cols @ g.T).T.reshape(self.weight.shape))  # faster than g @ cols.T
        if self.bias is not None:
            self.bias.accumulate(g.sum(axis=1))
        dxp = col2im(weight.T @ g, xp.shape, self.kernel_size, self.stride, (ho, wo))
        ph, pw = self.padding
        return nchw(dxp[:, ph : ph + h, pw : pw + w, :])

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")
