"""The numbers behind the pictures: saliency, penultimate features and their PCA, mistakes.

Saliency (Simonyan et al., 2014): the gradient of the predicted class's score (its
logit, before the softmax) with respect to the input image, s = ∂z_k/∂x, from one
backward pass of the one-hot vector e_k through the model in eval mode:
`model.backward(e_k)` returns ∂(e_k·z)/∂x = ∂z_k/∂x.

PCA: the features F (N, D) are centred, F − mean(F) = U Σ Vᵀ (a thin SVD), and the
projection onto the first k principal directions is (F − mean(F)) V[:, :k] = U[:, :k] Σ[:k];
each column's sign is fixed so its largest-magnitude entry of V is positive (SVD leaves
it free).
"""

from __future__ import annotations

import numpy as np

from handgrad.nn import Module
from handgrad.train.evaluate import EVAL_BATCH
from handgrad.train.monitor import forward_layers


def saliency(model: Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(∂z_k/∂x of each image, shaped like x; k, the predicted class of each image), in eval mode."""
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
        predicted = logits.argmax(axis=1)
        one_hot = np.zeros_like(logits)
        one_hot[np.arange(len(x)), predicted] = 1
        return model.backward(one_hot), predicted
    finally:
        model.train(was_training)


def penultimate_features(model: Module, x: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """What the last layer with parameters receives (e.g. LeNet-5's 84 ReLU outputs), flattened, in eval mode."""
    layers = [layer for _, layer in forward_layers(model)]
    last = max((i for i, layer in enumerate(layers) if next(layer.parameters(), None) is not None), default=None)
    if not last:
        raise ValueError("the model has no layer with parameters after its first layer, so no penultimate features")
    was_training = model.training
    model.eval()
    try:
        parts = []
        for start in range(0, len(x), batch_size):
            h = x[start: start + batch_size]
            for layer in layers[:last]:
                h = layer(h)
            parts.append(h.reshape(len(h), -1))
        return np.concatenate(parts)
    finally:
        model.train(was_training)


def principal_components(features: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(the projection onto the first k principal directions (N, k), the share of the variance each explains)."""
    centred = np.asarray(features, dtype=np.float64) - features.mean(axis=0, dtype=np.float64)
    u, sigma, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
    signs[signs == 0] = 1
    variance = sigma ** 2
    share = variance[:k] / variance.sum() if variance.sum() > 0 else np.zeros(k)
    return u[:, :k] * sigma[:k] * signs, share


def confident_mistakes(probs: np.ndarray, labels: np.ndarray, count: int = 16) -> np.ndarray:
    """Indices of the misclassified examples with the highest predicted probability, most confident first."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]


def per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy of each true class (nan where it has no example), number of examples of each class)."""
    counts = np.bincount(labels, minlength=classes)
    hits = np.bincount(labels[predicted == labels], minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan), counts
