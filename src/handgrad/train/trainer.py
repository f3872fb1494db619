"""The Trainer: epochs of shuffled mini-batches, validation, checkpoints, a test at the end.

    result = handgrad.train.fit(TrainConfig(epochs=3, out="runs/demo"))
    result = handgrad.train.resume("runs/demo")      # after an interruption

Each step is the loop a user would write (zero_grad, forward, loss, backward, step), run
through `handgrad.engine.Engine` (`self.engine`: tuned kernels and batch chunks on every
core; the model's own code in reference mode), plus what the run records: the running loss and accuracy (from the argmax of the
logits already computed), the divergence guard's check of the loss and, with `l2`, the
explicit penalty 0.5·λ·Σ‖W‖² over the Conv2d/Linear weights, added to the reported loss
and its gradient λ·W to `.grad`; every `monitor_every` iterations, the layer monitor's
sample (`monitor`; training is bit-identical with it on or off), whose update ratios the
guard reads when `guard_window` is set. Nothing is copied per step; the progress bar is
updated every `REFRESH` steps. When the guard fires, the epoch's running loss and
accuracy restart, since the steps they counted were undone.

Determinism: `handgrad.manual_seed(seed)` seeds initialisation and dropout; the split,
the augmentation and each epoch's batch order are drawn from generators seeded by
`seed` alone. So the same config gives bit-identical weights, and a run resumed from
its last checkpoint (which holds the state of all of these, see `checkpoint`) ends
exactly where the uninterrupted run would have.

With an output directory the run writes, at the start, `config.toml`; after every
epoch, atomically, `resume.safetensors`, then `model.safetensors`, `history.csv` and
(with the monitor) `layers.csv`; at the end `summary.json`, `curves.png` and `layers.png`.
With `tensorboard`, the monitor's samples and the epoch's metrics also go to TensorBoard
event files there.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

import handgrad
from handgrad import data, models, nn
from handgrad.engine import Engine
from handgrad.errors import MissingFileError, UserError
from handgrad.nn import Module
from handgrad.train import checkpoint
from handgrad.train.config import TrainConfig
from handgrad.train.dataset import PreparedData, class_names, prepare
from handgrad.train.evaluate import evaluate
from handgrad.train.files import (CONFIG_FILE, CURVES_FILE, HISTORY_FILE, LAYERS_FILE, LAYERS_PLOT, MODEL_FILE,
                                  RESUME_FILE, SUMMARY_FILE)
from handgrad.train.guard import DivergenceGuard, TrainingDiverged
from handgrad.train.history import epoch_line, readable, write_csv
from handgrad.train.monitor import LayerMonitor, read_layers_csv
from handgrad.train.optimizers import build_optimizer, build_scheduler
from handgrad.train.plots import plot_curves, plot_layers
from handgrad.train.run import check_weights

REFRESH = 10  # steps between progress-bar updates
BAR_INTERVAL = 0.5  # least seconds between redraws of the progress bar
_FORMAT = 1  # version of the resume state


@dataclass
class RunResult:
    """What a run produced: the per-epoch history, test metrics, guard firings, time and the model.

    history: one dict per epoch (see `history`). test_loss, test_accuracy: of the final
    model; validation and test losses are the plain cross-entropy (the l2 term is part
    of the training loss only). best_val_accuracy, best_epoch: None without validation.
    guard_firings, guard_events: how often the divergence guard fired, and its messages.
    seconds: training and validation time summed over the epochs (across resumes).
    mean, std: the normalisation of the inputs. out: the run directory, or None.
    """

    config: TrainConfig
    history: list[dict]
    test_loss: float
    test_accuracy: float
    best_val_accuracy: float | None
    best_epoch: int | None
    guard_firings: int
    guard_events: list[str]
    seconds: float
    model: Module
    mean: float
    std: float
    out: Path | None

    def summary(self) -> dict:
        """The contents of summary.json."""
        last = self.history[-1] if self.history else {}
        return {
            "model": self.config.model, "dataset": self.config.dataset, "epochs": len(self.history),
            "test_accuracy": self.test_accuracy, "test_loss": self.test_loss,
            "best_val_accuracy": self.best_val_accuracy, "best_epoch": self.best_epoch,
            "final_train_loss": last.get("train_loss"), "final_train_accuracy": last.get("train_accuracy"),
            "final_val_loss": last.get("val_loss"), "final_val_accuracy": last.get("val_accuracy"),
            "seconds": self.seconds, "guard_firings": self.guard_firings, "guard_events": self.guard_events,
            "parameters": sum(p.data.size for p in self.model.parameters()), "mean": self.mean, "std": self.std,
        }


def _stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


class Trainer:
    """A run of `config`. `run()` trains the remaining epochs and returns a RunResult.

    data: prepared arrays to use instead of loading them as the config says (for
    studies that train many models on the same data). log: called with each epoch
    line and guard message (default: stderr, nothing when `config.quiet`).
    """

    def __init__(self, config: TrainConfig, data: PreparedData | None = None,
                 log: Callable[[str], None] | None = None):
        self.config = config.validated()
        self.log = log if log is not None else (lambda message: None) if self.config.quiet else _stderr
        self.data = prepare(self.config) if data is None else data
        self.out = None if self.config.out is None else Path(self.config.out)
        handgrad.manual_seed(self.config.seed)
        self.model = models.build(self.config.model, **self.config.model_options)
        self.engine = Engine(self.model)
        self.loss_fn = nn.CrossEntropyLoss(reduction=self.config.loss_reduction)
        self.optimizer = build_optimizer(self.config, self.model.parameters())
        self.scheduler = build_scheduler(self.config, self.optimizer)
        self.guard = DivergenceGuard(self.model, self.optimizer, self.config.guard_patience,
                                     self.config.guard_factor, self.config.guard_retries, log=self.log,
                                     ratio_window=self.config.guard_window)
        self.tensorboard = None
        if self.config.tensorboard:
            from handgrad.train.tensorboard import TensorBoardLog

            self.tensorboard = TensorBoardLog(self.config.tensorboard)
        self.monitor = LayerMonitor(self.model, self.config.monitor_every, sink=self.tensorboard) \
            if self.config.monitor_every else None
        self.l2_weights = [m.weight for m in self.model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        self.epoch = 0
        self.history: list[dict] = []

    # -- running -------------------------------------------------------------------------
    def start(self) -> "Trainer":
        """Create the output directory, write config.toml and log what the run is about to do."""
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            checkpoint.atomic_write(self.out / CONFIG_FILE, self.config.to_toml())
        parameters = sum(p.data.size for p in self.model.parameters())
        self.log(f"training {self.config.model} ({parameters:,} parameters) on {self.config.dataset}: "
                 f"{len(self.data.y_train):,} training, {len(self.data.y_val):,} validation, "
                 f"{len(self.data.y_test):,} test images" + (f"; writing {self.out}" if self.out else ""))
        return self

    def run(self) -> RunResult:
        """Train up to `config.epochs`, checkpointing after each epoch, then test."""
        while self.epoch < self.config.epochs:
            self.epoch += 1
            try:
                row = self.train_epoch()
            except TrainingDiverged:
                self.write_monitor(plot=True)  # its samples up to the failure show what went wrong
                raise
            self.history.append(row)
            if self.scheduler is not None:
                self._step_scheduler(row)
            if self.out is not None:
                self.save_checkpoint()
            self.log(epoch_line(row, self.config.epochs))
        return self.finish()

    def train_epoch(self) -> dict:
        """One pass over the shuffled training set, then validation; returns the history row."""
        config, model, optimizer, loss_fn, guard = self.config, self.engine, self.optimizer, self.loss_fn, self.guard
        l2, weights, monitor = config.l2, self.l2_weights, self.monitor
        batches = data.Batches(self.data.x_train, self.data.y_train, config.batch_size, shuffle=True,
                               seed=config.seed, epoch=self.epoch - 1)
        before = (self.epoch - 1) * len(batches)  # iterations of the earlier epochs
        started = time.perf_counter()
        total_loss, correct, seen, pending, firings = 0.0, 0, 0, 0, guard.firings
        events = len(guard.events)
        bar = tqdm(total=len(batches), desc=f"epoch {self.epoch}/{config.epochs}", unit="batch", leave=False,
                   file=sys.stderr, mininterval=BAR_INTERVAL, disable=config.quiet or not sys.stderr.isatty())
        model.train()
        # Overflow on the way to a divergence is the guard's business, not a warning's.
        with bar, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for step, (x, y) in enumerate(batches, 1):
                sampled = monitor is not None and monitor.due(before + step)
                if sampled:
                    monitor.observe_forward(x, before + step, self.epoch, step)
                optimizer.zero_grad()
                logits = model(x)
                loss = loss_fn(logits, y)
                if config.loss_reduction == "sum":  # backward() keeps the sum's gradient; records show the mean
                    loss /= len(y)
                hits = int(np.count_nonzero(logits.argmax(axis=1) == y))
                if l2:
                    loss += 0.5 * l2 * sum(float(np.vdot(w.data, w.data)) for w in weights)
                pending += 1
                if guard.check_finite(loss, self.epoch, step):
                    model.backward_parameters(loss_fn.backward())  # the images need no gradient
                    if l2:
                        for w in weights:
                            w.grad += l2 * w.data
                    if sampled:
                        monitor.before_update()
                    optimizer.step()
                    ratios = monitor.after_update() if sampled else None
                    total_loss += loss * len(y)
                    correct += hits
                    seen += len(y)
                    guard.observe(loss, self.epoch, step)
                    if ratios is not None and guard.firings == firings:
                        guard.check_ratios(ratios, self.epoch, step, monitor.layer_types)
                elif sampled:
                    monitor.skip_update()
                if guard.firings != firings:  # the steps counted so far were undone
                    total_loss, correct, seen, firings = 0.0, 0, 0, guard.firings
                if pending == REFRESH and seen:
                    bar.set_postfix_str(f"loss {readable(total_loss / seen)} acc {100 * correct / seen:.2f}%", refresh=False)
                    bar.update(pending)
                    pending = 0
            bar.update(pending)
        lr = self.optimizer.param_groups[0]["lr"]
        val = evaluate(model, self.data.x_val, self.data.y_val) if len(self.data.y_val) else None
        for warning in monitor.end_epoch(self.epoch) if monitor is not None else ():
            self.log(warning)
        row = {
            "epoch": self.epoch,
            "train_loss": total_loss / seen if seen else float("nan"),
            "train_accuracy": correct / seen if seen else float("nan"),
            "val_loss": None if val is None else val.loss,
            "val_accuracy": None if val is None else val.accuracy,
            "lr": lr,
            "seconds": time.perf_counter() - started,
            "guard_firings": guard.firings,
            "guard_events": "; ".join(guard.events[events:]) or None,
        }
        if self.tensorboard is not None:
            self.tensorboard.epoch(row, model)
        return row

    def _step_scheduler(self, row: dict) -> None:
        if isinstance(self.scheduler, handgrad.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(row["train_loss"] if row["val_loss"] is None else row["val_loss"])
        else:
            self.scheduler.step()

    def finish(self) -> RunResult:
        """Test the model; with an output directory write summary.json and curves.png."""
        test = evaluate(self.engine, self.data.x_test, self.data.y_test)
        scored = [row for row in self.history if row["val_accuracy"] is not None]
        best = max(scored, key=lambda row: row["val_accuracy"]) if scored else None
        result = RunResult(
            config=self.config, history=list(self.history), test_loss=test.loss, test_accuracy=test.accuracy,
            best_val_accuracy=None if best is None else best["val_accuracy"],
            best_epoch=None if best is None else best["epoch"],
            guard_firings=self.guard.firings, guard_events=list(self.guard.events),
            seconds=sum(row["seconds"] for row in self.history), model=self.model,
            mean=self.data.mean, std=self.data.std, out=self.out,
        )
        if self.out is not None:
            checkpoint.atomic_write(self.out / SUMMARY_FILE, json.dumps(result.summary(), indent=2) + "\n")
            plot_curves(self.history, self.out / CURVES_FILE,
                        title=f"{self.config.model} on {self.config.dataset}")
            self.write_monitor(plot=True, table=False)
        if self.tensorboard is not None:
            self.tensorboard.close()
        self.guard.check_learned(test.accuracy, len(class_names(self.config.dataset)))
        return result

    # -- checkpoints -----------------------------------------------------------------------
    def model_info(self) -> dict:
        """The description stored in model.safetensors' metadata."""
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in self.config.model_options.items()}
        return {"model": self.config.model, "model_options": options, "dataset": self.config.dataset,
                "mean": self.data.mean, "std": self.data.std, "pad": self.data.pad, "epoch": self.epoch,
                "handgrad_version": handgrad.__version__}

    def state(self) -> dict:
        """Everything an exact resume needs (see `checkpoint.save_state`)."""
        return {
            "format": _FORMAT,
            "epoch": self.epoch,
            "history": self.history,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "guard": self.guard.state_dict(),
            "rng": handgrad.default_generator().bit_generator.state,
        }

    def save_checkpoint(self) -> None:
        """resume.safetensors first (the file a resume reads), then model.safetensors, history.csv, layers.csv."""
        checkpoint.save_state(self.out / RESUME_FILE, self.state())
        self.save_model_and_history()

    def save_model_and_history(self) -> None:
        """model.safetensors and history.csv of the current epoch."""
        checkpoint.save_model(self.out / MODEL_FILE, self.model.state_dict(), self.model_info())
        write_csv(self.out / HISTORY_FILE, self.history)
        self.write_monitor()

    def write_monitor(self, plot: bool = False, table: bool = True) -> None:
        """With an output directory and the monitor on: layers.csv (`table`), layers.png (`plot`)."""
        if self.out is None or self.monitor is None or not self.monitor.rows:
            return
        if table:
            self.monitor.write_csv(self.out / LAYERS_FILE)
        if plot:
            plot_layers(self.monitor.rows, self.out / LAYERS_PLOT,
                        title=f"{self.config.model} on {self.config.dataset}: the layer monitor")

    def load_state(self, state: dict, where: str) -> None:
        """Restore what `state()` saved."""
        version = state.get("format")
        if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version != _FORMAT:
            raise UserError(f"{where}: resume format {state.get('format')!r}, this handgrad reads {_FORMAT}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            self.guard.load_state_dict(state["guard"])
            handgrad.default_generator().bit_generator.state = state["rng"]
            self.epoch, self.history = int(state["epoch"]), list(state["history"])
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
            raise UserError(f"{where}: incomplete or corrupt resume state ({exc!r})") from exc
        except ValueError as exc:  # a state of another model or optimizer
            raise UserError(f"{where} does not fit the run's model {self.config.model!r} and optimizer "
                            f"{self.config.optimizer!r}: {exc}") from exc
        layers = None if self.out is None else self.out / LAYERS_FILE
        if self.monitor is not None and layers is not None and layers.is_file():
            # the samples up to the checkpoint; any later ones belong to an epoch that will be redone
            self.monitor.rows = [row for row in read_layers_csv(layers) if row["epoch"] <= self.epoch]


def fit(config: TrainConfig, data: PreparedData | None = None, log: Callable[[str], None] | None = None) -> RunResult:
    """Train a model as `config` says and test it (files only when `config.out` is set).

    An output directory that already holds a run is refused before any work is done.
    """
    if config.out is not None:
        out = Path(config.out)
        if (out / CONFIG_FILE).exists() or (out / RESUME_FILE).exists():
            raise UserError(f"{out} already holds a run; continue it with --resume {out} or choose another --out")
    return Trainer(config, data=data, log=log).start().run()


def resume(run_dir: str | Path, epochs: int | None = None, quiet: bool = False, data_dir: str | None = None,
           log: Callable[[str], None] | None = None) -> RunResult:
    """Continue the run in `run_dir` from its last checkpoint up to `epochs` (default: its own).

    `data_dir` points at the data if it moved; everything else comes from the run's
    config.toml. Ends bit-identical to an uninterrupted run of the same config. A run
    made longer than it was started is identical to one started that long, except with
    the cosine schedule, whose length was fixed at the start: it continues PyTorch's
    cosine wave, so the learning rate climbs back up.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingFileError(f"run directory {run_dir} does not exist")
    config = TrainConfig.from_toml(_require_file(run_dir, CONFIG_FILE))
    state = checkpoint.load_state(_require_file(run_dir, RESUME_FILE))
    done = int(state.get("epoch", 0))
    updates = {"out": str(run_dir), "quiet": quiet}
    if epochs is not None:
        if epochs < done:
            raise UserError(f"{run_dir} has already trained {done} epochs; --epochs {epochs} cannot shorten it")
        updates["epochs"] = epochs
    if data_dir is not None:
        updates["data_dir"] = str(data_dir)
    config = dataclasses.replace(config, **updates).validated()
    if isinstance(state.get("model"), dict):  # else load_state says what is wrong with the file
        check_weights(config, state["model"], run_dir / RESUME_FILE)  # before the data and the model load
    trainer = Trainer(config, log=log)
    trainer.load_state(state, str(run_dir / RESUME_FILE))
    checkpoint.remove_temporaries(run_dir)
    checkpoint.atomic_write(run_dir / CONFIG_FILE, trainer.config.to_toml())
    if trainer.epoch:  # a crash between resume.safetensors and the files after it left them an epoch behind
        trainer.save_model_and_history()
    trainer.log(f"resuming {run_dir} after epoch {done} of {trainer.config.epochs}")
    return trainer.run()


def _require_file(run_dir: Path, name: str) -> Path:
    path = run_dir / name
    if not path.is_file():
        raise MissingFileError(f"{run_dir} is not a resumable handgrad run: it has no {name}")
    return path
