"""handgrad: convolutional networks with every gradient written by hand in NumPy."""

from handgrad._random import manual_seed, default_generator
from handgrad.engine import get_num_threads, set_num_threads

__version__ = "0.1.0"
__all__ = ["manual_seed", "default_generator", "get_num_threads", "set_num_threads", "__version__"]
