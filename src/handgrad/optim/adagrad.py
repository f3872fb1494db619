"""Adagrad, as `torch.optim.Adagrad`.

For each parameter p with gradient g at step t (counted per parameter, from 1),
learning rate lr, lr_decay d, weight decay lambda and eps:

    g   <- g + lambda * p                   (if lambda != 0)
    clr  = lr / (1 + (t - 1) * d)
    s   <- s + g * g
    p   <- p - clr * g / (sqrt(s) + eps)

State: `step` (int) and `sum` (s), created with every parameter (s starts at
`initial_accumulator_value`), so even parameters never stepped have state.
"""

from __future__ import annotations

import numpy as np

from handgrad.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """`Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)`."""

    elementwise = True

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        """Append a group and create its parameters' state (PyTorch fills it from the defaults)."""
        super().add_param_group(param_group)
        for param in self.param_groups[-1]["params"]:
            self.state[param] = {
                "step": 0,
                "sum": np.full_like(param.data, self.defaults["initial_accumulator_value"]),
            }

    def _update(self, param, grad, state, group):
        lr, lr_decay = float(group["lr"]), float(group["lr_decay"])
        eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
        p = param.data
        state["step"] += 1
        if weight_decay != 0:
            grad = grad + weight_decay * p
        clr = lr / (1 + (state["step"] - 1) * lr_decay)

        state_sum = state["sum"]
        scratch = np.multiply(grad, grad)
        state_sum += scratch
        std = np.sqrt(state_sum)
        std += eps
        np.multiply(grad, -clr, out=scratch)
        scratch /= std
        p += scratch
