"""Flatten: (N, d₁, …, d_k) → (N, d₁·…·d_k) from start_dim to end_dim; backward reshapes
g back to the input's shape. `handgrad.engine.dense` flattens batch-innermost memory
(what convolutions and pooling hand on) without a copy.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.module import Module


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        x = np.asarray(x)
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        self._save(x.shape)
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])

    def backward(self, grad_out):
        (shape,) = self._take()
        return grad_out.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
