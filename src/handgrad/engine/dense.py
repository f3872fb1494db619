"""Flatten and Linear on batch-innermost memory: the numbers of `handgrad.nn.flatten` and
`handgrad.nn.linear` with no copy between the convolutional part of a model and its
classifier.

Convolutions and pooling hand on CHWN memory behind an NCHW shape. Flattening all the axes
after the batch of such an array is a free transposed view of it, (d, N) memory behind an
(N, d) shape, instead of a copy. Linear then computes y = (W xᵀ)ᵀ, for which xᵀ is that
contiguous memory (OpenBLAS is also faster at W (out, in) @ xᵀ (in, N) than at x @ Wᵀ for a
thin batch), and sends ∂L/∂x back the same way, (Wᵀ gᵀ)ᵀ, which Flatten's backward turns
into a CHWN view again, so the layers before it keep working on contiguous memory.
"""

from __future__ import annotations

import numpy as np

from handgrad.engine.fast import FastLayer
from handgrad.nn.module import check_input


def batch_last(x: np.ndarray) -> np.ndarray:
    """View (N, d₁, …, d_k) as (d₁, …, d_k, N)."""
    return x.transpose(*range(1, x.ndim), 0)


def batch_first(x: np.ndarray) -> np.ndarray:
    """View (d₁, …, d_k, N) as (N, d₁, …, d_k)."""
    return x.transpose(x.ndim - 1, *range(x.ndim - 1))


def batch_innermost(x: np.ndarray) -> bool:
    """True when a 2-D (N, d) array is the transposed view of contiguous (d, N) memory."""
    return x.T.flags.c_contiguous and not x.flags.c_contiguous


class FastFlatten(FastLayer):
    def forward(self, x):
        flatten, x = self.layer, np.asarray(x)
        start, end = flatten.start_dim % x.ndim, flatten.end_dim % x.ndim
        self._save(x.shape)
        if start == 1 and end == x.ndim - 1 and batch_last(x).flags.c_contiguous:
            return batch_last(x).reshape(-1, x.shape[0]).T
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])

    def backward(self, grad_out):
        (shape,) = self._take()
        if grad_out.ndim == 2 and batch_innermost(grad_out):
            return batch_first(grad_out.T.reshape(*shape[1:], shape[0]))  # a view
        return grad_out.reshape(shape)


class FastLinear(FastLayer):
    def forward(self, x):
        linear = self.layer
        x = check_input(linear, x, 2, linear.in_features)
        self._save(x)
        y = (linear.weight.data @ x.T).T
        if linear.bias is not None:
            y += linear.bias.data
        return y

    def backward(self, grad_out):
        (x,) = self._take()
        self.layer.parameter_gradients(x, grad_out)
        if batch_innermost(x):  # so is ∂L/∂x
            return (self.layer.weight.data.T @ grad_out.T).T
        return grad_out @ self.layer.weight.data

    def backward_parameters(self, grad_out) -> None:
        (x,) = self._take()
        self.layer.parameter_gradients(x, grad_out)
