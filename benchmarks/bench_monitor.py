"""The cost of the layer monitor (`handgrad train --monitor-every N`) in an epoch of training.

Two measures, on the same prepared data:
1. the time inside the monitor's calls (its forward pass, norms, copies, statistics) as a
   share of the epoch's time, from timers around those calls: robust on a busy machine;
2. the epoch's time with the monitor on and off, alternated over several rounds, best of
   each: the end-to-end difference (noisier: it is a few percent of a noisy number).

    python benchmarks/bench_monitor.py                       # LeNet-5, full MNIST epoch, N = 100
    python benchmarks/bench_monitor.py --limit 10000 --rounds 2 --every 100 50
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from handgrad.train import TrainConfig, Trainer, prepare
from handgrad.train.monitor import LayerMonitor

TIMED = ("observe_forward", "before_update", "after_update")


def timed_monitor(trainer: Trainer) -> list[float]:
    """Wrap the monitor's calls with timers; returns the list the seconds are added to."""
    spent = [0.0]
    for name in TIMED:
        method = getattr(trainer.monitor, name)

        def timed(*args, _method=method, **kwargs):
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        setattr(trainer.monitor, name, timed)
    return spent


def epoch_seconds(config: TrainConfig, prepared, every: int) -> tuple[float, float, int]:
    """(seconds of one training epoch with validation, seconds inside the monitor, samples taken)."""
    trainer = Trainer(dataclasses.replace(config, monitor_every=every), data=prepared)
    spent = timed_monitor(trainer) if trainer.monitor is not None else [0.0]
    trainer.epoch = 1
    start = time.perf_counter()
    trainer.train_epoch()
    samples = 0 if trainer.monitor is None else len({row["iteration"] for row in trainer.monitor.rows})
    return time.perf_counter() - start, spent[0], samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=0, help="training images (0: all 60,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", type=int, nargs="+", default=[100])
    args = parser.parse_args()
    config = TrainConfig(model=args.model, batch_size=args.batch_size, limit=args.limit, quiet=True).validated()
    prepared = prepare(config)
    steps = -(-len(prepared.y_train) // args.batch_size)
    print(f"{args.model}, batch {args.batch_size}, {len(prepared.y_train):,} training images ({steps} steps), "
          f"{len(prepared.y_val):,} validation; {args.rounds} rounds, best of each")
    results = {every: [] for every in [0, *args.every]}
    for _ in range(args.rounds):
        for every in results:
            results[every].append(epoch_seconds(config, prepared, every))
    off = min(seconds for seconds, _, _ in results[0])
    print(f"| monitor | samples | epoch (s, best) | vs off | inside the monitor (s) | share of the epoch |")
    print(f"|---|---|---|---|---|---|")
    print(f"| off | 0 | {off:.2f} | | | |")
    for every in args.every:
        best = min(results[every])
        inside = min(spent for _, spent, _ in results[every])
        print(f"| every {every} | {best[2]} | {best[0]:.2f} | {100 * (best[0] / off - 1):+.1f}% | {inside:.3f} | "
              f"{100 * inside / best[0]:.2f}% ({1000 * inside / best[2]:.1f} ms a sample) |")


if __name__ == "__main__":
    main()
