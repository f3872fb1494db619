"""Batch parallelism for Sequential: the batch is cut into one chunk per thread, and each
chunk runs through its own replica of the layers at the same time.

A replica, made for each forward pass, shares the parameter arrays of the original but
has its own caches and its own `.grad`; after the backward pass the replicas' gradients
are added into the original's in a fixed order, so a run is reproducible. NumPy's array
operations and OpenBLAS's matrix multiplies release the GIL, so the chunks really run at
once; each multiply then uses one BLAS thread, the threads of the chunks use the cores.

A batch is cut only when each chunk's largest activation holds at least
`MIN_CHUNK_ELEMENTS` elements, and only when every layer's output for sample n depends on
input n alone (see `Module.samples_independent`): BatchNorm in training mode (batch
statistics) and Dropout in training mode (one random stream) keep a Sequential serial.
`set_num_threads(1)` turns it off.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

# A chunk is worth a thread when its largest activation holds at least this many elements:
# below it, the NumPy calls are too short (tens of microseconds) for two threads to gain on
# each other's hand-offs of the GIL (measured on 2 cores: LeNet-5 at batch 64 is 7% slower
# in two chunks, at batch 256 16% faster; inference at batch 1,000 32% faster).
MIN_CHUNK_ELEMENTS = 1 << 18

_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
_blas = None  # threadpoolctl's handle on the BLAS libraries, made on first use
_inside = threading.local()  # set while a thread runs a chunk: no nested parallelism


def set_num_threads(threads: int) -> None:
    """Use up to `threads` threads for a batch (1 turns batch parallelism off)."""
    global _threads, _pool
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: threads must be a positive int, got {threads!r}")
    _threads = threads
    if _pool is not None:
        _pool.shutdown()
        _pool = None


def get_num_threads() -> int:
    return _threads


def inside_chunk() -> bool:
    """True on a thread that is running one chunk of a batch (beside another one)."""
    return getattr(_inside, "active", False)


def chunk_count(batch: int, per_sample: int) -> int:
    """How many chunks to cut a batch into (1: run it serially), for a model whose largest
    activation holds `per_sample` elements per sample."""
    if _threads == 1 or inside_chunk():
        return 1
    return max(1, min(_threads, batch, batch * per_sample // MIN_CHUNK_ELEMENTS))


def run_chunks(work, *per_chunk) -> list:
    """[work(*args) for args in zip(*per_chunk)], the first on this thread, the rest on the
    pool, with one BLAS thread per call (BLAS threads competing with ours for the cores
    would spin and wait on each other)."""
    global _pool, _blas
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, _threads - 1), thread_name_prefix="handgrad")
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    jobs = list(zip(*per_chunk))
    with _blas.limit(limits=1):
        futures = [_pool.submit(_run_inside, work, args) for args in jobs[1:]]
        first = _run_inside(work, jobs[0])
        return [first] + [future.result() for future in futures]


def _run_inside(work, args):
    _inside.active = True
    try:
        return work(*args)
    finally:
        _inside.active = False


def replica(module):
    """A copy of `module` (and its submodules) that shares the parameter and buffer arrays
    but has its own caches and gradients."""
    from handgrad.nn.module import Parameter

    twin = copy.copy(module)
    object.__setattr__(twin, "_cache", None)
    object.__setattr__(twin, "_parameters", OrderedDict())
    object.__setattr__(twin, "_modules", OrderedDict())
    for name, param in module._parameters.items():
        twin._parameters[name] = Parameter(param.data)
        object.__setattr__(twin, name, twin._parameters[name])
    for name, child in module._modules.items():
        twin._modules[name] = replica(child)
        object.__setattr__(twin, name, twin._modules[name])
    return twin


def gather_gradients(module, replicas) -> None:
    """Add each replica's parameter gradients into `module`'s, replica by replica."""
    for twin in replicas:
        for param, twin_param in zip(module.parameters(), twin.parameters()):
            if twin_param.grad is not None:
                param.accumulate(twin_param.grad)


def split(x, chunks: int) -> list[np.ndarray]:
    return np.array_split(x, chunks, axis=0)
