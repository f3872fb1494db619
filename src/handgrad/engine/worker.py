"""A worker process of `handgrad.engine.parallel`: `python -m handgrad.engine.worker FD`.

It says ("ready",) once imported, then answers requests on the socket FD until the other
side closes it:
  ("layers", layers, slots, x_offset, dx_offset, size) + a memfd
        keep these layers; their parameters and buffers live in the shared block (no reply)
  ("forward", errors, training flags, shape, dtype, early)
                                              the input is in the block -> ("ok", output);
                                              the parameters of the layers after the first
                                              `early` are copied in meanwhile, and
  ("arrays",)                                 says they are there (sent only when there are
                                              such layers)
  ("backward" | "backward_parameters", errors, g)
                                              -> ("ok", which gradients it wrote to the
                                              block); the input's gradient goes to the block
An exception goes back as ("error", exception), and the caller raises it. `errors` is the
caller's `np.geterr()`: "raise" is kept, warnings are left to the caller's own chunk (one
process prints them, not two).
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import socket
import sys

import numpy as np

import handgrad
from handgrad.engine import parallel, plan


class Chunk:
    """The layers this worker runs (by their fast versions), on views of the shared block."""

    def __init__(self, sock, layers, slots, x_offset, dx_offset, size, fd):
        self.sock, self.block = sock, mmap.mmap(fd, size)
        self.layers, self.x_offset, self.dx_offset = layers, x_offset, dx_offset
        views = [parallel.view(self.block, offset, *spec) for offset, spec in slots]
        owners = parallel.shared_arrays(layers)
        for (owner, name), shared in zip(owners, views):
            object.__setattr__(owner, name, shared)
        self.steps = [plan.fast(layer) for layer in layers]
        self.modules = parallel.all_modules(layers)
        self.params, self.grads = parallel.parameters_of(layers), views[len(owners):]

    def forward(self, flags, shape, dtype, early):
        for module, flag in zip(self.modules, flags):
            object.__setattr__(module, "training", flag)
        x = parallel.view(self.block, self.x_offset, shape, dtype)
        try:
            x = plan.forward(self.steps[:early], x)
        finally:
            if early < len(self.layers):  # the other layers' arrays are being copied in
                message, _ = parallel.receive(self.sock)
                if message != ("arrays",):
                    raise RuntimeError(f"handgrad worker: expected the layers' arrays, got {message[0]!r}")
        return plan.forward(self.steps[early:], x)

    def backward(self, kind, grad_out):
        for param in self.params:
            param.grad = None
        grad_in = plan.PASSES[kind](self.steps, grad_out)
        if grad_in is not None:
            np.copyto(parallel.view(self.block, self.dx_offset, grad_in.shape, grad_in.dtype), grad_in)
        for param, shared in zip(self.params, self.grads):
            if param.grad is not None:
                np.copyto(shared, param.grad)
        return [param.grad is not None for param in self.params]


def serve(sock: socket.socket) -> None:
    handgrad.set_num_threads(1)  # a chunk is never cut again
    parallel.send(sock, ("ready",))
    chunk, failure = None, RuntimeError("handgrad worker: backward() called without a forward() before it")
    while True:
        try:
            message, fds = parallel.receive(sock)
        except (EOFError, OSError):  # the caller closed the socket, or died (SIGKILL: ConnectionResetError)
            return
        kind, *args = message
        try:
            if kind == "layers":  # no reply: a forward request follows at once
                chunk, failure = None, None
                chunk = Chunk(sock, *args, fds[0])
                continue
            if chunk is None:
                raise failure
            errors, *args = args
            with np.errstate(**{case: "raise" if errors[case] == "raise" else "ignore" for case in errors}):
                reply = ("ok", chunk.forward(*args) if kind == "forward" else chunk.backward(kind, *args))
        except Exception as error:
            if kind == "layers":
                failure = error  # reported at the forward request that follows
                continue
            reply = ("error", error)
        finally:
            for fd in fds:
                os.close(fd)
        try:
            try:
                parallel.send(sock, reply)
            except (pickle.PicklingError, TypeError, AttributeError):  # an exception that does not pickle
                parallel.send(sock, ("error", RuntimeError(repr(reply[1]))))
        except OSError:  # the caller has closed the connection
            return


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle; it closes the socket
    try:
        serve(socket.socket(fileno=int(sys.argv[1])))
    except OSError:  # the caller died while this worker was talking to it: nobody is left to tell
        pass
