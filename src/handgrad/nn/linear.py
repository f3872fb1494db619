"""Linear (fully connected) layer.

Forward, with x (N, in), W (out, in), b (out,):   y = x Wᵀ + b          (N, out)
Backward, with g = ∂L/∂y (N, out):
    ∂L/∂W = gᵀ x   (out, in)     ∂L/∂b = Σₙ g   (out,)     ∂L/∂x = g W   (N, in)
`handgrad.engine.dense` computes the same products transposed, to keep a batch-innermost
memory layout.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn import init
from handgrad.nn.module import Module, Parameter, check_input


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter.empty((out_features, in_features), dtype)
        self.bias = Parameter.empty(out_features, dtype) if bias else None
        init.default_(self.weight, self.bias, rng)

    def forward(self, x):
        x = check_input(self, x, 2, self.in_features)
        self._save(x)
        y = x @ self.weight.data.T                                         # (N, out)
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_out):
        (x,) = self._take()
        self.parameter_gradients(x, grad_out)
        return grad_out @ self.weight.data                                 # (N, in)

    def backward_parameters(self, grad_out) -> None:
        (x,) = self._take()
        self.parameter_gradients(x, grad_out)

    def parameter_gradients(self, x, grad_out) -> None:
        """∂L/∂W = gᵀ x and ∂L/∂b = Σₙ g, added into `.grad`."""
        self.weight.accumulate(grad_out.T @ x, owned=True)
        if self.bias is not None:
            self.bias.accumulate(grad_out.sum(axis=0), owned=True)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
