"""2-D convolution (cross-correlation, as PyTorch computes it), through im2col.

Shapes: x (N, C, H, W), W (O, C, kh, kw), b (O,), y (N, O, Ho, Wo) with
Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1 (likewise Wo).

Forward:   y[n, o, p, q] = b[o] + Σ_{c,i,j} W[o, c, i, j] · xp[n, c, sh·p + i, sw·q + j]
           (xp = x zero-padded). With cols = im2col(xp) of shape (C·kh·kw, Ho·Wo·N):
           Y = W₂ @ cols + b,   W₂ = W reshaped (O, C·kh·kw),   Y (O, Ho·Wo·N).
Backward, with G = ∂L/∂y laid out as Y:
           ∂L/∂W₂ = G @ colsᵀ        (a correlation of the input with the upstream gradient)
           ∂L/∂b  = Σ over the columns of G
           ∂L/∂cols = W₂ᵀ @ G,   ∂L/∂x = crop(col2im(∂L/∂cols))
           (col2im scatters each window back; this is the full convolution of the
           stride-dilated G with the flipped kernel).
Columns are indexed (p, q, n), batch innermost (see `handgrad.nn.kernels`), so each
product is one matrix multiply with no transposes. The guide derives all of it
(docs/conv2d.md). `handgrad.engine.conv` computes the same numbers in cache-sized tiles
and bands.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn import init
from handgrad.nn.kernels import chwn, col2im, im2col, nchw, output_size, pad, pair
from handgrad.nn.module import Module, Parameter, check_input


class Conv2d(Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.weight = Parameter.empty((out_channels, in_channels, *self.kernel_size), dtype)
        self.bias = Parameter.empty(out_channels, dtype) if bias else None
        init.default_(self.weight, self.bias, rng)

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)

    def checked(self, x) -> tuple[np.ndarray, tuple[int, int]]:
        """The input as an array, refused if it does not fit the layer, and (Ho, Wo)."""
        x = check_input(self, x, 4, self.in_channels)
        ho, wo = self.output_shape(*x.shape[2:])
        if ho < 1 or wo < 1:
            raise ValueError(f"Conv2d: input {x.shape[2]}x{x.shape[3]} is smaller than the kernel "
                             f"{self.kernel_size} with padding {self.padding}")
        return x, (ho, wo)

    def forward(self, x):
        x, (ho, wo) = self.checked(x)
        xp = pad(chwn(x), *self.padding)                                   # (C, Hp, Wp, N)
        cols = im2col(xp, self.kernel_size, self.stride, (ho, wo))         # (C·kh·kw, Ho·Wo·N)
        y = self.weight.data.reshape(self.out_channels, -1) @ cols         # (O, Ho·Wo·N)
        if self.bias is not None:
            y += self.bias.data[:, None]
        self._save(cols, xp.shape, x.shape)
        return nchw(y.reshape(self.out_channels, ho, wo, len(x)))

    def backward(self, grad_out):
        return self._backward(grad_out, input_grad=True)

    def backward_parameters(self, grad_out) -> None:
        self._backward(grad_out, input_grad=False)

    def _backward(self, grad_out, input_grad: bool):
        cols, padded_shape, (_, _, h, w) = self._take()
        g = chwn(grad_out).reshape(self.out_channels, -1)                  # (O, Ho·Wo·N)
        weight = self.weight.data.reshape(self.out_channels, -1)           # (O, C·kh·kw)
        self.weight.accumulate((g @ cols.T).reshape(self.weight.shape), owned=True)
        if self.bias is not None:
            self.bias.accumulate(g.sum(axis=1), owned=True)
        if not input_grad:
            return None
        dxp = col2im(weight.T @ g, padded_shape, self.kernel_size, self.stride, grad_out.shape[2:])
        (ph, pw) = self.padding
        return nchw(dxp[:, ph : ph + h, pw : pw + w, :])

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")
