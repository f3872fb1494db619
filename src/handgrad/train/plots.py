"""The run's pictures: `curves.png` (loss and accuracy per epoch) and `confusion.png`.

Figures are drawn with matplotlib's object API on an Agg canvas, so no pyplot state or
global backend is touched and no display is needed. matplotlib is imported on first
use: it takes longer to import than the rest of handgrad.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from handgrad.train.checkpoint import atomic_write


def _figure(**keywords):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(layout="constrained", **keywords)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write(path, buffer.getvalue())


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss and accuracy, train and validation, against the epoch."""
    figure = _figure(figsize=(10, 4))
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
    _save(figure, path)


def plot_confusion(matrix: np.ndarray, class_names, path: str | Path, title: str = "") -> None:
    """A confusion matrix (rows: true class, columns: predicted) with its counts written in."""
    matrix = np.asarray(matrix)
    figure = _figure(figsize=(7, 6))
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
    _save(figure, path)
