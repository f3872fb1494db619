"""MaxPool2d over windows that tile the input (stride = kernel, no padding, as in LeNet-5
and most CNNs): the numbers of `handgrad.nn.pooling`, computed on the tiles directly.

The input is viewed as (C, Ho, kh, Wo, kw, N) tiles, so the maximum is kh·kw element-wise
`np.maximum`s with no padding, no argmax index and no scatter. The backward pass sends each
tile's gradient to its first maximum in row-major order through one boolean mask per tap
(exactly one mask is true for each output: a tap claims the outputs whose maximum it holds
and no earlier tap claimed). A large input in training has its masks made in the forward
pass, while the input is in cache (EAGER_MAXIMA_BYTES); a small one stays in cache anyway and
has them made in the backward pass from the tiles and maxima kept. Other windows run the
textbook's loop over taps.
"""

from __future__ import annotations

import numpy as np

from handgrad.engine.fast import FastLayer
from handgrad.nn.kernels import blocks, chwn, nchw, taps, unbuffered

EAGER_MAXIMA_BYTES = 1 << 20  # from this input size on, a training forward pass finds the maxima


def tiles_input(pool) -> bool:
    """True when the windows of `pool` tile its input (stride = kernel, no padding)."""
    return pool.stride == pool.kernel_size and pool.padding == (0, 0)


class TiledMaxPool2d(FastLayer):
    def forward(self, x):
        pool = self.layer
        if not tiles_input(pool):
            self._save(None)
            return pool.forward(x)
        x, out_hw = pool.checked(x)
        tiles = blocks(chwn(x), pool.kernel_size, out_hw)  # (C, Ho, kh, Wo, kw, N)
        y = tiles[:, :, 0, :, 0, :].copy()
        for i, j in taps(pool.kernel_size)[1:]:
            np.maximum(y, tiles[:, :, i, :, j, :], out=y)
        eager = pool.training and x.nbytes >= EAGER_MAXIMA_BYTES
        self._save(self._first_maxima(tiles, y) if eager else (tiles, y), x.shape)
        return nchw(y)

    def _first_maxima(self, tiles, y) -> list[np.ndarray]:
        """One boolean (C, Ho, Wo, N) mask per kernel tap, true where that tap holds its tile's
        first maximum in row-major order: exactly one mask is true for each output."""
        with unbuffered(2048):  # the three operands' buffers fit in L1
            (first_i, first_j), *rest = taps(self.layer.kernel_size)
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
        cache = self._take()
        if cache[0] is None:  # the textbook layer ran
            return self.layer.backward(grad_out)
        masks, (n, c, h, w) = cache
        if isinstance(masks, tuple):  # the tiles and maxima to find them from
            masks = self._first_maxima(*masks)
        kernel, g = self.layer.kernel_size, chwn(grad_out)
        dx = np.empty((c, h, w, n), dtype=g.dtype)
        ho, wo = g.shape[1:3]
        if ho * kernel[0] != h or wo * kernel[1] != w:
            dx[...] = 0  # rows/columns past the last whole tile get no gradient
        dtiles = blocks(dx, kernel, (ho, wo))
        with unbuffered(2048):
            for (i, j), mask in zip(taps(kernel), masks):
                np.multiply(g, mask, out=dtiles[:, :, i, :, j, :])
        return nchw(dx)
