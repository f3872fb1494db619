"""RMSprop, as `torch.optim.RMSprop`.

For each parameter p with gradient g, learning rate lr, smoothing constant
alpha, eps, weight decay lambda and momentum mu:

    g   <- g + lambda * p                   (if lambda != 0)
    v   <- alpha * v + (1 - alpha) * g * g
    a   <- a + (1 - alpha) * (g - a)        (centered only: a lerp, as PyTorch writes it)
    avg  = sqrt(v - a * a) + eps   if centered   else   sqrt(v) + eps
    b   <- mu * b + g / avg;   p <- p - lr * b       (if mu > 0)
    p   <- p - lr * g / avg                          (otherwise)

State: `step` (int), `square_avg` (v), `momentum_buffer` (b, if mu > 0),
`grad_avg` (a, if centered), all arrays starting at zero.
"""

from __future__ import annotations

import numpy as np

from handgrad.optim.optimizer import Optimizer, lerp_


class RMSprop(Optimizer):
    """`RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)`."""

    elementwise = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        p = param.data
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        if weight_decay != 0:
            grad = grad + weight_decay * p

        square_avg = state["square_avg"]
        scratch = np.multiply(grad, 1 - alpha)
        scratch *= grad
        square_avg *= alpha
        square_avg += scratch
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, grad, 1 - alpha, scratch)
            avg = np.multiply(grad_avg, grad_avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(square_avg)
        avg += eps

        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            np.divide(grad, avg, out=scratch)
            buf += scratch
            np.multiply(buf, lr, out=scratch)
        else:
            np.multiply(grad, lr, out=scratch)
            scratch /= avg
        p -= scratch
