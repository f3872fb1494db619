"""The engine room: tuned kernels and the batch-chunk process runtime, behind one wrapper.

`handgrad.nn` is the textbook: each layer's math and a plain forward and backward. The
engine computes the same numbers faster, and only for a model it is given:

    from handgrad.engine import Engine
    fast = Engine(model)          # fast(x), fast.backward(g), fast.backward_parameters(g)

- `wrapper`:  Engine, which runs a model's layers by the plan, serially or in chunks;
- `plan`:     the execution order (ReLU/MaxPool2d swapped) and each layer's fast version;
- `conv`, `pooling`, `dense`: the fast versions of Conv2d, MaxPool2d, Linear and Flatten;
- `parallel`, `worker`: the batch-chunk runtime (worker processes, shared memory).

`nn` never imports the engine. `handgrad.nn.reference_mode()` (or HANDGRAD_REFERENCE=1)
turns it off: an Engine then runs the model's own forward and backward.
"""

from handgrad.engine.parallel import get_num_threads, set_num_threads
from handgrad.engine.wrapper import Engine

__all__ = ["Engine", "get_num_threads", "set_num_threads"]
