"""Inverted dropout.

Train:  m ~ Bernoulli(1 − p) element-wise,  y = x · m / (1 − p),  ∂L/∂x = g · m / (1 − p)
        (scaling at train time keeps E[y] = x, so evaluation needs no change).
Eval:   y = x,  ∂L/∂x = g.

The mask keeps x where u ≥ p, u = rng.random(x.shape) drawn in the input's precision (float32
for float32 inputs, float64 otherwise): a seed gives the same mask on every run, which is what
lets a resumed run or a replayed gradient check see the masks of the first one.
"""

from __future__ import annotations

import numpy as np

from handgrad._random import resolve
from handgrad.nn.module import Module


class Dropout(Module):
    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = float(p), rng

    def forward(self, x):
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._save(None)
            return x
        keep = resolve(self.rng).random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32) >= self.p
        mask = keep.astype(x.dtype) * (1 / (1 - self.p))
        self._save(mask)
        return x * mask

    def backward(self, grad_out):
        (mask,) = self._take()
        return grad_out if mask is None else grad_out * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
