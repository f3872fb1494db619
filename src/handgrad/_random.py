"""The library's global random number generator (init, dropout).

`manual_seed(seed)` reseeds it; layers and initialisers also accept an explicit
`numpy.random.Generator`, which takes precedence.
"""

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed handgrad's global generator; the same seed gives the same numbers."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The global generator used when no explicit one is given."""
    return _generator


def resolve(rng: np.random.Generator | None) -> np.random.Generator:
    return _generator if rng is None else rng
