"""The library-wide switches: the engine or the textbook code, and building without memory.

`handgrad.engine.Engine` runs a model with tuned kernels and, for large batches, in
chunks on several cores. `reference_mode()` turns all of that off for the whole library:
an `Engine` then calls the model's own `forward` and `backward`, the plain code of each
layer file in `handgrad.nn`, so a learner can train with nothing else and step through it.

    nn.reference_mode()            # from now on
    with nn.reference_mode():      # inside the block only (the previous setting comes back)
        ...
    nn.reference_mode(False)       # the engine on again

The environment variable HANDGRAD_REFERENCE=1 starts a process in reference mode
(`HANDGRAD_REFERENCE=1 handgrad train`). The switch lives here, in `nn`, because `nn`
never imports the engine: the engine reads it.

`shapes_only()` is the other switch here: layers built inside it have parameters of the
right shapes and dtypes that hold no memory, as layers built on torch's "meta" device.
"""

from __future__ import annotations

import contextlib
import os

ENVIRONMENT_VARIABLE = "HANDGRAD_REFERENCE"

_shapes_only = False
_reference = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() not in ("", "0", "false", "no", "off")


class reference_mode:  # noqa: N801 (used as a function and as a context manager, like torch.no_grad)
    """Run every model with its textbook forward and backward (`enabled=False`: with the
    engine). Takes effect at once; used in a `with` block, the previous setting returns at
    the end of the block."""

    def __init__(self, enabled: bool = True):
        global _reference
        self.previous, _reference = _reference, bool(enabled)

    def __enter__(self) -> "reference_mode":
        return self

    def __exit__(self, *exc) -> None:
        global _reference
        _reference = self.previous


def is_reference_mode() -> bool:
    """True when the engine is off (see `reference_mode`)."""
    return _reference


@contextlib.contextmanager
def shapes_only():
    """Inside the block, new parameters are placeholders (one zero, broadcast to the
    parameter's shape: no memory) and the initialisers leave them as they are. Such a model
    can be counted and its options checked, not run: the settings' checks build the model
    this way, so checking a model too large for the machine does not fill its memory."""
    global _shapes_only
    previous, _shapes_only = _shapes_only, True
    try:
        yield
    finally:
        _shapes_only = previous


def is_shapes_only() -> bool:
    """True inside a `shapes_only()` block."""
    return _shapes_only
