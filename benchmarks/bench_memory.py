"""Peak memory (RSS) of a process training LeNet-5 for one epoch at batch 64, handgrad vs PyTorch.
handgrad's figure adds the peaks of its worker processes (which run chunks of each batch): an
upper bound on the two together.

Each framework runs in its own fresh process (`--worker NAME`), which loads the full MNIST
training set, trains one epoch with Adam and reports its peak resident set size.

    python benchmarks/bench_memory.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def worker(name: str, steps: int | None) -> None:
    """Train in this process, importing only the framework under test."""
    import time

    import numpy as np

    from handgrad.data import dataset_stats, load_dataset, to_float
    from models import lenet5

    images, labels = load_dataset("mnist", root=HERE.parent / "data", split="train")
    x, y = to_float(images, *dataset_stats(images)), labels.astype(np.int64)
    del images, labels
    order = np.random.default_rng(0).permutation(len(x))
    if name == "handgrad":
        from handgrad import nn, optim
        from handgrad.engine import Engine

        model, loss_fn = Engine(lenet5(nn)), nn.CrossEntropyLoss()
        opt = optim.Adam(model.parameters(), lr=1e-3)

        def step(xb, yb):
            opt.zero_grad()
            loss_fn(model(xb), yb)
            model.backward(loss_fn.backward())
            opt.step()
    else:
        import torch

        model, loss_fn = lenet5(torch.nn), torch.nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.from_numpy(x), torch.from_numpy(y)

        def step(xb, yb):
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    start = time.perf_counter()
    for i, begin in enumerate(range(0, len(order), 64)):
        if steps is not None and i == steps:
            break
        index = order[begin : begin + 64]
        step(x[index], y[index])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if name == "handgrad":  # and the peaks of the worker processes that ran chunks of each batch
        from handgrad.engine import parallel

        peak_mb += sum(worker_peak_kb(pid) for pid in parallel.worker_pids()) / 1024
    print(json.dumps({"framework": name, "peak_rss_mb": round(peak_mb, 1),
                      "seconds": round(time.perf_counter() - start, 2)}))


def worker_peak_kb(pid: int) -> int:
    """A process's peak resident set since it started its program (VmHWM; Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def measure(name: str, steps: int | None) -> dict:
    command = [sys.executable, __file__, "--worker", name] + (["--steps", str(steps)] if steps else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["handgrad", "torch"])
    parser.add_argument("--steps", type=int, default=None, help="train this many steps instead of an epoch")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.steps)
    ours, theirs = measure("handgrad", args.steps), measure("torch", args.steps)
    print("| process | peak RSS MB |\n|---|---:|")
    print(f"| handgrad | {ours['peak_rss_mb']:.0f} |\n| PyTorch | {theirs['peak_rss_mb']:.0f} |")
    print(f"| ratio | {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f} |")


if __name__ == "__main__":
    main()
