"""The batch-chunk runtime of `Engine`: the batch is cut into one chunk per core; the first
chunk runs in this process, each other one in a worker process (`handgrad.engine.worker`) that
holds its own copy of the layers.

Processes, not threads: a training step is hundreds of NumPy calls of tens of microseconds,
and threads of one process wait for each other's GIL at every one of them (measured in
reports/benchmarks.md). A worker is a fresh Python
(`python -m handgrad.engine.worker`, never a fork: it runs none of the caller's script and
inherits none of its threads), started on first use and kept until the process exits.

Each worker shares one block of memory (a memfd) with this process: the parameters and
buffers, copied in at every forward pass (so an optimizer's in-place update reaches every
chunk; the worker starts on its first layers while the bulk of them is still being copied);
the parameter gradients of its chunk, added into the original's `.grad` after the backward
pass, worker by worker (so a run is reproducible for a given thread count, and
equal to a one-process run to float rounding); its chunk of the input and the input's
gradient. Outputs and their gradients, small in a classifier, travel through a socket.
While chunks run, each process multiplies with one BLAS thread.

A batch is cut only when each chunk's largest activation holds at least `MIN_CHUNK_ELEMENTS`
elements, and only when every layer's output for sample n depends on input n alone (see
`plan.samples_independent`): BatchNorm in training mode (batch statistics) and Dropout in
training mode (one random stream) keep a model serial. `set_num_threads(1)` turns it
off; so does a platform without `os.memfd_create` (Linux has it), and a worker that cannot
start (with one warning).
"""

from __future__ import annotations

import atexit
import copy
import mmap
import os
import pickle
import socket
import struct
import subprocess
import sys
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from handgrad.engine import plan
from handgrad.nn.module import Parameter

# A batch is cut when each chunk's largest activation would hold at least this many elements:
# below it, the round trips to the worker and the copies of the parameters cost more than
# the halved work saves (LeNet-5 at batch 64 is above it, the wide CNN at batch 8 below).
MIN_CHUNK_ELEMENTS = 1 << 17
SPIN_SECONDS = 0.05  # how long a process waiting for the other polls before it sleeps
ALIGN = 64  # bytes: every array in a shared block starts on a cache line
PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT  # a poll for data (combined once: `|` on these flags is slow)

SUPPORTED = hasattr(os, "memfd_create") and hasattr(socket, "send_fds")
WORKER_COMMAND = [sys.executable, "-m", "handgrad.engine.worker"]  # + the socket's file descriptor
STARTUP_SECONDS = 60  # a new worker must say it is ready within this time
_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_workers: list["Worker"] = []
_unavailable = False  # set when a worker process could not be started: no more chunks
_blas = None  # threadpoolctl's handle on the BLAS libraries, made on first use


def set_num_threads(threads: int) -> None:
    """Use up to `threads` cores for a batch (1 turns batch parallelism off; workers already
    started wait, idle, until they are needed again or the process exits)."""
    global _threads
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: threads must be a positive int, got {threads!r}")
    _threads = threads


def get_num_threads() -> int:
    return _threads


def chunk_count(batch: int, per_sample: int) -> int:
    """How many chunks to cut a batch into (1: run it serially), for a model whose largest
    activation holds `per_sample` elements per sample."""
    if _threads == 1 or not SUPPORTED or _unavailable:
        return 1
    return max(1, min(_threads, batch, batch * per_sample // MIN_CHUNK_ELEMENTS))


def split(x, chunks: int) -> list[np.ndarray]:
    return np.array_split(x, chunks, axis=0)


def run_chunks(kind: str, layers: list, steps: list, parts: list[np.ndarray]) -> list:
    """`kind` ("forward", "backward" or "backward_parameters") of `layers` on each part: the
    first here (by `steps`, the layers' fast versions), the others in worker processes at
    the same time. After a backward pass the workers' parameter gradients are added into the
    layers' `.grad`, worker by worker."""
    global _blas
    if kind == "forward":  # replace workers that died, and those a fork of their owner inherited
        _workers[:] = [w for w in _workers if w.owner == os.getpid() and w.process.poll() is None]
    global _unavailable
    try:
        while len(_workers) < len(parts) - 1:
            _workers.append(Worker())
    except WorkerUnavailable as error:
        warnings.warn(f"handgrad: {error}; batches run in one process from now on", RuntimeWarning, stacklevel=2)
        _unavailable = True
        return [plan.PASSES[kind](steps, np.concatenate(parts))]
    workers = _workers[: len(parts) - 1]
    for worker, part in zip(workers, parts[1:]):
        worker.send_job(kind, layers, part)
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    try:
        with _blas.limit(limits=1):  # one BLAS thread per process: the processes share the cores
            first = plan.PASSES[kind](steps, parts[0])
    finally:
        try:
            replies = [worker.receive_result(kind) for worker in workers]
        except BaseException:  # interrupted while a reply was pending: these workers are out of step
            close_workers()
            raise
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return [first] + replies


# -- what a worker's copy of the layers shares with the original -----------------------------

def shared_arrays(layers: list) -> list[tuple[object, str]]:
    """(owner, attribute) of every parameter's data and every buffer of `layers`, in a fixed
    order (the same in this process and in a worker)."""
    slots = []
    for layer in layers:
        for module in layer.modules():
            slots += [(param, "data") for param in module._parameters.values()]
            slots += [(module, name) for name in module._buffers]
    return slots


def early_layers(layer_bytes: list[int]) -> int:
    """How many of the first layers a worker may run before the arrays of the others reach the
    shared block: those before the layers that hold at least half of all the bytes (the
    wide CNN's convolutions; its first linear layer, most of the bytes, is copied while the
    worker runs them). All of them when that leaves none to run early."""
    total, rest, early = sum(layer_bytes), sum(layer_bytes), 0
    while early < len(layer_bytes) and 2 * (rest - layer_bytes[early]) >= total > 0:
        rest -= layer_bytes[early]
        early += 1
    return early or len(layer_bytes)


def parameters_of(layers: list) -> list:
    return [param for layer in layers for param in layer.parameters()]


def all_modules(layers: list) -> list:
    return [module for layer in layers for module in layer.modules()]


def settings(modules: list) -> list[tuple[object, str, object]]:
    """(module, name, value) of the plain settings of every module (kernel_size, p, ...): what
    a worker's copy of the modules must match."""
    return [(m, name, value) for m in modules for name, value in vars(m).items()
            if not name.startswith("_") and name != "training" and isinstance(value, (bool, int, float, str, tuple))]


def layout(sizes: list[int]) -> tuple[list[int], int]:
    """Offsets of blocks of these byte sizes laid one after another, ALIGN-aligned, and the total."""
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += -(-size // ALIGN) * ALIGN
    return offsets, max(total, ALIGN)


def view(block: mmap.mmap, offset: int, shape, dtype) -> np.ndarray:
    return np.ndarray(shape, dtype=np.dtype(dtype), buffer=block, offset=offset)


def replica(module):
    """A copy of `module` and its submodules without their caches (what a worker receives)."""
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


# -- messages over a Unix socket: an 8-byte length, then a pickle (internal only) ------------

def send(sock: socket.socket, message, fds: tuple[int, ...] = ()) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    header = struct.pack("<Q", len(data))
    if fds:
        socket.send_fds(sock, [header], list(fds))
        sock.sendall(data)
    else:
        sock.sendall(header + data)


def receive(sock: socket.socket, spin: float = SPIN_SECONDS):
    """(message, fds received with it); EOFError when the other side has closed. Polls for up
    to `spin` seconds before it blocks: waking a process that sleeps costs far more than a
    poll, and a LeNet-5 step has four such waits."""
    deadline = time.perf_counter() + spin
    while time.perf_counter() < deadline:
        try:
            sock.recv(1, PEEK)
            break
        except BlockingIOError:
            pass
    header, fds, _, _ = socket.recv_fds(sock, 8, 4)
    if not header:
        raise EOFError("the other process closed the connection")
    header += _exactly(sock, 8 - len(header))
    return pickle.loads(_exactly(sock, struct.unpack("<Q", header)[0])), fds


def _exactly(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    buffer, done = memoryview(data), 0
    while done < size:
        got = sock.recv_into(buffer[done:])
        if not got:
            raise EOFError("the other process closed the connection")
        done += got
    return data


class Plan:
    """The shared block of one worker for one set of layers and inputs up to `capacity` bytes:
    views of the parameters and buffers, the gradients, the input chunk and its gradient."""

    def __init__(self, layers: list, capacity: int):
        self.layers, self.modules = list(layers), all_modules(layers)
        self.settings = settings(self.modules)
        self.owners = shared_arrays(layers)
        self.arrays = [getattr(owner, name) for owner, name in self.owners]
        self.params = parameters_of(layers)
        self.capacity = capacity
        specs = [(a.shape, a.dtype.str) for a in self.arrays] + [(p.shape, p.dtype.str) for p in self.params]
        offsets, self.size = layout([int(np.prod(s)) * np.dtype(d).itemsize for s, d in specs] + [capacity] * 2)
        self.slots = list(zip(offsets, specs))
        self.x_offset, self.dx_offset = offsets[-2:]
        self.early_layers = early_layers([sum(getattr(owner, name).nbytes for owner, name in shared_arrays([layer]))
                                          for layer in layers])
        self.early_arrays = len(shared_arrays(layers[: self.early_layers]))

    def holds(self, layers: list) -> bool:
        """True when `layers` are the layers (and submodules) of this plan, with the same
        arrays and settings."""
        modules = all_modules(layers)
        return (len(modules) == len(self.modules) and all(a is b for a, b in zip(modules, self.modules))
                and all(getattr(o, n) is a for (o, n), a in zip(self.owners, self.arrays))
                and all(getattr(m, name) == value for m, name, value in self.settings))

    def fits(self, layers: list, part: np.ndarray) -> bool:
        return part.nbytes <= self.capacity and self.holds(layers)

    def attach(self, block: mmap.mmap) -> None:
        self.block = block
        views = [view(block, offset, *spec) for offset, spec in self.slots]
        self.shared, self.grads = views[: len(self.arrays)], views[len(self.arrays):]


class WorkerUnavailable(RuntimeError):
    """A worker process could not be started (the caller then runs batches alone)."""


class Worker:
    """One worker process, with the plan of the layers it last received."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   # glibc: keep freed memory for the next step instead of returning it and
                   # faulting it in again (page faults would take a large part of a LeNet-5 step)
                   MALLOC_MMAP_THRESHOLD_=str(32 << 20), MALLOC_TRIM_THRESHOLD_=str(256 << 20),
                   PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        try:
            self.process = subprocess.Popen([*WORKER_COMMAND, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                                            env=env, stdin=subprocess.DEVNULL)
        except OSError as error:
            raise WorkerUnavailable(f"could not start a worker process: {error}") from None
        finally:
            theirs.close()
        self.sock, self.owner = ours, os.getpid()
        ours.settimeout(STARTUP_SECONDS)
        try:
            receive(ours, spin=0)  # its "ready", once its imports are done
        except (EOFError, OSError) as error:
            self.process.kill()
            raise WorkerUnavailable(f"a worker process did not start ({error or 'it exited'})") from None
        ours.settimeout(None)
        self.plan: Plan | None = None
        self.failure: BaseException | None = None  # a request that could not be sent
        self.part_shape = None

    def send_job(self, kind: str, layers: list, part: np.ndarray) -> None:
        try:
            self._send_job(kind, layers, part)
        except OSError as error:  # the worker has gone
            self.plan, self.failure = None, RuntimeError(f"handgrad worker process failed: {error}")

    def _send_job(self, kind: str, layers: list, part: np.ndarray) -> None:
        plan = self.plan
        if kind != "forward":
            send(self.sock, (kind, np.geterr(), part))
            return
        part = np.ascontiguousarray(part)
        if plan is None or not plan.fits(layers, part):
            plan = self._install(layers, max(part.nbytes, plan.capacity if plan and plan.holds(layers) else 0))
        early = plan.early_arrays  # the arrays of the layers the worker may run before the others arrive
        for shared, array in zip(plan.shared[:early], plan.arrays[:early]):
            np.copyto(shared, array)
        np.copyto(view(plan.block, plan.x_offset, part.shape, part.dtype), part)
        self.part_shape = part.shape, part.dtype.str
        send(self.sock, ("forward", np.geterr(), [m.training for m in plan.modules], part.shape, part.dtype.str,
                         plan.early_layers))
        if early == len(plan.arrays):
            return
        try:
            for shared, array in zip(plan.shared[early:], plan.arrays[early:]):
                np.copyto(shared, array)
            send(self.sock, ("arrays",))  # the worker waits for this before its later layers
        except BaseException:  # interrupted: the worker waits for arrays that will not come
            close_workers()
            raise

    def _install(self, layers: list, capacity: int) -> Plan:
        """Send a copy of the layers (without their caches) and a new shared block for them."""
        plan = Plan(layers, capacity)
        fd = os.memfd_create("handgrad-chunk")
        try:
            os.ftruncate(fd, plan.size)
            plan.attach(mmap.mmap(fd, plan.size))
            send(self.sock, ("layers", [replica(layer) for layer in layers], plan.slots,
                             plan.x_offset, plan.dx_offset, plan.size), fds=(fd,))
        finally:
            os.close(fd)
        self.plan = plan
        return plan

    def receive_result(self, kind: str):
        """The worker's result for its part, or the exception it raised (to be re-raised)."""
        if self.failure is not None:
            failure, self.failure = self.failure, None
            return failure
        try:
            (status, result), _ = receive(self.sock)
        except (EOFError, OSError) as error:
            self.plan = None
            return RuntimeError(f"handgrad worker process failed: {error}")
        if status == "error" or kind == "forward":
            return result
        for param, grad, has in zip(self.plan.params, self.plan.grads, result):
            if has:
                param.accumulate(grad)
        if kind == "backward_parameters":
            return None
        return view(self.plan.block, self.plan.dx_offset, *self.part_shape).copy()

    def close(self) -> None:
        self.sock.close()  # the worker sees the end of its input and exits
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def worker_pids() -> list[int]:
    """Process ids of the running workers (for tools that measure them)."""
    return [worker.process.pid for worker in _workers if worker.process.poll() is None]


@atexit.register
def close_workers() -> None:
    """Stop the worker processes (a later batch starts them again)."""
    while _workers:
        _workers.pop().close()
