"""The layer monitor: what every layer does during training, sampled every `every` steps.

CS231n's "babysitting the learning process" in numbers. At iteration 1 and every
`every` iterations after it the monitor records, per layer (in the order forward runs
them) and per parameter:
- the layer's output: mean and standard deviation; for ReLU the fraction of outputs
  that are exactly 0, for Tanh the fraction with |y| > 0.99 and for Sigmoid the fraction
  outside [0.01, 0.99] (saturated units pass almost no gradient);
- each parameter's gradient norm ‖∇W‖ (the gradient the optimizer steps with, l2 term
  included), its norm ‖W‖ before the step, and the update-to-weight ratio
  ‖W_after − W_before‖ / ‖W_before‖ (about 1e-3 is healthy; None, an empty cell, when
  ‖W‖ = 0, as for a BatchNorm shift that starts at 0).

The gradients and the update come from the training step itself. The activations come
from a second forward pass over the same batch, layer by layer, just before the step's
own forward pass: a large batch runs in chunks in worker processes (see
`handgrad.engine.parallel`), so the calling process never holds a whole batch's activations.
That pass sees the same parameters, the same dropout masks (the random generators are
put back as they were, so the step then draws the same ones) and the same batch
statistics (BatchNorm's running averages are put back), so training is bit-identical
with the monitor on or off; it costs one forward pass every `every` steps.

At the end of an epoch `end_epoch` returns one warning line for the layers that were
dead (more than `DEAD_FRACTION` zeros at every sample of the epoch) and one for the
parameters whose median ratio over the epoch left `RATIO_RANGE`.
The rows go to `layers.csv` (`write_csv`, `COLUMNS`), one per layer or parameter and sample.
"""

from __future__ import annotations

import csv
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np

import handgrad
from handgrad import nn
from handgrad.errors import UserError
from handgrad.nn import Module
from handgrad.train.history import write_table

RATIO_RANGE = (1e-5, 1e-1)
DEAD_FRACTION = 0.9
SATURATION = 0.99
COLUMNS = ("iteration", "epoch", "step", "name", "type", "mean", "std", "zero_fraction", "saturated_fraction",
           "grad_norm", "weight_norm", "update_ratio")


def forward_layers(model: Module, prefix: str = "") -> list[tuple[str, Module]]:
    """(name, layer) of the layers `model` applies, in order: Sequentials are opened (also
    nested ones); any other module is one layer."""
    if not isinstance(model, nn.Sequential):
        return [(prefix or type(model).__name__, model)]
    return [pair for name, child in model.named_children()
            for pair in forward_layers(child, f"{prefix}.{name}" if prefix else name)]


def layer_outputs(model: Module, x: np.ndarray) -> list[tuple[str, Module, np.ndarray]]:
    """(name, layer, output) of every layer of `model` on `x`, in the model's current mode."""
    outputs = []
    for name, layer in forward_layers(model):
        x = layer(x)
        outputs.append((name, layer, x))
    return outputs


def activation_stats(layer: Module, y: np.ndarray) -> dict:
    """Mean and std of a layer's output, and the zero (ReLU) or saturated (Tanh, Sigmoid) fraction."""
    stats = {"mean": float(y.mean(dtype=np.float64)), "std": float(y.std(dtype=np.float64)),
             "zero_fraction": None, "saturated_fraction": None}
    if type(layer) is nn.ReLU:
        stats["zero_fraction"] = (y.size - np.count_nonzero(y)) / y.size
    elif type(layer) is nn.Tanh:
        stats["saturated_fraction"] = np.count_nonzero(np.abs(y) > SATURATION) / y.size
    elif type(layer) is nn.Sigmoid:
        stats["saturated_fraction"] = np.count_nonzero((y < 1 - SATURATION) | (y > SATURATION)) / y.size
    return stats


def norm(a: np.ndarray) -> float:
    """The Euclidean norm of all elements, accumulated in float64 (by NumPy's own pairwise sum,
    not BLAS, whose threads contend with the training's on a busy machine)."""
    flat = a.reshape(-1).astype(np.float64)
    return math.sqrt(float(np.square(flat, out=flat).sum()))


class LayerMonitor:
    """Samples `model` every `every` iterations of a training loop (see the module docstring).

    The loop calls, on an iteration for which `due(iteration)` is true: `observe_forward`
    before its forward pass, `before_update` after the backward pass (and any l2 term),
    and `after_update` after the optimizer's step, which returns the ratios by parameter
    name. `sink`, when given, receives each sample (see `handgrad.train.tensorboard`).
    """

    def __init__(self, model: Module, every: int = 100, sink=None):
        if every < 1:
            raise ValueError(f"LayerMonitor: every must be at least 1, got {every}")
        self.model, self.every, self.sink = model, every, sink
        self.layers = forward_layers(model)
        self.parameters = [(name, param, type(_owner(model, name)).__name__)
                           for name, param in model.named_parameters()]
        self.layer_types = {name: kind for name, _, kind in self.parameters}
        self.rows: list[dict] = []
        self._where: tuple[int, int, int] | None = None
        self._first_row = 0
        self._before: list[tuple[float, float, np.ndarray]] = []
        self._epoch_zeros: dict[str, list[float]] = {}
        self._epoch_ratios: dict[str, list[float]] = {}

    def due(self, iteration: int) -> bool:
        """Whether iteration `iteration` (counted from 1 over the whole run) is sampled."""
        return (iteration - 1) % self.every == 0

    def observe_forward(self, x: np.ndarray, iteration: int, epoch: int, step: int) -> None:
        """Record every layer's output on batch `x`, leaving the model's state as it was."""
        self._where, self._first_row = (iteration, epoch, step), len(self.rows)
        with _state_kept(self.model):
            outputs = layer_outputs(self.model, x)
        for name, layer, y in outputs:
            stats = activation_stats(layer, y)
            self.rows.append(self._row(name, type(layer).__name__, **stats))
            if stats["zero_fraction"] is not None:
                self._epoch_zeros.setdefault(name, []).append(stats["zero_fraction"])
        if self.sink is not None:
            self.sink.activations(iteration, [(name, y) for name, _, y in outputs])

    def before_update(self) -> None:
        """Note each parameter's gradient norm, norm and value before the optimizer's step."""
        if self._where is None:
            raise RuntimeError("LayerMonitor.before_update() called without observe_forward() before it")
        self._before = [(norm(p.grad) if p.grad is not None else 0.0, norm(p.data), p.data.copy())
                        for _, p, _ in self.parameters]
        if self.sink is not None:
            self.sink.gradients(self._where[0], [(name, p.grad) for name, p, _ in self.parameters
                                                 if p.grad is not None])

    def after_update(self) -> dict[str, float | None]:
        """Record the update-to-weight ratio of every parameter; returns them by name."""
        ratios = {}
        for (name, param, kind), (grad_norm, weight_norm, old) in zip(self.parameters, self._before):
            ratio = norm(param.data - old) / weight_norm if weight_norm > 0 else None
            ratios[name] = ratio
            self.rows.append(self._row(name, kind, grad_norm=grad_norm, weight_norm=weight_norm, update_ratio=ratio))
            if ratio is not None and math.isfinite(ratio):
                self._epoch_ratios.setdefault(name, []).append(ratio)
        if self.sink is not None:
            self.sink.scalars(self._where[0], self.rows[self._first_row:])
        self._before, self._where = [], None
        return ratios

    def skip_update(self) -> None:
        """The sampled step was skipped (a non-finite loss): only its activations stay recorded."""
        self._before, self._where = [], None

    def _row(self, name: str, kind: str, **values) -> dict:
        iteration, epoch, step = self._where
        row = dict.fromkeys(COLUMNS)
        row.update(iteration=iteration, epoch=epoch, step=step, name=name, type=kind, **values)
        return row

    def end_epoch(self, epoch: int) -> list[str]:
        """The warning lines of the epoch that ended (dead layers, ratios out of range); resets the tally."""
        warnings = []
        dead = [(name, min(zeros)) for name, zeros in self._epoch_zeros.items() if min(zeros) > DEAD_FRACTION]
        if dead:
            warnings.append(f"layer monitor: epoch {epoch}: dead layer{'s' if len(dead) > 1 else ''} " + ", ".join(
                f"{name} (ReLU, at least {100 * low:.1f}% zeros at every sample)" for name, low in dead))
        low, high = RATIO_RANGE
        outside = [(name, float(np.median(ratios))) for name, ratios in self._epoch_ratios.items()
                   if not low <= np.median(ratios) <= high]
        if outside:
            warnings.append(f"layer monitor: epoch {epoch}: update-to-weight ratio outside [{low:g}, {high:g}] "
                            f"(median of the epoch's samples): " + ", ".join(f"{name} {ratio:.2g}"
                                                                             for name, ratio in outside))
        self._epoch_zeros, self._epoch_ratios = {}, {}
        return warnings

    def write_csv(self, path: str | Path) -> None:
        write_layers_csv(path, self.rows)


def write_layers_csv(path: str | Path, rows: list[dict]) -> None:
    """The rows as CSV (atomically); empty cells where a quantity does not apply."""
    write_table(path, rows, COLUMNS)


def read_layers_csv(path: str | Path) -> list[dict]:
    """The rows of a layers.csv: numbers parsed, empty cells as None."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: not a layers.csv file ({exc})") from None
    if rows and set(rows[0]) != set(COLUMNS):
        raise UserError(f"{path}: not a layers.csv file (its columns are {', '.join(rows[0])})")
    parsed = []
    for row in rows:
        try:
            parsed.append({key: value if key in ("name", "type") else None if value == "" else
                           int(value) if key in ("iteration", "epoch", "step") else float(value)
                           for key, value in row.items()})
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path}: malformed row {row} ({exc})") from None
    return parsed


class _state_kept:
    """Within it, forward passes may draw random numbers and update BatchNorm's running
    statistics: on leaving, the generators and the buffers are put back as they were."""

    def __init__(self, model: Module):
        self.model = model

    def __enter__(self):
        generators = [handgrad.default_generator()] + [value for module in self.model.modules()
                                                       for value in vars(module).values()
                                                       if isinstance(value, np.random.Generator)]
        self.generators = [(g, g.bit_generator.state) for g in generators]
        self.buffers = OrderedDict((key, value.copy()) for key, value in self.model.named_buffers())
        return self

    def __exit__(self, *exc_info):
        for generator, state in self.generators:
            generator.bit_generator.state = state
        if self.buffers:
            self.model.load_state_dict(self.buffers, strict=False)
        return False


def _owner(model: Module, parameter_name: str) -> Module:
    """The module that holds the parameter `parameter_name` ("3.weight" -> model's child "3")."""
    modules = dict(model.named_modules())
    return modules[parameter_name.rpartition(".")[0]]
