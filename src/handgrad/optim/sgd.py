"""Stochastic gradient descent with momentum, as `torch.optim.SGD`.

For each parameter p with gradient g, learning rate lr, momentum mu,
dampening tau and weight decay lambda:

    g  <- g + lambda * p                      (if lambda != 0)
    b  <- g                                   (first step: no dampening)
    b  <- mu * b + (1 - tau) * g              (later steps, if mu != 0)
    g  <- g + mu * b   if nesterov   else   b (if mu != 0)
    p  <- p - lr * g

State: `momentum_buffer` (b), only when momentum is non-zero.
"""

from __future__ import annotations

from handgrad.optim.optimizer import Optimizer


class SGD(Optimizer):
    """`SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False)`."""

    elementwise = True

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr, momentum, weight_decay = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
        dampening = float(group["dampening"])
        if weight_decay != 0:
            grad = grad + weight_decay * param.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += grad if dampening == 0 else (1.0 - dampening) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param.data -= lr * grad
