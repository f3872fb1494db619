"""Adam and AdamW, as `torch.optim.Adam` and `torch.optim.AdamW`.

For each parameter p with gradient g at step t (counted per parameter, from 1),
learning rate lr, betas (b1, b2), eps and weight decay lambda:

    p  <- p * (1 - lr * lambda)             (AdamW: decoupled weight decay)
    g  <- g + lambda * p                    (Adam: L2 penalty, if lambda != 0)
    m  <- m + (1 - b1) * (g - m)            (a lerp, as PyTorch writes it)
    v  <- b2 * v + (1 - b2) * g * g
    step_size = lr / (1 - b1**t)
    denom     = sqrt(v) / sqrt(1 - b2**t) + eps
    p  <- p - step_size * m / denom

The bias corrections are Python floats (float64) and the array arithmetic runs
in the parameter's dtype, in PyTorch's order, so float32 results agree with
PyTorch's to float32 rounding.

State: `step` (int), `exp_avg` (m), `exp_avg_sq` (v).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from handgrad.optim.optimizer import Optimizer, in_blocks, lerp_


class Adam(Optimizer):
    """`Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)`."""

    elementwise = True

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        p = param.data
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
        state["step"] += 1
        step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]

        if weight_decay != 0:
            if self._decoupled:
                p *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * p

        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        in_blocks(partial(_adam_step, beta1=beta1, beta2=beta2, step_size=step_size,
                          bias_correction2_sqrt=bias_correction2_sqrt, eps=eps),
                  p, grad, exp_avg, exp_avg_sq)


def _adam_step(p, grad, exp_avg, exp_avg_sq, *, beta1, beta2, step_size, bias_correction2_sqrt, eps):
    """The element-wise part of an Adam step, in place (on a whole parameter or a piece)."""
    scratch = np.empty_like(p)
    lerp_(exp_avg, grad, 1 - beta1, scratch)
    exp_avg_sq *= beta2
    np.multiply(grad, 1 - beta2, out=scratch)
    scratch *= grad
    exp_avg_sq += scratch

    denom = np.sqrt(exp_avg_sq)
    denom /= bias_correction2_sqrt
    denom += eps
    np.multiply(exp_avg, -step_size, out=scratch)
    scratch /= denom
    p += scratch


class AdamW(Adam):
    """`AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)`: Adam with decoupled weight decay."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
