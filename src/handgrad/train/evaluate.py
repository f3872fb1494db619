"""Evaluation in eval mode, in batches of 1000: loss, accuracy, predictions, confusion matrix.

The batches run through `handgrad.engine.Engine` (the model's own code in reference mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handgrad import nn
from handgrad.engine import Engine
from handgrad.nn import Module

EVAL_BATCH = 1000


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy, accuracy (a fraction) and the predicted class of every example."""

    loss: float
    accuracy: float
    predictions: np.ndarray


def logits(model: Module, x: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """The model's outputs for all of `x`, in eval mode (the previous mode is restored)."""
    was_training, run = model.training, _engine(model)
    model.eval()
    try:
        return np.concatenate([run(x[start : start + batch_size]) for start in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def probabilities(model: Module, x: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Softmax of the logits, (N, classes)."""
    z = logits(model, x, batch_size)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def evaluate(model: Module, x: np.ndarray, y: np.ndarray, batch_size: int = EVAL_BATCH) -> Evaluation:
    """Loss, accuracy and predictions of `model` on (x, y), in eval mode, `batch_size` at a time."""
    if len(x) == 0:
        return Evaluation(float("nan"), float("nan"), np.empty(0, dtype=np.int64))
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    was_training, run = model.training, _engine(model)
    model.eval()
    total, predictions = 0.0, []
    try:
        for start in range(0, len(x), batch_size):
            z = run(x[start : start + batch_size])
            total += loss_fn(z, y[start : start + batch_size])
            predictions.append(z.argmax(axis=1))
    finally:
        model.train(was_training)
    predictions = np.concatenate(predictions)
    return Evaluation(total / len(x), float(np.mean(predictions == y)), predictions)


def _engine(model) -> Engine:
    return model if isinstance(model, Engine) else Engine(model)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    return np.bincount(np.asarray(y_true) * classes + np.asarray(y_pred), minlength=classes * classes).reshape(
        classes, classes)
