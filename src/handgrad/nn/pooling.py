"""Max and average pooling over kh×kw windows with stride (sh, sw) and padding (ph, pw).

Shapes: x (N, C, H, W) → y (N, C, Ho, Wo), Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1.
Both loop over the kh·kw kernel taps (each tap is one strided view of every window).

Max:  y = max over the window (padding counts as −∞). Backward: each window's
      gradient goes to one element, the first maximum in row-major order; where
      windows overlap, the contributions add up.
Avg:  y = (Σ over the window) / d, d = kh·kw (count_include_pad) or the number of
      non-padding elements. Backward: every element of a window gets g / d.
`handgrad.engine.pooling` computes max pooling over windows that tile the input
(stride = kernel, no padding) on the tiles directly.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.kernels import chwn, nchw, output_size, pad, pair, taps, window
from handgrad.nn.module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be at most half "
                             f"of kernel_size {self.kernel_size}")

    def checked(self, x) -> tuple[np.ndarray, tuple[int, int]]:
        """The input as an array, refused if it is not (N, C, H, W) or smaller than a window, and (Ho, Wo)."""
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        out_hw = output_size(x.shape[2], kh, sh, ph), output_size(x.shape[3], kw, sw, pw)
        if min(out_hw) < 1:
            raise ValueError(f"{type(self).__name__}: input {x.shape[2:]} is smaller than the window {self.kernel_size}")
        return x, out_hw

    def _crop(self, dxp, x_shape):
        """The gradient of x from that of the padded input (CHWN), as an NCHW-shaped view."""
        ph, pw = self.padding
        return nchw(dxp[:, ph : ph + x_shape[2], pw : pw + x_shape[3], :])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    def forward(self, x):
        x, out_hw = self.checked(x)
        xp = pad(chwn(x), *self.padding, value=-np.inf)
        first, *rest = taps(self.kernel_size)
        y = window(xp, *first, self.stride, out_hw).copy()                 # (C, Ho, Wo, N)
        argmax = np.zeros(y.shape, dtype=np.uint8 if len(rest) < 255 else np.int32)
        for t, (i, j) in enumerate(rest, start=1):
            candidate = window(xp, i, j, self.stride, out_hw)
            larger = candidate > y  # strict: ties keep the first maximum
            np.copyto(y, candidate, where=larger)
            argmax[larger] = t
        self._save(argmax, xp.shape, x.shape)
        return nchw(y)

    def backward(self, grad_out):
        argmax, padded_shape, x_shape = self._take()
        g = chwn(grad_out)
        dxp = np.zeros(padded_shape, dtype=grad_out.dtype)
        for t, (i, j) in enumerate(taps(self.kernel_size)):
            window(dxp, i, j, self.stride, g.shape[1:3])[...] += np.where(argmax == t, g, 0)
        return self._crop(dxp, x_shape)


class AvgPool2d(_Pool2d):
    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def _divisor(self, x_shape, out_hw, dtype) -> np.ndarray:
        """(1, Ho, Wo, 1) window sizes; kh·kw when padding is counted (clipped at the padded edge)."""
        (h, w), (ph, pw), (kh, kw), (sh, sw) = x_shape[2:], self.padding, self.kernel_size, self.stride
        starts_h, starts_w = np.arange(out_hw[0]) * sh - ph, np.arange(out_hw[1]) * sw - pw
        if self.count_include_pad:
            lo_h, hi_h = starts_h, np.minimum(starts_h + kh, h + ph)
            lo_w, hi_w = starts_w, np.minimum(starts_w + kw, w + pw)
        else:
            lo_h, hi_h = np.maximum(starts_h, 0), np.minimum(starts_h + kh, h)
            lo_w, hi_w = np.maximum(starts_w, 0), np.minimum(starts_w + kw, w)
        counts = np.outer(hi_h - lo_h, hi_w - lo_w)
        return counts.astype(dtype)[None, :, :, None]

    def forward(self, x):
        x, out_hw = self.checked(x)
        xp = pad(chwn(x), *self.padding)
        y = np.zeros((x.shape[1], *out_hw, x.shape[0]), dtype=x.dtype)
        for i, j in taps(self.kernel_size):
            y += window(xp, i, j, self.stride, out_hw)
        divisor = self._divisor(x.shape, out_hw, x.dtype)
        y /= divisor
        self._save(divisor, xp.shape, x.shape)
        return nchw(y)

    def backward(self, grad_out):
        divisor, padded_shape, x_shape = self._take()
        g = chwn(grad_out) / divisor
        dxp = np.zeros(padded_shape, dtype=grad_out.dtype)
        for i, j in taps(self.kernel_size):
            window(dxp, i, j, self.stride, g.shape[1:3])[...] += g
        return self._crop(dxp, x_shape)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"
