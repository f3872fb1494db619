"""handgrad against PyTorch on this CPU, side by side in one process.

Each measurement alternates the two frameworks over several rounds and keeps the best
round of each, so the ratio (handgrad / PyTorch; below 1 means handgrad is faster) is
robust to a noisy, shared machine. Both train the same model from the same initial
weights on the same batches with the user-level loop (forward, loss, backward, Adam).

    python benchmarks/bench_speed.py                 # the table of reports/benchmarks.md
    python benchmarks/bench_speed.py --quick         # fewer steps, for a quick look
    python benchmarks/bench_speed.py --goals         # only the speed goals, with the reference path
    python benchmarks/bench_speed.py --layers        # per-layer forward/backward breakdown

handgrad runs through `handgrad.engine.Engine`, as `handgrad train` does; the rows marked
"reference" run the same model with the engine off (`handgrad.nn.reference_mode()`), so
the two show what the engine buys; "1 process" rows run the engine with
`handgrad.set_num_threads(1)` (no batch chunks in worker processes).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np
import torch

import handgrad
from handgrad import nn, optim
from handgrad.data import dataset_stats, load_dataset, to_float
from handgrad.engine import Engine, plan

from models import MODELS

DATA = Path(__file__).resolve().parents[1] / "data"


def mnist(split: str, image_size: int = 28, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised MNIST images (the first `limit`), upscaled by pixel repetition to `image_size`."""
    images, labels = load_dataset("mnist", root=DATA, split=split)
    images, labels = images[:limit], labels[:limit]
    x = to_float(images, *dataset_stats(load_dataset("mnist", root=DATA, split="train")[0]))
    if image_size != 28:
        factor = image_size // 28
        x = np.ascontiguousarray(x.repeat(factor, axis=2).repeat(factor, axis=3))
    return x, labels.astype(np.int64)


def twin_models(name: str, image_size: int, seed: int = 0):
    """The handgrad model and a PyTorch copy holding identical weights."""
    handgrad.manual_seed(seed)
    ours = MODELS[name](nn, image_size)
    theirs = MODELS[name](torch.nn, image_size)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


@contextlib.contextmanager
def handgrad_path(path: str = "engine"):
    """Run the block on `path`: "engine", "reference" (the engine off) or "1 process" (the engine
    without batch chunks)."""
    threads = handgrad.get_num_threads()
    if path == "1 process":
        handgrad.set_num_threads(1)
    try:
        with nn.reference_mode(path == "reference"):
            yield
    finally:
        handgrad.set_num_threads(threads)


def handgrad_trainer(model, lr=1e-3, input_grad=True):
    """The user loop through an Engine; with input_grad=False it calls `backward_parameters`,
    which skips the gradient of the input images, as PyTorch does for inputs that do not
    require grad."""
    model = Engine(model)
    loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr)
    backward = model.backward if input_grad else model.backward_parameters

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        backward(loss_fn.backward())
        opt.step()
        return loss
    return step


def torch_trainer(model, lr=1e-3):
    loss_fn, opt = torch.nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=lr)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def batches(n: int, batch_size: int, seed: int, steps: int | None = None):
    order = np.random.default_rng(seed).permutation(n)
    starts = range(0, n, batch_size)
    for start in list(starts)[:steps]:
        yield order[start : start + batch_size]


def time_epoch(step, x, y, batch_size, seed, steps, to_torch=False):
    """Seconds for `steps` training steps (all of an epoch when steps is None)."""
    if to_torch:
        x, y = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    for index in batches(len(x), batch_size, seed, steps):
        step(x[index], y[index])
    return time.perf_counter() - start


def accuracy_handgrad(model, x, y, batch_size=1000):
    model = Engine(model)
    model.eval()
    correct = sum(int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    model.train()
    return correct / len(x)


def accuracy_torch(model, x, y, batch_size=1000):
    model.eval()
    with torch.no_grad():
        xt = torch.from_numpy(x)
        correct = sum(int((model(xt[i : i + batch_size]).argmax(1).numpy() == y[i : i + batch_size]).sum())
                      for i in range(0, len(x), batch_size))
    model.train()
    return correct / len(x)


def best_of(rounds: int, ours, theirs) -> tuple[float, float]:
    """Alternate the two callables `rounds` times; the best time of each."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        best[0] = min(best[0], ours())
        best[1] = min(best[1], theirs())
    return best[0], best[1]


def row(label, ours, theirs):
    print(f"| {label:<38} | {ours:9.3f} | {theirs:9.3f} | {ours / theirs:5.2f} |", flush=True)


def header(title, columns=("handgrad s", "PyTorch s")):
    print(f"\n{title}\n\n| {'measurement':<38} | {columns[0]:>9} | {columns[1]:>9} | ratio |\n|{'-' * 40}|-----------:|----------:|------:|")


def bench_training(name, batch_sizes, rounds, steps, input_grad=True, paths=("engine",)):
    """Seconds per epoch (60,000 images, 28 px) for each batch size (and handgrad path):
    {batch: (ours, theirs)} of the first path."""
    header(f"Training, {name}, Adam 1e-3, float32" + (f" ({steps} steps at batch 64 or the same images, scaled to one epoch)" if steps else " (one epoch)")
           + ("" if input_grad else ", handgrad with model.backward_parameters"))
    x, y = mnist("train")
    results = {}
    for batch_size in batch_sizes:
        for path in paths:
            ours, theirs = twin_models(name, 28)
            ours_step, theirs_step = handgrad_trainer(ours, input_grad=input_grad), torch_trainer(theirs)
            n_steps = steps and max(1, steps * 64 // batch_size)

            def run_ours():
                with handgrad_path(path):
                    return time_epoch(ours_step, x, y, batch_size, 0, n_steps)

            t_ours, t_theirs = best_of(rounds, run_ours,
                                       lambda: time_epoch(theirs_step, x, y, batch_size, 0, n_steps, to_torch=True))
            scale = -(-len(x) // batch_size) / n_steps if n_steps else 1
            results.setdefault(batch_size, (t_ours * scale, t_theirs * scale))
            row(f"epoch, batch {batch_size}" + ("" if path == "engine" else f", {path}"), t_ours * scale, t_theirs * scale)
    return results


def bench_inference(name, rounds, paths=("engine",)):
    header(f"Inference, {name}, 10,000 test images, batch 1,000")
    x, y = mnist("test")
    ours, theirs = twin_models(name, 28)
    ours, _ = Engine(ours).eval(), theirs.eval()

    def run_torch():
        with torch.no_grad():
            start = time.perf_counter()
            xt = torch.from_numpy(x)
            for i in range(0, len(x), 1000):
                theirs(xt[i : i + 1000])
            return time.perf_counter() - start

    for path in paths:
        def run_ours():
            with handgrad_path(path):
                start = time.perf_counter()
                for i in range(0, len(x), 1000):
                    ours(x[i : i + 1000])
                return time.perf_counter() - start

        row("inference, 10k images" + ("" if path == "engine" else f", {path}"), *best_of(rounds, run_ours, run_torch))


def bench_accuracy(name, epochs=2, batch_size=64, lr=1e-3, seeds=(0, 1, 2)):
    """Test accuracy of both frameworks after `epochs`, from the same initial weights and
    batches, for each seed (the two runs differ only by float rounding, which grows over
    training into different but equally good models: one seed's difference is noise)."""
    header(f"Test accuracy after {epochs} epochs, {name}, batch {batch_size}, same initial weights and batches")
    x, y = mnist("train")
    xt, yt = mnist("test")
    differences = []
    for seed in seeds:
        ours, theirs = twin_models(name, 28, seed)
        ours_step, theirs_step = handgrad_trainer(ours, lr), torch_trainer(theirs, lr)
        batch_seeds = [1000 * seed + epoch for epoch in range(epochs)]
        t_ours = sum(time_epoch(ours_step, x, y, batch_size, s, None) for s in batch_seeds)
        t_theirs = sum(time_epoch(theirs_step, x, y, batch_size, s, None, to_torch=True) for s in batch_seeds)
        a_ours, a_theirs = accuracy_handgrad(ours, xt, yt), accuracy_torch(theirs, xt, yt)
        differences.append(a_ours - a_theirs)
        row(f"seed {seed}: {epochs} epochs, seconds", t_ours, t_theirs)
        print(f"    test accuracy: handgrad {a_ours:.4f}, PyTorch {a_theirs:.4f}, "
              f"difference {100 * differences[-1]:+.2f} points")
    print(f"\nmean difference over {len(seeds)} seeds: {100 * np.mean(differences):+.2f} points")


def bench_cli_loop(rounds, batch_size=64):
    """`handgrad train`'s epoch loop (Trainer.train_epoch: shuffling, the bar, the guard,
    running accuracy) against the user-written loop, on the same 60,000 images."""
    from handgrad.train import TrainConfig, Trainer

    header(f"Training epoch, lenet5, batch {batch_size}: handgrad train's loop against the user-written loop",
           ("CLI loop s", "user loop s"))
    config = TrainConfig(model="lenet5", epochs=1, batch_size=batch_size, optimizer="adam", lr=1e-3,
                         val_fraction=0.0, quiet=True, data_dir=str(DATA))
    trainer = Trainer(config)
    x, y = trainer.data.x_train, trainer.data.y_train.astype(np.int64)
    user_model, _ = twin_models("lenet5", 28)
    user_step = handgrad_trainer(user_model)

    def cli_epoch():
        trainer.epoch = 1
        start = time.perf_counter()
        trainer.train_epoch()
        return time.perf_counter() - start

    row("epoch, 60,000 images", *best_of(rounds, cli_epoch, lambda: time_epoch(user_step, x, y, batch_size, 0, None)))


def bench_layers(name, batch_size=64, repeats=100):
    """Per-layer forward/backward milliseconds of one handgrad training step, in the engine's
    execution order, each layer by its fast version."""
    x, _ = mnist("train")
    model, _ = twin_models(name, 28)
    layers = [plan.fast(layer) for layer in plan.execution_order(plan.leaves(model))]
    xb = x[:batch_size]
    forward, backward = np.full(len(layers), np.inf), np.full(len(layers), np.inf)
    for _ in range(repeats):
        out = xb
        for i, layer in enumerate(layers):
            t = time.perf_counter()
            out = layer(out)
            forward[i] = min(forward[i], time.perf_counter() - t)
        grad = np.ones_like(out)
        for i in reversed(range(len(layers))):
            t = time.perf_counter()
            grad = layers[i].backward(grad)
            backward[i] = min(backward[i], time.perf_counter() - t)
    print(f"\nPer-layer time, {name}, batch {batch_size}, in execution order (ms, best of {repeats})\n")
    print("| layer | forward | backward |\n|---|---:|---:|")
    for i, layer in enumerate(layers):
        print(f"| {getattr(layer, 'layer', layer)!r} | {forward[i] * 1e3:.3f} | {backward[i] * 1e3:.3f} |")
    print(f"| total | {forward.sum() * 1e3:.3f} | {backward.sum() * 1e3:.3f} |")


def bench_image_sizes(rounds, steps=10):
    """Milliseconds per training step of the wide CNN at batch 64 for 28, 56 and 112 pixel images."""
    header(f"Training step, wide-cnn, batch 64, by image size (best of {rounds} x {steps} steps, ms/step in the s columns)")
    results = {}
    for size in (28, 56, 112):
        x, y = mnist("train", size, limit=64 * steps)
        ours, theirs = twin_models("wide-cnn", size)
        ours_step, theirs_step = handgrad_trainer(ours), torch_trainer(theirs)
        t_ours, t_theirs = best_of(rounds, lambda: time_epoch(ours_step, x, y, 64, 0, steps),
                                   lambda: time_epoch(theirs_step, x, y, 64, 0, steps, to_torch=True))
        results[size] = (t_ours / steps * 1e3, t_theirs / steps * 1e3)
        row(f"step, {size}px (ms)", *results[size])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 steps per measurement, 2 rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", action="store_true", help="only the per-layer breakdown")
    parser.add_argument("--goals", action="store_true",
                        help="only the speed goals (LeNet-5 training at batch 64 with backward_parameters, "
                             "LeNet-5 inference, the wide CNN's training at batch 64), each also on the "
                             "reference path and the LeNet-5 training in 1 process; --steps per measurement")
    parser.add_argument("--steps", type=int, default=300, help="training steps per measurement of --goals")
    parser.add_argument("--plot", default=None, help="also measure image sizes and write the scaling plot to this PNG")
    args = parser.parse_args()
    if args.layers:
        for name in MODELS:
            bench_layers(name)
        return
    rounds, steps = (2, 200) if args.quick else (args.rounds, None)
    print(f"handgrad {handgrad.__version__}, numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    if args.goals:
        bench_training("lenet5", [64], args.rounds, args.steps, input_grad=False,
                       paths=("engine", "1 process", "reference"))
        bench_inference("lenet5", args.rounds * 2, paths=("engine", "reference"))
        bench_training("wide-cnn", [64], args.rounds, args.steps, paths=("engine", "reference"))
        return
    by_batch = {"lenet5": bench_training("lenet5", [16, 64, 256], rounds, steps)}
    bench_training("lenet5", [16, 64, 256], rounds, steps, input_grad=False)
    bench_inference("lenet5", rounds * 2)
    by_batch["wide-cnn"] = bench_training("wide-cnn", [16, 64, 256], rounds, steps or 300)
    bench_inference("wide-cnn", rounds * 2)
    if not args.quick:
        bench_cli_loop(rounds)
        bench_accuracy("lenet5")
    if args.plot:
        from plot_scaling import plot

        plot(by_batch, bench_image_sizes(rounds), args.plot)


if __name__ == "__main__":
    main()
