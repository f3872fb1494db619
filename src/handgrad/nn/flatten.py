"""Flatten: (N, d₁, …, d_k) → (N, d₁·…·d_k) from start_dim; backward reshapes g back.

When all the axes after the batch are flattened and the memory is batch-innermost (as
convolutions and pooling leave it: CHWN behind an NCHW shape), the result is a free
transposed view of that memory instead of a copy (Linear multiplies it as it is, and
returns its gradient laid out the same way, which goes back as a view too).
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.module import Module


def batch_last(x: np.ndarray) -> np.ndarray:
    """View (N, d₁, …, d_k) as (d₁, …, d_k, N)."""
    return x.transpose(*range(1, x.ndim), 0)


def batch_first(x: np.ndarray) -> np.ndarray:
    """View (d₁, …, d_k, N) as (N, d₁, …, d_k)."""
    return x.transpose(x.ndim - 1, *range(x.ndim - 1))


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def samples_independent(self) -> bool:
        return True

    def forward(self, x):
        x = np.asarray(x)
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        self._save(x.shape)
        if start == 1 and end == x.ndim - 1 and batch_last(x).flags.c_contiguous:
            return batch_last(x).reshape(-1, x.shape[0]).T
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])

    def backward(self, grad_out):
        (shape,) = self._take()
        if grad_out.ndim == 2 and grad_out.T.flags.c_contiguous and not grad_out.flags.c_contiguous:
            return batch_first(grad_out.T.reshape(*shape[1:], shape[0]))  # batch-innermost: a view
        return grad_out.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
