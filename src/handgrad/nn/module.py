"""Parameter, Module and Sequential: the contract every layer follows.

A module computes `forward(x)` and keeps what its backward needs in an explicit
cache; `backward(grad_out)` consumes that cache, accumulates into each
parameter's `.grad` (as PyTorch does) and returns the gradient of the input.
Parameters, buffers and submodules are found by attribute, so state-dict keys
are PyTorch's (`"0.weight"`, `"features.3.running_mean"`, ...).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from handgrad.nn.mode import is_shapes_only


class Parameter:
    """A trainable array: `.data`, and `.grad` (None until the first backward)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad: np.ndarray | None = None

    @classmethod
    def empty(cls, shape, dtype=np.float32) -> "Parameter":
        """An uninitialised parameter; inside `mode.shapes_only()` a placeholder with no memory."""
        if is_shapes_only():
            return cls(np.broadcast_to(np.zeros((), dtype=dtype), shape))
        return cls(np.empty(shape, dtype=dtype))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def accumulate(self, grad: np.ndarray, owned: bool = False) -> None:
        """Add `grad` into `.grad`, allocating it on the first call; `owned` says that `grad`
        is a new array no one else holds, which then becomes `.grad` without a copy when it is
        C-contiguous and of the parameter's dtype (layers pass the arrays they just made)."""
        if self.grad is None:
            fits = grad.dtype == self.data.dtype and grad.flags.c_contiguous and grad.shape == self.data.shape
            self.grad = grad if owned and fits else np.array(grad, dtype=self.data.dtype, order="C", copy=True)
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and model."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    # -- registration -------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # assigning to a buffer (also `self.buf += 1`) keeps it a buffer, as in PyTorch
            object.__setattr__(self, name, np.asarray(value))
            return
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """A state array that is saved and loaded but not trained (running statistics)."""
        object.__setattr__(self, name, np.asarray(value))
        self._buffers[name] = None  # the array itself lives in the attribute

    # -- the computation ----------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, grad_out):
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def backward_parameters(self, grad_out) -> None:
        """`backward` without the gradient of the input: only the parameters' `.grad` are
        accumulated. A training loop whose input is data (which needs no gradient, as in
        PyTorch, where inputs do not require grad) calls this to skip that work."""
        self.backward(grad_out)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _save(self, *items) -> None:
        object.__setattr__(self, "_cache", items)  # not a parameter, buffer or module

    def _take(self):
        """Return (and release) what forward saved; refuse a backward with no forward."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called without a forward() before it")
        object.__setattr__(self, "_cache", None)
        return cache

    # -- traversal ------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules(prefix):
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # -- state ----------------------------------------------------------------
    def _state_slots(self) -> Iterator[tuple[str, "Module", str]]:
        """(key, owning module, attribute) for parameters then buffers, module by module, as PyTorch orders them."""
        for module_name, module in self.named_modules():
            dot = f"{module_name}." if module_name else ""
            for name in module._parameters:
                yield dot + name, module, name
            for name in module._buffers:
                yield dot + name, module, name

    @staticmethod
    def _array_of(module: "Module", attr: str) -> np.ndarray:
        value = getattr(module, attr)
        return value.data if isinstance(value, Parameter) else value

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Name → copy of every parameter and buffer, with PyTorch's keys."""
        return OrderedDict((key, self._array_of(m, a).copy()) for key, m, a in self._state_slots())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the existing arrays (cast to their dtype).

        Refuses, naming them, keys that are missing or unexpected (when strict) and
        values whose shape does not fit. Returns (missing_keys, unexpected_keys).
        """
        missing, unexpected = self.check_state_dict(state_dict, strict)
        for key, module, attr in self._state_slots():
            if key in state_dict:
                np.copyto(self._array_of(module, attr), np.asarray(state_dict[key]), casting="unsafe")
        return missing, unexpected

    def check_state_dict(self, state_dict, strict: bool = True):
        """The checks of `load_state_dict`, copying nothing: a ValueError naming the keys that are
        missing or unexpected (when strict) and the values whose shape does not fit; else
        (missing_keys, unexpected_keys). Works on a model built under `mode.shapes_only()`."""
        slots = {key: (m, a) for key, m, a in self._state_slots()}
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict if k not in slots]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        for key, (module, attr) in slots.items():
            if key in state_dict:
                value, target = np.asarray(state_dict[key]), self._array_of(module, attr)
                if value.shape != target.shape:
                    problems.append(f"{key}: shape {value.shape} in the state dict, {target.shape} in the model")
        if problems:
            raise ValueError(f"cannot load state dict into {type(self).__name__}: " + "; ".join(problems))
        return missing, unexpected

    def to(self, dtype) -> "Module":
        """Cast every parameter and floating-point buffer to `dtype`."""
        dtype = np.dtype(dtype)
        for module in self.modules():
            for param in module._parameters.values():
                param.data = param.data.astype(dtype)
                if param.grad is not None:
                    param.grad = param.grad.astype(dtype)
            for name in module._buffers:
                value = getattr(module, name)
                if np.issubdtype(value.dtype, np.floating):
                    object.__setattr__(module, name, value.astype(dtype))
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # -- display --------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def check_input(layer: Module, x, ndim: int, channels: int, axis: int = 1) -> np.ndarray:
    """Refuse inputs of the wrong rank, width or dtype with a message naming the layer."""
    x = np.asarray(x)
    name = type(layer).__name__
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D input, got shape {x.shape}")
    if x.shape[axis] != channels:
        raise ValueError(f"{name}: expected {channels} features/channels on axis {axis}, got shape {x.shape}")
    if x.dtype != layer.weight.dtype:
        raise TypeError(f"{name}: input dtype {x.dtype} does not match weight dtype {layer.weight.dtype} "
                        f"(cast the input, or the model with .to(dtype))")
    return x


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ... as in PyTorch.

    forward: x → m₀(x) → m₁(m₀(x)) → …;  backward: the chain rule in reverse order, each
    module's `backward` turning the gradient of its output into that of its input.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {index} is {type(module).__name__}, not a Module")
            setattr(self, str(index), module)

    def append(self, module: Module) -> "Sequential":
        setattr(self, str(len(self)), module)
        return self

    def forward(self, x):
        modules = list(self)
        for module in modules:
            x = module(x)
        self._save(modules)  # the modules that ran, for backward
        return x

    def backward(self, grad_out):
        (modules,) = self._take()
        for module in reversed(modules):
            grad_out = module.backward(grad_out)
        return grad_out

    def backward_parameters(self, grad_out) -> None:
        """Backward through every module; the first skips the gradient of its input."""
        (modules,) = self._take()
        for module in reversed(modules[1:]):
            grad_out = module.backward(grad_out)
        if modules:
            modules[0].backward_parameters(grad_out)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            part = Sequential()
            for name, module in list(self._modules.items())[index]:
                setattr(part, name, module)
            return part
        return list(self._modules.values())[index]
