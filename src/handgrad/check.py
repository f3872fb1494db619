"""Numeric gradient check for any module (or forward/backward pair), in float64.

With a random upstream gradient g, the scalar L = Σ g·f(x) has ∂L/∂x = backward(g).
Each input and parameter element is nudged by ±eps and the centred difference
(L(x + eps) − L(x − eps)) / 2·eps is compared with the analytic gradient:

    relative error = ‖analytic − numeric‖ / max(‖analytic‖ + ‖numeric‖, tiny)

A correct backward gives about 1e-9 or less; a wrong one gives 1e-2 or more.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np

from handgrad._random import default_generator
from handgrad.nn.module import Module


def _as_inputs(inputs) -> list:
    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    return [np.array(x, dtype=np.float64) if np.issubdtype(np.asarray(x).dtype, np.floating) else np.asarray(x)
            for x in inputs]


def gradcheck(module_or_fn, inputs, eps: float = 1e-6, seed: int = 0) -> "OrderedDict[str, float]":
    """Relative error of the analytic gradient of each float input and each parameter.

    `module_or_fn` is a Module (checked on a float64 copy; the original is untouched)
    or a pair `(forward, backward)` of callables: forward(*inputs) -> output and
    backward(grad_out) -> gradient of the first input (or a tuple, one per float input).
    Keys are "input" (or "input0", "input1", ... for several) and parameter names.
    Randomness inside forward (dropout) is replayed identically for every evaluation.
    """
    inputs = _as_inputs(inputs)
    if isinstance(module_or_fn, Module):
        module = copy.deepcopy(module_or_fn).double()
        forward, backward, params = module, module.backward, list(module.named_parameters())
    else:
        (forward, backward), module, params = module_or_fn, None, []
    float_inputs = [i for i, x in enumerate(inputs) if np.issubdtype(x.dtype, np.floating)]
    generators = [default_generator()]  # and each layer's own explicit generator (Dropout(rng=...))
    if module is not None:
        generators += [m.rng for m in module.modules() if isinstance(getattr(m, "rng", None), np.random.Generator)]
    start_states = [copy.deepcopy(g.bit_generator.state) for g in generators]

    def evaluate():
        for g, state in zip(generators, start_states):
            g.bit_generator.state = copy.deepcopy(state)
        return np.asarray(forward(*inputs), dtype=np.float64)

    out = evaluate()
    upstream = np.random.default_rng([seed, 2718]).standard_normal(out.shape)
    if module is not None:
        module.zero_grad()
    analytic_inputs = backward(upstream if out.ndim else float(upstream))
    if not isinstance(analytic_inputs, (tuple, list)):
        analytic_inputs = [analytic_inputs]

    def numeric(array: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(array)
        flat, flat_grad = array.reshape(-1), grad.reshape(-1)
        for k in range(flat.size):
            saved = flat[k]
            flat[k] = saved + eps
            plus = np.sum(upstream * evaluate())
            flat[k] = saved - eps
            minus = np.sum(upstream * evaluate())
            flat[k] = saved
            flat_grad[k] = (plus - minus) / (2 * eps)
        return grad

    def relative_error(a, n) -> float:
        a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
        return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-300))

    errors = OrderedDict()
    for position, index in enumerate(float_inputs):
        name = "input" if len(float_inputs) == 1 else f"input{index}"
        errors[name] = relative_error(analytic_inputs[position], numeric(inputs[index]))
    for name, param in params:
        errors[name] = relative_error(param.grad, numeric(param.data))
    evaluate()  # leave the generator where one forward pass leaves it
    return errors
