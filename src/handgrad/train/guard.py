"""The divergence guard: undo a blow-up, lower the learning rate, carry on.

The guard watches the loss of every training step. It fires when
- a loss is not finite (nan or inf: the step is skipped before its backward), or
- the smoothed loss (an exponential moving average, weight `SMOOTHING`) has not gone
  below its best by a relative `MIN_DELTA` for `patience` iterations, or
- the smoothed loss exploded: it grew above `EXPLOSION` times the first loss of the run
  (a finite loss of 5e36 at chance accuracy is as diverged as a nan). Both of these
  rules are off with `patience` 0; or
- with a `ratio_window` (in iterations; 0 turns this off), a parameter's update-to-weight
  ratio, as the layer monitor samples it (`check_ratios`), has stayed above the
  monitor's range (exploding) or below it (vanishing) at every sample for `ratio_window`
  iterations; the message names the parameter and its layer.
Firing restores the last good state (parameters, buffers and optimizer state, as
snapshotted when the smoothed loss reached a new best, at most every
`SNAPSHOT_EVERY` iterations, and at the start), multiplies the learning rate of every
param group by `factor`, and logs what it did. After `retries` firings the next one
raises `TrainingDiverged` instead. `firings` counts them.

Snapshots are copies made by `state_dict()`, a few per epoch, never per step.
"""

from __future__ import annotations

import math
from typing import Callable

from handgrad.nn import Module
from handgrad.optim import Optimizer
from handgrad.train.monitor import RATIO_RANGE

SMOOTHING = 0.05
MIN_DELTA = 1e-3
SNAPSHOT_EVERY = 100
# Two orders of magnitude above the first loss: a cross-entropy that starts at ln(10) = 2.3
# and reaches 230 is no longer training (a healthy run's worst batch stays near its start).
EXPLOSION = 100.0
# A model under 1.5 times the accuracy of guessing has learnt nothing (10 classes: 15 %).
CHANCE_MARGIN = 1.5


class TrainingDiverged(RuntimeError):
    """Training kept diverging after the guard had lowered the learning rate `retries` times."""


class DivergenceGuard:
    """Watches losses via `observe(loss)`; see the module docstring."""

    def __init__(self, model: Module, optimizer: Optimizer, patience: int = 2000, factor: float = 0.1,
                 retries: int = 3, log: Callable[[str], None] | None = None, ratio_window: int = 0):
        self.model, self.optimizer = model, optimizer
        self.patience, self.factor, self.retries = patience, factor, retries
        self.ratio_window = ratio_window
        self.log = log or (lambda message: None)
        self.firings = 0
        self.events: list[str] = []
        self.iteration = 0
        self.first_loss: float | None = None
        self._reset_progress()
        self._snapshot()

    def _reset_progress(self) -> None:
        self.smoothed: float | None = None
        self.best = math.inf
        self.since_best = 0
        self.ratio_streaks: dict[str, list] = {}  # parameter -> [direction, iteration the streak began]

    def _snapshot(self) -> None:
        self.snapshot = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        self.snapshot_iteration = self.iteration

    def check_finite(self, loss: float, epoch: int, step: int) -> bool:
        """False (after firing) when `loss` is nan or inf: the caller then skips this step."""
        if math.isfinite(loss):
            return True
        self.fire(f"loss became {loss} at epoch {epoch}, step {step}")
        return False

    def observe(self, loss: float, epoch: int, step: int) -> None:
        """Record the (finite) loss of a completed step; fire after `patience` steps without progress."""
        self.iteration += 1
        self.smoothed = loss if self.smoothed is None else self.smoothed + SMOOTHING * (loss - self.smoothed)
        if self.first_loss is None:
            self.first_loss = loss
        if self.patience and self.first_loss > 0 and self.smoothed > EXPLOSION * self.first_loss:
            self.fire(f"the loss exploded at epoch {epoch}, step {step} (smoothed loss {self.smoothed:.4g}, "
                      f"{self.smoothed / self.first_loss:.3g} times the first loss {self.first_loss:.4g})")
            return
        if self.smoothed < self.best * (1 - MIN_DELTA):
            self.best, self.since_best = self.smoothed, 0
            if self.iteration - self.snapshot_iteration >= SNAPSHOT_EVERY:
                self._snapshot()
        else:
            self.since_best += 1
            if self.patience and self.since_best >= self.patience:
                self.fire(f"no progress for {self.patience} iterations at epoch {epoch}, step {step} "
                          f"(smoothed loss {self.smoothed:.4g}, best {self.best:.4g})")

    def check_learned(self, accuracy: float, classes: int) -> None:
        """Raise TrainingDiverged when the guard has fired and the model still guesses.

        Accuracy below `CHANCE_MARGIN` / classes after a firing means the lowered learning
        rate did not rescue the run; it must not end as a success. Off with `patience` 0.
        """
        if self.patience and self.firings and accuracy < CHANCE_MARGIN / classes:
            raise TrainingDiverged(f"the model is at chance level after the divergence guard fired {self.firings} "
                                   f"time{'s' if self.firings != 1 else ''} (accuracy {100 * accuracy:.2f}% with "
                                   f"{classes} classes); last firing: {self.events[-1]}; try a lower --lr")

    def check_ratios(self, ratios: dict[str, float | None], epoch: int, step: int,
                     layers: dict[str, str] | None = None) -> None:
        """Fire when a parameter's update-to-weight ratio has been out of range for `ratio_window`
        iterations. `ratios`: parameter name -> ratio of this step (None: undefined, ignored;
        nan, from weights gone non-finite, counts as exploding);
        `layers`: parameter name -> its layer's type, for the message."""
        if not self.ratio_window:
            return
        low, high = RATIO_RANGE
        for name, ratio in ratios.items():
            if ratio is None:
                continue
            direction = "above" if not ratio <= high else "below" if ratio < low else None
            streak = self.ratio_streaks.get(name)
            if direction is None:
                self.ratio_streaks.pop(name, None)
            elif streak is None or streak[0] != direction:
                self.ratio_streaks[name] = [direction, self.iteration]
            elif self.iteration - streak[1] >= self.ratio_window:
                kind = f" ({layers[name]})" if layers and name in layers else ""
                bound = high if direction == "above" else low
                self.fire(f"update-to-weight ratio of {name}{kind} {direction} {bound:g} for "
                          f"{self.iteration - streak[1]} iterations (now {ratio:.3g}) at epoch {epoch}, step {step}")
                return

    def fire(self, reason: str) -> None:
        """Restore the last good state and lower the learning rate, or give up after `retries` firings."""
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self.firings >= self.retries:
            raise TrainingDiverged(f"{reason}, after the guard had already lowered the learning rate "
                                   f"{self.firings} times (now {_lrs(lrs)}); try a lower --lr")
        self.model.load_state_dict(self.snapshot["model"])
        self.optimizer.load_state_dict(self.snapshot["optimizer"])
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr * self.factor
        self.firings += 1
        self._reset_progress()
        message = (f"divergence guard: {reason}; restored the state of iteration {self.snapshot_iteration} and "
                   f"lowered the learning rate from {_lrs(lrs)} to {_lrs([lr * self.factor for lr in lrs])} "
                   f"(firing {self.firings} of at most {self.retries})")
        self.events.append(message)
        self.log(message)

    def state_dict(self) -> dict:
        """Counters, smoothed loss and the snapshot: what an exact resume needs."""
        return {"firings": self.firings, "events": list(self.events), "iteration": self.iteration,
                "smoothed": self.smoothed, "best": self.best, "since_best": self.since_best,
                "ratio_streaks": {name: list(streak) for name, streak in self.ratio_streaks.items()},
                "snapshot_iteration": self.snapshot_iteration, "snapshot": self.snapshot, "first_loss": self.first_loss}

    def load_state_dict(self, state: dict) -> None:
        self.firings, self.events, self.iteration = state["firings"], list(state["events"]), state["iteration"]
        self.smoothed, self.best, self.since_best = state["smoothed"], state["best"], state["since_best"]
        self.snapshot_iteration, self.snapshot = state["snapshot_iteration"], state["snapshot"]
        self.first_loss = state.get("first_loss")  # absent from the resume files of older versions
        self.ratio_streaks = {name: list(streak) for name, streak in state.get("ratio_streaks", {}).items()}


def _lrs(lrs: list[float]) -> str:
    return ", ".join(f"{lr:.3g}" for lr in lrs)
