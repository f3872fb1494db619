"""The run's pictures: `curves.png` (loss and accuracy per epoch), `confusion.png` and
`layers.png` (the layer monitor's samples).

Figures are drawn with matplotlib's object API on an Agg canvas, so no pyplot state or
global backend is touched and no display is needed. matplotlib is imported on first
use: it takes longer to import than the rest of handgrad.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from handgrad.train.checkpoint import atomic_write


def new_figure(**keywords):
    """A matplotlib Figure with constrained layout on its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(layout="constrained", **keywords)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: str | Path) -> None:
    """The figure as PNG at `path`, written atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write(path, buffer.getvalue())


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss and accuracy, train and validation, against the epoch."""
    figure = new_figure(figsize=(10, 4))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for split, style in (("train", "o-"), ("val", "s--")):
        losses = [np.nan if row.get(f"{split}_loss") is None else row[f"{split}_loss"] for row in history]
        accuracies = [np.nan if row.get(f"{split}_accuracy") is None else 100 * row[f"{split}_accuracy"]
                      for row in history]
        label = "train" if split == "train" else "validation"
        loss_axes.plot(epochs, losses, style, label=label)
        accuracy_axes.plot(epochs, accuracies, style, label=label)
    from matplotlib.ticker import MaxNLocator

    for axes, name in ((loss_axes, "loss"), (accuracy_axes, "accuracy (%)")):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    save_figure(figure, path)


def plot_confusion(matrix: np.ndarray, class_names, path: str | Path, title: str = "") -> None:
    """A confusion matrix (rows: true class, columns: predicted) with its counts written in."""
    matrix = np.asarray(matrix)
    figure = new_figure(figsize=(7, 6))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > threshold else "black")
    if title:
        axes.set_title(title)
    save_figure(figure, path)


# layers.png: (column of layers.csv, panel title, log scale?)
LAYER_PANELS = (
    ("mean", "activation mean", False),
    ("std", "activation std", True),
    ("zero_fraction", "ReLU zeros / saturated tanh, sigmoid", False),
    ("grad_norm", "gradient norm", True),
    ("weight_norm", "weight norm", True),
    ("update_ratio", "update / weight ratio", True),
)


def plot_layers(rows: list[dict], path: str | Path, title: str = "") -> None:
    """The layer monitor's rows (see `handgrad.train.monitor`) against the iteration: one
    panel per quantity, one line per layer or parameter, the healthy ratio range shaded."""
    from handgrad.train.monitor import RATIO_RANGE

    figure = new_figure(figsize=(15, 8))
    panels = figure.subplots(2, 3).ravel()
    from matplotlib import colormaps

    for axes, (column, name, log) in zip(panels, LAYER_PANELS):
        axes.set_prop_cycle(color=colormaps["tab20"].colors)  # a dozen layers: ten colours would repeat
        series: dict[str, tuple[list, list]] = {}
        for row in rows:
            value = row.get(column)
            if column == "zero_fraction" and value is None:
                value = row.get("saturated_fraction")
            if value is not None and np.isfinite(value) and (value > 0 or not log):
                xs, ys = series.setdefault(f"{row['name']} {row['type']}", ([], []))
                xs.append(row["iteration"])
                ys.append(value)
        for label, (xs, ys) in series.items():
            axes.plot(xs, ys, "-" if not label.split(" ")[0].endswith("bias") else "--", label=label, linewidth=1)
        if column == "update_ratio":
            axes.axhspan(*RATIO_RANGE, color="green", alpha=0.07, label="healthy range")
            axes.axhline(1e-3, color="green", linewidth=0.8, linestyle=":")
        if log and series:
            axes.set_yscale("log")
        axes.set_title(name)
        axes.set_xlabel("iteration")
        axes.grid(alpha=0.3)
        if series:
            axes.legend(fontsize=6, ncol=2)
    if title:
        figure.suptitle(title)
    save_figure(figure, path)
