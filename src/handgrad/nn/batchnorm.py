"""Batch normalisation over (N, C) (BatchNorm1d) or (N, C, H, W) (BatchNorm2d), per channel.

Train, over the m = N (·H·W) values of each channel:
    μ = mean(x),  σ² = mean((x − μ)²) (biased),  x̂ = (x − μ) / √(σ² + ε),  y = γ·x̂ + β
    running_mean ← (1 − momentum)·running_mean + momentum·μ
    running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)   (unbiased, as PyTorch)
Eval: μ, σ² are the running statistics.
Backward, with g = ∂L/∂y:
    ∂L/∂γ = Σ g·x̂,   ∂L/∂β = Σ g,   ĝ = g·γ
    train: ∂L/∂x = (1/√(σ² + ε)) · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))
    eval:  ∂L/∂x = ĝ / √(σ² + ε)
(the compact form of the step-by-step chain through x̂, σ² and μ; see the guide).
"""

from __future__ import annotations

import numpy as np

from handgrad.nn import init
from handgrad.nn.module import Module, Parameter


class _BatchNorm(Module):
    ndim: int

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.weight = init.ones_(Parameter.empty(num_features, dtype))
        self.bias = init.zeros_(Parameter.empty(num_features, dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def _shape(self, x):
        """Reduction axes and the broadcast shape of per-channel values."""
        x = np.asarray(x)
        if x.ndim != self.ndim or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected a {self.ndim}-D input "
                             f"with {self.num_features} channels on axis 1, got shape {x.shape}")
        axes = (0,) if self.ndim == 2 else (0, 2, 3)
        return x, axes, (1, self.num_features) + (1,) * (self.ndim - 2)

    def forward(self, x):
        x, axes, shape = self._shape(x)
        if self.training:
            m = x.size // self.num_features
            if m < 2:
                raise ValueError(f"{type(self).__name__}: expected more than 1 value per channel when training, got shape {x.shape}")
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(shape)
            var = np.mean(centred * centred, axis=axes)
            self._update_running(mean, var, m)
        else:
            mean, var = self.running_mean, self.running_var
            centred = x - mean.reshape(shape)
        inv_std = (1 / np.sqrt(var + self.eps)).astype(x.dtype)
        x_hat = centred * inv_std.reshape(shape)
        self._save(x_hat, inv_std, self.training)
        return x_hat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)

    def _update_running(self, mean, var, m):
        self.num_batches_tracked += 1
        factor = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean *= 1 - factor
        self.running_mean += factor * mean
        self.running_var *= 1 - factor
        self.running_var += (factor * m / (m - 1)) * var

    def backward(self, grad_out):
        x_hat, inv_std, trained = self._take()
        _, axes, shape = self._shape(grad_out)
        self.weight.accumulate(np.sum(grad_out * x_hat, axis=axes), owned=True)
        self.bias.accumulate(np.sum(grad_out, axis=axes), owned=True)
        g_hat = grad_out * (self.weight.data * inv_std).reshape(shape)
        if not trained:
            return g_hat
        return g_hat - g_hat.mean(axis=axes).reshape(shape) - x_hat * np.mean(g_hat * x_hat, axis=axes).reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    ndim = 2


class BatchNorm2d(_BatchNorm):
    ndim = 4
