"""The base of the engine's fast layers: one textbook layer's forward and backward by
other kernels, with the same numbers.

A fast layer holds the layer it stands for, reads that layer's parameters, buffers and
settings as they are at each call (an optimizer's update, a changed setting), adds its
gradients into the layer's `.grad`, and keeps its own cache between forward and backward.
"""

from __future__ import annotations


class FastLayer:
    def __init__(self, layer):
        self.layer = layer
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def backward_parameters(self, grad_out) -> None:
        self.backward(grad_out)

    def _save(self, *items) -> None:
        self._cache = items

    def _take(self):
        """Return (and release) what forward saved; refuse a backward with no forward."""
        cache, self._cache = self._cache, None
        if cache is None:
            raise RuntimeError(f"{type(self.layer).__name__}.backward() called without a forward() before it")
        return cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layer!r})"
