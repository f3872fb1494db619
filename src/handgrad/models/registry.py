"""The model registry: builders by name, and their keyword options.

A builder is a function whose keyword arguments, all with defaults, are the model's
options; `register(name)` records it. `build(name, **options)` converts each option to
the type of its default (so the strings of `--model-option key=value` work as well as
native values from a TOML file), lets the builder check the values, and returns the
model. Unknown names and options, and values of the wrong type, raise `ValueError`
naming them and listing the valid ones.

Conversion by the type of the default:
    bool    true/false/yes/no/on/off/1/0 (any case), or a bool
    int     "12" or an int;  float: "0.5", "1e-3" or a number
    str     as given
    tuple   "32,64" (or a single "32"), or a list/tuple; elements take the type of
            the default's first element
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from handgrad.errors import UserError
from handgrad.nn import Module

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder and the defaults of its options."""

    name: str
    builder: Callable[..., Module]
    defaults: dict


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str):
    """Decorator recording `builder` under `name`; its keyword defaults become the options."""

    def record(builder: Callable[..., Module]) -> Callable[..., Module]:
        defaults = {}
        for param in inspect.signature(builder).parameters.values():
            if param.default is inspect.Parameter.empty:
                raise TypeError(f"model builder {name!r}: option {param.name!r} needs a default")
            defaults[param.name] = param.default
        _REGISTRY[name] = ModelSpec(name, builder, defaults)
        return builder

    return record


def names() -> list[str]:
    """The registered model names, in registration order."""
    return list(_REGISTRY)


def spec(name: str) -> ModelSpec:
    """The registry entry of `name`; an unknown name raises ValueError listing the valid ones."""
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; valid models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def options(name: str) -> dict:
    """The options of model `name` with their defaults."""
    return dict(spec(name).defaults)


def resolve_options(name: str, **given) -> dict:
    """Every option of `name`: the defaults, overridden by `given` converted to their types."""
    defaults = spec(name).defaults
    unknown = [key for key in given if key not in defaults]
    if unknown:
        raise UserError(f"model {name!r}: unknown option {unknown[0]!r}; valid options: {', '.join(defaults)}")
    resolved = dict(defaults)
    for key, value in given.items():
        resolved[key] = convert(value, defaults[key], f"model {name!r}: option {key!r}")
    return resolved


def build(name: str, **options) -> Module:
    """Build model `name` with `options` (native values or strings, see the module docstring)."""
    return spec(name).builder(**resolve_options(name, **options))


def input_shape(name: str, **options) -> tuple[int, int, int]:
    """The (channels, height, width) of one input image of model `name` with `options`."""
    resolved = resolve_options(name, **options)
    return resolved["in_channels"], resolved["input_size"], resolved["input_size"]


def parse_assignments(items, what: str = "--model-option") -> dict[str, str]:
    """Turn ["key=value", ...] into {"key": "value"}; a missing "=" or a repeated key raises ValueError."""
    parsed: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise UserError(f"{what} {item!r}: expected key=value, e.g. dropout=0.5")
        if key in parsed:
            raise UserError(f"{what} {key!r} is given more than once")
        parsed[key] = value
    return parsed


def convert(value, default, where: str):
    """`value` as the type of `default` (see the module docstring); ValueError naming `where`."""
    if isinstance(default, tuple):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            items = [items]
        if not items:
            raise UserError(f"{where} expects at least one value, got {value!r}")
        element = default[0] if default else 0
        return tuple(convert(item.strip() if isinstance(item, str) else item, element, where) for item in items)
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
        elif kind is int:
            if isinstance(value, str):
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind is float:
            if isinstance(value, str):
                return float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif kind is str:
            if isinstance(value, str):
                return value
    except ValueError:
        pass
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]
    raise UserError(f"{where} expects {expected}, got {value!r}")
