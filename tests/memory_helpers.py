"""Measuring what a call allocates, for the tests that a large model is checked without its memory."""

import tracemalloc


def peak_allocation(call, *args) -> int:
    """The most bytes Python and NumPy held at once during `call(*args)`, beyond what they held before.
    An exception of `call` propagates (the measurement stops either way)."""
    tracemalloc.start()
    try:
        call(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
