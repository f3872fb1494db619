"""The batch-chunk runtime against the alternatives, on LeNet-5 training at batch 64 (Adam 1e-3,
float32, `backward_parameters`), in one process, best of rounds:

- engine, 1 process:   `handgrad.set_num_threads(1)`: the engine's kernels, no chunks, with
                       OpenBLAS's own threads (as a user gets it) and with one BLAS thread;
- engine, processes:   the default: the second chunk in a worker process (`engine.parallel`);
- engine, thread pool: the second chunk in a thread of this process, on a copy of the layers
                       that shares their parameter arrays, its gradients added in after the
                       backward pass (NumPy releases the GIL inside BLAS and most ufuncs);
- reference:           the textbook code (`handgrad.nn.reference_mode()`).

    python benchmarks/bench_runtime.py [--rounds 5] [--steps 200]

Issue 19 asks to keep the simpler design unless the other is at least 10 % faster.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

import handgrad
from handgrad import nn, optim
from handgrad.engine import Engine, parallel, plan

from bench_speed import batches, mnist, twin_models


class ThreadChunks:
    """Engine's two-chunk path with a thread instead of a worker process (for this measurement)."""

    def __init__(self, model):
        self.layers = plan.execution_order(plan.leaves(model))
        self.steps = [plan.fast(layer) for layer in self.layers]
        self.twins = [parallel.replica(layer) for layer in self.layers]  # parameter arrays shared
        self.twin_steps = [plan.fast(twin) for twin in self.twins]
        self.pool = ThreadPoolExecutor(1)

    def __call__(self, x):
        for twin, layer in zip(self.twins, self.layers):
            twin.train(layer.training)
        first, second = np.array_split(x, 2)
        future = self.pool.submit(plan.forward, self.twin_steps, second)
        return np.concatenate([plan.forward(self.steps, first), future.result()])

    def backward_parameters(self, g):
        first, second = np.array_split(g, 2)
        twin_params = [p for twin in self.twins for p in twin.parameters()]
        for p in twin_params:
            p.grad = None
        future = self.pool.submit(plan.backward_parameters, self.twin_steps, second)
        plan.backward_parameters(self.steps, first)
        future.result()
        for param, twin in zip([p for layer in self.layers for p in layer.parameters()], twin_params):
            param.accumulate(twin.grad)


def trainer(model, run):
    loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss_fn(run(x), y)
        run.backward_parameters(loss_fn.backward())
        opt.step()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    x, y = mnist("train")
    variants = {}
    for name in ("engine, 1 process", "engine, 1 process, 1 BLAS thread", "engine, processes",
                 "engine, thread pool", "reference"):
        model, _ = twin_models("lenet5", 28)
        run = ThreadChunks(model) if name == "engine, thread pool" else Engine(model)
        variants[name] = trainer(model, run)

    def timed(name):
        threads = 1 if name.startswith("engine, 1 process") else handgrad.get_num_threads()
        blas = 1 if name in ("engine, thread pool", "engine, 1 process, 1 BLAS thread") else None
        before = handgrad.get_num_threads()
        handgrad.set_num_threads(threads)
        try:
            with nn.reference_mode(name == "reference"), \
                    threadpool_limits(blas, user_api="blas"):
                start = time.perf_counter()
                for index in batches(len(x), 64, 0, args.steps):
                    variants[name](x[index], y[index])
                return time.perf_counter() - start
        finally:
            handgrad.set_num_threads(before)

    best = {name: float("inf") for name in variants}
    for _ in range(args.rounds):  # interleaved, so that a busy moment hits every variant alike
        for name in variants:
            best[name] = min(best[name], timed(name))
    base = best["engine, processes"]
    print(f"\nLeNet-5 training step at batch 64, best of {args.rounds} x {args.steps} steps "
          f"({handgrad.get_num_threads()} cores)\n\n| variant | ms a step | against processes |\n|---|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds / args.steps * 1e3:.2f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
