"""Weight initialisers, in place, as `torch.nn.init` names them.

Each takes a Parameter (or ndarray), fills it from `rng` (default: handgrad's global
generator, see `handgrad.manual_seed`) in its own dtype, and returns it; inside
`mode.shapes_only()` it leaves it as it is (a placeholder has no memory to fill).
fan_in = in_channels·kh·kw (or in_features), fan_out = out_channels·kh·kw.
"""

from __future__ import annotations

import math

import numpy as np

from handgrad._random import resolve
from handgrad.nn.mode import is_shapes_only


def _array(param) -> np.ndarray:
    return param.data if hasattr(param, "data") and isinstance(param.data, np.ndarray) else param


def _fill(param, draw):
    """Write `draw(shape)` into `param`, cast to its dtype (nothing is drawn inside shapes_only)."""
    if not is_shapes_only():
        array = _array(param)
        array[...] = draw(array.shape)  # the assignment casts to the array's dtype
    return param


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gains."""
    if nonlinearity in ("linear", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fan(param, mode: str) -> int:
    fan_in, fan_out = fans(_array(param).shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def uniform_(param, a: float = 0.0, b: float = 1.0, rng=None):
    """U(a, b)."""
    return _fill(param, lambda shape: resolve(rng).uniform(a, b, shape))


def normal_(param, mean: float = 0.0, std: float = 1.0, rng=None):
    """N(mean, std²)."""
    return _fill(param, lambda shape: resolve(rng).normal(mean, std, shape))


def zeros_(param):
    return _fill(param, lambda shape: 0)


def ones_(param):
    return _fill(param, lambda shape: 1)


def kaiming_uniform_(param, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None):
    """U(−b, b), b = gain·√(3 / fan)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(param, mode))
    return uniform_(param, -bound, bound, rng)


def kaiming_normal_(param, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None):
    """N(0, std²), std = gain / √fan (He initialisation)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(param, mode))
    return normal_(param, 0.0, std, rng)


def xavier_uniform_(param, gain: float = 1.0, rng=None):
    """U(−b, b), b = gain·√(6 / (fan_in + fan_out)) (Glorot)."""
    fan_in, fan_out = fans(_array(param).shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound, rng)


def xavier_normal_(param, gain: float = 1.0, rng=None):
    """N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(_array(param).shape)
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def lecun_uniform_(param, rng=None):
    """U(−2.4/fan_in, 2.4/fan_in), the form of LeCun et al. (1998) used by LeNet-5."""
    fan_in, _ = fans(_array(param).shape)
    return uniform_(param, -2.4 / fan_in, 2.4 / fan_in, rng)


def default_(weight, bias=None, rng=None):
    """PyTorch's default for Linear and Conv2d: kaiming_uniform_(a=√5), bias U(±1/√fan_in)."""
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        bound = 1 / math.sqrt(fans(_array(weight).shape)[0])
        uniform_(bias, -bound, bound, rng)


he_normal_ = kaiming_normal_
he_uniform_ = kaiming_uniform_
