"""`Engine(model)`: a model run by the engine, as `torch.nn.DataParallel` wraps a module.

    fast = Engine(model)
    loss = loss_fn(fast(x), y)
    fast.backward_parameters(loss_fn.backward())     # or fast.backward(...) -> ∂L/∂x

The numbers are the model's own (to float rounding); what changes is how they are
computed. The model's layers run in execution order (`plan`), each as its fast version
(`plan.FAST`). When every layer treats samples independently and a batch holds enough work,
the batch runs in chunks on several cores (`parallel`): the numbers agree with a one-process
run to float rounding, and a run is reproducible for a given `handgrad.set_num_threads`.
In reference mode (`handgrad.nn.reference_mode()`, HANDGRAD_REFERENCE=1) the model's own
`forward` and `backward` run instead. Everything else (parameters, state_dict, train, ...)
is the model's: the wrapper holds no state of its own that a checkpoint needs.
"""

from __future__ import annotations

import numpy as np

from handgrad.engine import parallel, plan
from handgrad.nn.mode import is_reference_mode


class Engine:
    def __init__(self, module):
        self.__dict__.update(module=module, _sizes={}, _pending=None)

    def __getattr__(self, name):  # parameters(), state_dict(), training, ...: the model's
        return getattr(self.__dict__["module"], name)

    def __call__(self, x):
        return self.forward(x)

    def train(self, mode: bool = True) -> "Engine":
        self.module.train(mode)
        return self

    def eval(self) -> "Engine":
        return self.train(False)

    def forward(self, x):
        if is_reference_mode():
            self._pending = "reference"
            return self.module(x)
        layers = plan.execution_order(plan.leaves(self.module))
        steps = [plan.fast(layer) for layer in layers]
        chunks = 1
        if layers and parallel.get_num_threads() > 1 and all(map(plan.samples_independent, layers)):
            x = np.asarray(x)
            chunks = parallel.chunk_count(len(x), self._largest_activation(layers, steps, x))
        self._pending = (layers, steps, chunks)
        if chunks == 1:
            return plan.forward(steps, x)
        return np.concatenate(parallel.run_chunks("forward", layers, steps, parallel.split(x, chunks)))

    def _largest_activation(self, layers, steps, x) -> int:
        """Elements per sample of the largest array a forward pass makes, from a one-sample
        forward pass once per model and input shape (so the choice of chunks depends on
        shapes only)."""
        key = (tuple(map(id, layers)), x.shape[1:], x.dtype.str)
        if key not in self._sizes and len(x):
            out, largest = x[:1], x[:1].size
            for step in steps:
                out = step(out)
                largest = max(largest, np.size(out))
            self._sizes[key] = largest
        return self._sizes.get(key, 0)

    def backward(self, grad_out):
        return self._backward("backward", grad_out)

    def backward_parameters(self, grad_out) -> None:
        """`backward` without the gradient of the input (the first layer skips that work)."""
        self._backward("backward_parameters", grad_out)

    def _backward(self, kind: str, grad_out):
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError(f"Engine({type(self.module).__name__}).{kind}() called without a forward() before it")
        if pending == "reference":
            return getattr(self.module, kind)(grad_out)
        layers, steps, chunks = pending
        if not steps:
            return grad_out if kind == "backward" else None
        if chunks == 1:
            return plan.PASSES[kind](steps, grad_out)
        grads = parallel.run_chunks(kind, layers, steps, parallel.split(grad_out, chunks))
        return np.concatenate(grads) if kind == "backward" else None

    def __repr__(self) -> str:
        return f"Engine({self.module!r})"
