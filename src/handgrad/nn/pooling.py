"""Max and average pooling over kh×kw windows with stride (sh, sw) and padding (ph, pw).

Shapes: x (N, C, H, W) → y (N, C, Ho, Wo), Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1.
Both loop over the kh·kw kernel taps (each tap is one strided view of every window).

Max:  y = max over the window (padding counts as −∞). Backward: each window's
      gradient goes to one element, the first maximum in row-major order; where
      windows overlap, the contributions add up.
Avg:  y = (Σ over the window) / d, d = kh·kw (count_include_pad) or the number of
      non-padding elements. Backward: every element of a window gets g / d.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.kernels import blocks, chwn, nchw, output_size, pad, pair, taps, unbuffered, window
from handgrad.nn.module import Module

# From this input size on, a training forward pass finds the maxima for the backward pass
# (wide CNN, batch 32, in a training loop: its two pools' forward + backward 4.31 -> 3.94 ms;
# LeNet-5's smaller pools, whose inputs stay in cache anyway: 0.56 -> 0.62 ms, so they don't).
EAGER_MAXIMA_BYTES = 1 << 20


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be at most half "
                             f"of kernel_size {self.kernel_size}")

    def samples_independent(self) -> bool:
        return True

    def _geometry(self, x) -> tuple[np.ndarray, tuple[int, int]]:
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        out_hw = output_size(x.shape[2], kh, sh, ph), output_size(x.shape[3], kw, sw, pw)
        if min(out_hw) < 1:
            raise ValueError(f"{type(self).__name__}: input {x.shape[2:]} is smaller than the window {self.kernel_size}")
        return x, out_hw

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    def _tiles(self) -> bool:
        """True when windows tile the input (stride = kernel, no padding): the fast path."""
        return self.stride == self.kernel_size and self.padding == (0, 0)

    def forward(self, x):
        x, out_hw = self._geometry(x)
        if self._tiles():
            return self._forward_tiled(x, out_hw)
        xp = pad(chwn(x), *self.padding, value=-np.inf)
        first, *rest = taps(self.kernel_size)
        y = window(xp, *first, self.stride, out_hw).copy()
        argmax = np.zeros(y.shape, dtype=np.uint8 if len(rest) < 255 else np.int32)
        for t, (i, j) in enumerate(rest, start=1):
            candidate = window(xp, i, j, self.stride, out_hw)
            larger = candidate > y  # strict: ties keep the first maximum
            np.copyto(y, candidate, where=larger)
            argmax[larger] = t
        self._save("windows", argmax, xp.shape, x.shape)
        return nchw(y)

    def _forward_tiled(self, x, out_hw):
        tiles = blocks(chwn(x), self.kernel_size, out_hw)  # (C, Ho, kh, Wo, kw, N)
        y = tiles[:, :, 0, :, 0, :].copy()
        for i, j in taps(self.kernel_size)[1:]:
            np.maximum(y, tiles[:, :, i, :, j, :], out=y)
        # A large input (in training) has each tile's first maximum found now, while it is still
        # in cache: the backward pass then reads a byte per output and tap instead of the input.
        eager = self.training and x.nbytes >= EAGER_MAXIMA_BYTES
        self._save("tiles", self._first_maxima(tiles, y) if eager else (tiles, y), x.shape)
        return nchw(y)

    def _first_maxima(self, tiles, y) -> list[np.ndarray]:
        """One boolean (C, Ho, Wo, N) mask per kernel tap, true where that tap holds its tile's
        first maximum in row-major order: exactly one mask is true for each output."""
        with unbuffered(2048):  # three operands' buffers in L1: 10-20% faster than NumPy's 8,192
            (first_i, first_j), *rest = taps(self.kernel_size)
            claimed = tiles[:, :, first_i, :, first_j, :] == y
            if not rest:
                return [claimed]
            masks, unclaimed = [claimed], np.logical_not(claimed)
            for i, j in rest[:-1]:
                hit = tiles[:, :, i, :, j, :] == y
                hit &= unclaimed
                unclaimed ^= hit  # hit ⊆ unclaimed: this removes it
                masks.append(hit)
            return masks + [unclaimed]  # the maximum is in the last tap if not before

    def backward(self, grad_out):
        path, *cache = self._take()
        g = chwn(grad_out)
        if path == "tiles":
            return self._backward_tiled(g, *cache)
        argmax, padded_shape, x_shape = cache
        dxp = np.zeros(padded_shape, dtype=grad_out.dtype)
        out_hw = g.shape[1:3]
        for t, (i, j) in enumerate(taps(self.kernel_size)):
            window(dxp, i, j, self.stride, out_hw)[...] += np.where(argmax == t, g, 0)
        ph, pw = self.padding
        return nchw(dxp[:, ph : ph + x_shape[2], pw : pw + x_shape[3], :])

    def _backward_tiled(self, g, masks, x_shape):
        """Each tile's gradient goes to its first maximum (`masks`, or the tiles and maxima
        to find them from)."""
        n, c, h, w = x_shape
        if isinstance(masks, tuple):
            masks = self._first_maxima(*masks)
        dx = np.empty((c, h, w, n), dtype=g.dtype)
        ho, wo = g.shape[1:3]
        if ho * self.kernel_size[0] != h or wo * self.kernel_size[1] != w:
            dx[...] = 0  # rows/columns past the last whole tile get no gradient
        dtiles = blocks(dx, self.kernel_size, (ho, wo))
        with unbuffered(2048):
            for (i, j), mask in zip(taps(self.kernel_size), masks):
                np.multiply(g, mask, out=dtiles[:, :, i, :, j, :])
        return nchw(dx)


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
        x, out_hw = self._geometry(x)
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
        ph, pw = self.padding
        return nchw(dxp[:, ph : ph + x_shape[2], pw : pw + x_shape[3], :])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"
