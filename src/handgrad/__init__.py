"""handgrad: convolutional networks with every gradient written by hand in NumPy."""

from handgrad._random import manual_seed, default_generator

__version__ = "0.1.0"
__all__ = ["manual_seed", "default_generator", "__version__"]
