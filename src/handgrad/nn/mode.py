"""The switch between the engine and the textbook code.

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
"""

from __future__ import annotations

import os

ENVIRONMENT_VARIABLE = "HANDGRAD_REFERENCE"

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
