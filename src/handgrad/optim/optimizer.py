"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

An optimizer holds `param_groups`, a list of dicts, each with a `"params"` list
of `Parameter`s and the hyper-parameters that apply to them (`"lr"`, ...), and
`state`, a dict from `Parameter` to that parameter's running statistics.
Subclasses define `_update(param, grad, state, group)`, the in-place step of a
single parameter; `step()` calls it for every parameter whose `.grad` is set,
with denormal floats flushed to zero (see `handgrad.optim.denormals`). An
optimizer whose step is element-wise (`elementwise = True`: every one here) has
the small parameters of a group that agree in dtype and state scalars (the step
count) updated together, in one call on their concatenation: the same operations
on every element, so the same numbers, with a dozen NumPy calls per group
instead of per parameter (figures in reports/benchmarks.md).

`state_dict()` follows PyTorch's layout, with parameters replaced by their
position across all groups:

    {"state": {0: {"step": 3, "exp_avg": ndarray, ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

Its values are ndarrays, ints, floats, bools and tuples only, so the arrays go
to safetensors and the rest to JSON with no conversion.
"""

from __future__ import annotations

import copy
from itertools import chain

import numpy as np

from handgrad.nn.module import Parameter
from handgrad.optim.denormals import flush_denormals


class Optimizer:
    """Base class of every optimizer: `Optimizer(params, defaults)`.

    `params` is an iterable of `Parameter`s, or of dicts each holding a
    `"params"` iterable and hyper-parameters that override `defaults` for it.
    """

    elementwise = False  # True: `_update` treats every element alike (see the module docstring)

    def __init__(self, params, defaults: dict):
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters or dicts, not a single Parameter")
        self.defaults = defaults
        self.state: dict[Parameter, dict] = {}
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Append a group; hyper-parameters it leaves out take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, not {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError("a param group's params must be an ordered collection, not a set")
        params = [params] if isinstance(params, Parameter) else list(params)
        for param in params:
            if not isinstance(param, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, but one of the params is {type(param).__name__}")
        group = {**self.defaults, **param_group, "params": params}
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear more than once in the optimizer's param groups")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's `.grad` to None (default) or fill it with zeros in place."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    if set_to_none:
                        param.grad = None
                    else:
                        param.grad.fill(0)

    def step(self, closure=None):
        """Update every parameter that has a gradient; return `closure()` if given."""
        loss = None if closure is None else closure()
        with flush_denormals():  # decaying running averages must not slow the step down
            for group in self.param_groups:
                together: dict[tuple, list[Parameter]] = {}
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    state = self.state.setdefault(param, {})
                    if self.elementwise and param.data.size < SMALL_PARAMETER:
                        together.setdefault(_alike(param, state), []).append(param)
                    else:
                        self._update(param, param.grad, state, group)
                for params in together.values():
                    self._update_together(params, group)
        return loss

    def _update_together(self, params: list[Parameter], group: dict) -> None:
        """One `_update` on the concatenation of `params` (alike: see `_alike`), its results
        copied back in place."""
        states = [self.state[param] for param in params]
        if len(params) == 1:
            self._update(params[0], params[0].grad, states[0], group)
            return
        joint = Parameter(np.concatenate([param.data.reshape(-1) for param in params]))
        grad = np.concatenate([param.grad.reshape(-1) for param in params])
        state = {name: np.concatenate([s[name].reshape(-1) for s in states]) if isinstance(value, np.ndarray)
                 else value for name, value in states[0].items()}
        self._update(joint, grad, state, group)
        arrays = [name for name, value in state.items() if isinstance(value, np.ndarray)]
        scalars = {name: value for name, value in state.items() if name not in arrays}
        end = 0
        for param, param_state in zip(params, states):
            start, end, shape = end, end + param.data.size, param.data.shape
            param.data[...] = joint.data[start:end].reshape(shape)
            param_state.update(scalars)
            for name in arrays:
                piece = state[name][start:end].reshape(shape)
                if name in param_state:
                    param_state[name][...] = piece
                else:  # made by this step
                    param_state[name] = piece.copy()

    def _update(self, param: Parameter, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define _update()")

    # -- checkpoints ------------------------------------------------------------
    def state_dict(self) -> dict:
        """A copy of the optimizer's state, parameters replaced by their indices."""
        index = {id(p): i for i, p in enumerate(chain.from_iterable(g["params"] for g in self.param_groups))}
        groups = []
        for group in self.param_groups:
            packed = copy.deepcopy({k: v for k, v in group.items() if k != "params"})
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: _copy(v) for k, v in s.items()}
            for p, s in self.state.items()
            if s and id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a `state_dict()`: hyper-parameters and copies of the state arrays.

        Arrays are cast to their parameter's dtype; keys of `"state"` may be ints
        or their strings (as JSON writes them).
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"loaded state dict's parameter group {i} has {len(saved['params'])} parameters, "
                    f"the optimizer's has {len(group['params'])}"
                )
        params = {
            saved_id: param
            for group, saved in zip(self.param_groups, saved_groups)
            for saved_id, param in zip(saved["params"], group["params"])
        }
        state = {}
        for key, values in state_dict["state"].items():
            if int(key) not in params:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no param group lists")
            param = params[int(key)]
            state[param] = {name: _copy_into(value, param, name, key) for name, value in values.items()}
        self.state = state
        self.param_groups = [
            {**copy.deepcopy({k: v for k, v in saved.items() if k != "params"}), "params": group["params"]}
            for group, saved in zip(self.param_groups, saved_groups)
        ]


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _copy_into(value, param: Parameter, name: str, key) -> object:
    """A copy of a saved state value, arrays cast to the parameter's dtype and checked for shape."""
    if not isinstance(value, np.ndarray):
        return value
    if value.shape != param.shape:
        raise ValueError(
            f"loaded state {name!r} of parameter {key} has shape {value.shape}, the parameter has {param.shape}"
        )
    return np.array(value, dtype=param.dtype, copy=True)


SMALL_PARAMETER = 4096  # elements: smaller parameters of an element-wise optimizer are updated together
BLOCK = 1 << 16  # elements per call of `in_blocks`


def _alike(param: Parameter, state: dict) -> tuple:
    """What parameters updated together must share: dtypes, state names and scalars (state
    arrays have their parameter's dtype)."""
    return (param.data.dtype, param.grad.dtype, *state.keys(),
            *[value for value in state.values() if not isinstance(value, np.ndarray)])


def in_blocks(work, *arrays) -> None:
    """work(*pieces) for an in-place, element-wise `work`, on successive blocks of BLOCK
    elements of equally shaped C-contiguous arrays (other arrays: in one call). The same
    operations on every element, so the result is identical to one call; but the dozen
    passes of an Adam step then run over arrays in cache. Two threads on halves were slower
    in a training loop (right after a matrix multiply, whose BLAS threads keep spinning on
    the other core); figures in reports/benchmarks.md."""
    size = arrays[0].size
    if not all(a.flags.c_contiguous and a.size == size for a in arrays):
        work(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, size, BLOCK):
        work(*(a[start : start + BLOCK] for a in flat))


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """`start += weight * (end - start)` in place, computed as `torch.lerp_` does.

    Like PyTorch, a weight of 0.5 or more is applied as
    `end - (end - start) * (1 - weight)`, which is exact at weight 1.
    `scratch` is a work array of `start`'s shape and dtype.
    """
    np.subtract(end, start, out=scratch)
    if abs(weight) < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1.0 - weight
        np.subtract(end, scratch, out=start)
