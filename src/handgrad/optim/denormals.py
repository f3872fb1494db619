"""Flush denormal floats to zero while an optimizer updates its parameters.

A running average that keeps decaying (Adam's exp_avg for a weight whose input is zero in
every batch: m <- 0.9·m each step) falls below the smallest normal float32 (1.18e-38)
after a few hundred steps, and the CPU handles such denormal numbers in microcode, up to
a hundred times slower. In the wide CNN at batch 16, 170,000 of Adam's 421,000 exp_avg
values were denormal after 800 steps, and the step took three times as long
(reports/benchmarks.md).

Inside `flush_denormals()` the SSE unit treats denormal inputs as zero (DAZ) and writes
zero for denormal results (FTZ): on x86-64 Linux, through the C library's
fegetmode/fesetmode, for the calling thread only, restored on exit. Elsewhere it does
nothing. Such a decaying value then stops a little above 1.2e-38 (its next decrement
flushes to zero) where PyTorch's keeps sinking; the parameters, which it moves by about
lr·1e-38/eps, come out as PyTorch's to float32 rounding.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys
from contextlib import contextmanager

DAZ_FTZ = 0x0040 | 0x8000  # MXCSR bits: denormals are zero, flush to zero


class _Mode(ctypes.Structure):
    """glibc's femode_t on x86-64."""

    _fields_ = [("control_word", ctypes.c_ushort), ("reserved", ctypes.c_ushort), ("mxcsr", ctypes.c_uint)]


def _libm():
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        return libm if hasattr(libm, "fegetmode") and hasattr(libm, "fesetmode") else None
    except OSError:
        return None


_LIBM = _libm()


@contextmanager
def flush_denormals():
    """Run the block with denormal floats read and written as zero (a no-op where unsupported)."""
    saved = _Mode()
    if _LIBM is None or _LIBM.fegetmode(ctypes.byref(saved)) != 0:
        yield
        return
    flushing = _Mode(saved.control_word, saved.reserved, saved.mxcsr | DAZ_FTZ)
    _LIBM.fesetmode(ctypes.byref(flushing))
    try:
        yield
    finally:
        _LIBM.fesetmode(ctypes.byref(saved))
