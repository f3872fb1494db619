"""Element-wise activations. Shapes: any; y and ∂L/∂x have the shape of x.

ReLU       y = max(x, 0)                  ∂L/∂x = g · [x > 0]
LeakyReLU  y = x if x > 0 else a·x        ∂L/∂x = g · (1 if x > 0 else a)
Tanh       y = tanh(x)                    ∂L/∂x = g · (1 − y²)
Sigmoid    y = 1 / (1 + e^(−x))           ∂L/∂x = g · y · (1 − y)
(Each keeps the memory layout of its input, so a CHWN-laid activation stays CHWN.)
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.module import Module


class ReLU(Module):
    def forward(self, x):
        y = np.maximum(x, 0)
        self._save(y)
        return y

    def backward(self, grad_out):
        (y,) = self._take()
        return grad_out * (y > 0)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        x = np.asarray(x)
        positive = x > 0
        self._save(positive)
        return np.where(positive, x, x * self.negative_slope)

    def backward(self, grad_out):
        (positive,) = self._take()
        return np.where(positive, grad_out, grad_out * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        y = np.tanh(x)
        self._save(y)
        return y

    def backward(self, grad_out):
        (y,) = self._take()
        return grad_out * (1 - y * y)


class Sigmoid(Module):
    def forward(self, x):
        x = np.asarray(x)
        e = np.exp(-np.abs(x))  # never overflows
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self._save(y)
        return y

    def backward(self, grad_out):
        (y,) = self._take()
        return grad_out * y * (1 - y)
