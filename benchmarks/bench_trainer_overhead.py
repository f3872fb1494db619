"""The per-step overhead of `handgrad train`'s loop, on a model small enough to show it.

Trainer.train_epoch (shuffling, the progress bar, the divergence guard, the running loss
and accuracy) against the loop a user writes, the same MLP, images and batch size (16),
alternated, best of `--rounds`. It was a test until a busy host made it fail once
(0.0870 s against 1.25 x 0.0562 + 0.005 s): wall-clock numbers belong here, not in tests.
The full-size comparison (LeNet-5, 60,000 images) is part of bench_speed.py.

    python benchmarks/bench_trainer_overhead.py [--images 160] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

from handgrad import data, models, nn, optim
from handgrad.train import TrainConfig, Trainer, prepare
from handgrad.train.dataset import PreparedData

GOAL = (1.25, 0.005)  # ours <= 1.25 x the bare loop + 5 ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prepared = prepare(TrainConfig(limit=600).validated())
    tiny = PreparedData(prepared.x_train[: args.images], prepared.y_train[: args.images], prepared.x_val[:0],
                        prepared.y_val[:0], prepared.x_test, prepared.y_test, prepared.mean, prepared.std, prepared.pad)
    trainer = Trainer(TrainConfig(limit=600, quiet=True, epochs=1, batch_size=16, model="mlp", val_fraction=0.0),
                      data=tiny)
    model, loss_fn = models.build("mlp"), nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def bare():
        for xb, yb in data.Batches(tiny.x_train, tiny.y_train, 16, seed=0):
            opt.zero_grad()
            loss_fn(model(xb), yb)
            model.backward(loss_fn.backward())
            opt.step()

    def ours():
        trainer.epoch = 1
        trainer.train_epoch()

    times = {bare: [], ours: []}
    for _ in range(args.rounds):
        for run in (bare, ours):
            start = time.perf_counter()
            run()
            times[run].append(time.perf_counter() - start)
    best_bare, best_ours = min(times[bare]), min(times[ours])
    factor, slack = GOAL
    verdict = "within" if best_ours <= factor * best_bare + slack else "OVER"
    print(f"{args.images} images at batch 16, best of {args.rounds}: user loop {best_bare * 1e3:.1f} ms, "
          f"Trainer.train_epoch {best_ours * 1e3:.1f} ms ({best_ours / best_bare:.2f}x; {verdict} the goal of "
          f"{factor}x + {slack * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
