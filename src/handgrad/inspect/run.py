"""Which pictures a run gets, computed from its saved model and its test images, and where they go.

`inspect_run(run_dir)` writes, into the run directory (or `out`):
filters.png, feature_maps.png (models with a Conv2d layer only; maps of 1x1 are left
out: a single number each), saliency.png,
mistakes.png, per_class.png, embedding.png, histograms.png (each layer's output and
each parameter's gradient on a batch of test images, from the final model) and, when
the run has a layers.csv, layers.png redrawn from it. The test images are those the
run was tested on (its data set's test split, its `limit`), unless `limit` says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from handgrad import data, nn
from handgrad.errors import MissingFileError, UserError
from handgrad.inspect import pictures
from handgrad.inspect.analysis import (
    confident_mistakes,
    penultimate_features,
    per_class_accuracy,
    principal_components,
    saliency,
)
from handgrad.train.dataset import class_names, data_root
from handgrad.train.evaluate import probabilities
from handgrad.train.images import load_image
from handgrad.train.files import LAYERS_FILE
from handgrad.train.monitor import forward_layers, layer_outputs, read_layers_csv
from handgrad.train.plots import plot_layers
from handgrad.train.run import SavedRun, load_run

PICTURES = ("filters", "feature_maps", "saliency", "mistakes", "per_class", "embedding", "histograms", "layers")
NEEDS_CONV = ("filters", "feature_maps")
SALIENCY_IMAGES = 6  # test images in saliency.png when none is given
MISTAKES = 16
HISTOGRAM_BATCH = 500


def parse_pictures(text: str | None) -> tuple[str, ...]:
    """The pictures named in a comma-separated list (None: all); an unknown name raises UserError."""
    if text is None:
        return PICTURES
    names = tuple(name.strip().replace("-", "_").removesuffix(".png") for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PICTURES]
    if unknown or not names:
        raise UserError(f"--pictures: {', '.join(unknown) or repr(text)} is not a picture; valid: {', '.join(PICTURES)}")
    return names


def inspect_run(run_dir: str | Path, images: Sequence[str | Path] = (), out: str | Path | None = None,
                pictures_wanted: Sequence[str] | None = None, limit: int | None = None,
                log: Callable[[str], None] = print) -> dict[str, Path]:
    """Draw the pictures of the run in `run_dir` (see the module docstring); returns {picture: path}.

    images: pictures (PNG, JPEG, ...) to use for feature_maps.png (the first) and
    saliency.png (all) instead of test images. pictures_wanted: a subset of PICTURES;
    asking for one the model cannot have (filters of a model with no Conv2d layer)
    raises UserError, while by default such pictures are skipped with a note in `log`.
    """
    run = load_run(run_dir)
    target = _output_folder(run, out)
    explicit = pictures_wanted is not None
    wanted = list(PICTURES if pictures_wanted is None else pictures_wanted)
    convs = [(name, layer) for name, layer in forward_layers(run.model) if isinstance(layer, nn.Conv2d)]
    if not convs and any(name in NEEDS_CONV for name in wanted):
        asked = [name for name in wanted if name in NEEDS_CONV]
        if explicit:
            raise UserError(f"{run.path}: its model {run.config.model!r} has no Conv2d layer, so it has no "
                             f"{' or '.join(asked).replace('_', ' ')} to draw")
        log(f"{run.config.model} has no Conv2d layer: no filters.png or feature_maps.png")
        wanted = [name for name in wanted if name not in NEEDS_CONV]
    layers_csv = run.path / LAYERS_FILE
    if "layers" in wanted and not layers_csv.is_file():
        if explicit:
            raise MissingFileError(f"{run.path} has no {LAYERS_FILE} (trained with --monitor-every 0, or before the "
                             f"layer monitor existed), so there is no layers.png to draw")
        wanted.remove("layers")
    given = np.stack([load_image(path, run.config.dataset) for path in images]) if images else None

    if limit is not None and limit < 0:
        raise UserError(f"--limit must be 0 (all) or more, got {limit}")
    test_images, test_labels = data.load_dataset(run.config.dataset, data_root(run.config.data_dir), "test")
    limit = run.config.limit if limit is None else limit
    if limit:
        test_images, test_labels = test_images[:limit], test_labels[:limit]
    x = data.to_float(test_images, run.mean, run.std, run.pad)
    y = test_labels.astype(np.int64)
    x_given = None if given is None else data.to_float(given, run.mean, run.std, run.pad)
    probs = probabilities(run.model, x)
    names = class_names(run.config.dataset)
    context = _Context(run, target, x, y, probs, names, convs, x_given, [str(p) for p in images])
    written = {}
    for name in wanted:
        path = target / f"{name}.png"
        DRAW[name](context, path)
        written[name] = path
        log(f"wrote {path}")
    return written


def _output_folder(run: SavedRun, out: str | Path | None) -> Path:
    if out is None:
        if not os.access(run.path, os.W_OK):
            raise UserError(f"run directory {run.path} is read-only; write the pictures elsewhere with --out DIR")
        return run.path
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


class _Context:
    """What every picture may use: the run, its test images and predictions, the given images."""

    def __init__(self, run, target, x, y, probs, names, convs, x_given, given_paths):
        self.run, self.target, self.x, self.y, self.probs, self.names = run, target, x, y, probs, names
        self.convs, self.x_given, self.given_paths = convs, x_given, given_paths
        self.label = f"{run.config.model} on {run.config.dataset} ({run.path.name})"

    def class_label(self, k: int) -> str:
        return self.names[k] if self.names[k] == str(k) else f"{k} {self.names[k]}"


def _draw_filters(c: _Context, path: Path) -> None:
    pictures.plot_filters([(name, layer.weight.data) for name, layer in c.convs], path, title=c.label)


def _draw_feature_maps(c: _Context, path: Path) -> None:
    image = c.x_given[:1] if c.x_given is not None else c.x[:1]
    c.run.model.eval()
    maps = [(name, type(layer).__name__, output[0]) for name, layer, output in layer_outputs(c.run.model, image)
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) and output[0, 0].size > 1]
    source = c.given_paths[0] if c.x_given is not None else f"test image 0 (a {c.class_label(int(c.y[0]))})"
    pictures.plot_feature_maps(image[0], maps, path, title=f"{c.label}: {source} through the conv and pool layers")


def _draw_saliency(c: _Context, path: Path) -> None:
    x = c.x_given if c.x_given is not None else c.x[:SALIENCY_IMAGES]
    gradients, predicted = saliency(c.run.model, x)
    probs = probabilities(c.run.model, x)
    captions = []
    for index, k in enumerate(predicted):
        where = c.given_paths[index] if c.x_given is not None else f"test {index}, true {c.class_label(int(c.y[index]))}"
        captions.append(f"{Path(where).name if c.x_given is not None else where}\n"
                        f"predicted {c.class_label(int(k))} ({probs[index, k]:.2f})")
    pictures.plot_saliency(x, gradients, captions, path, title=f"{c.label}: saliency of the predicted class")


def _draw_mistakes(c: _Context, path: Path) -> None:
    chosen = confident_mistakes(c.probs, c.y, MISTAKES)
    predicted = c.probs.argmax(axis=1)
    captions = [f"#{i}: true {c.class_label(int(c.y[i]))}\npredicted {c.class_label(int(predicted[i]))} "
                f"({c.probs[i, predicted[i]]:.2f})" for i in chosen]
    wrong = int(np.count_nonzero(predicted != c.y))
    pictures.plot_mistakes(c.x[chosen], captions, path, title=f"{c.label}: the {len(chosen)} most confident of "
                                                              f"{wrong} mistakes in {len(c.y):,} test images")


def _draw_per_class(c: _Context, path: Path) -> None:
    predicted = c.probs.argmax(axis=1)
    accuracy, counts = per_class_accuracy(predicted, c.y, len(c.names))
    pictures.plot_per_class(accuracy, counts, c.names, float(np.mean(predicted == c.y)), path,
                            title=f"{c.label}: accuracy per class")


def _draw_embedding(c: _Context, path: Path) -> None:
    features = penultimate_features(c.run.model, c.x)
    points, variance = principal_components(features, 2)
    pictures.plot_embedding(points, c.y, c.names, variance, path,
                            title=f"{c.label}: penultimate-layer features ({features.shape[1]}), PCA")


def _draw_histograms(c: _Context, path: Path) -> None:
    model, x, y = c.run.model, c.x[:HISTOGRAM_BATCH], c.y[:HISTOGRAM_BATCH]
    model.eval()
    outputs = layer_outputs(model, x)
    loss_fn = nn.CrossEntropyLoss()
    model.zero_grad()
    loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    gradients = [(name, param.grad) for name, param in model.named_parameters()]
    model.zero_grad()
    pictures.plot_histograms([(name, type(layer).__name__, output) for name, layer, output in outputs
                              if not isinstance(layer, nn.Flatten)], gradients,
                             path, title=f"{c.label}: final histograms on {len(x)} test images")


def _draw_layers(c: _Context, path: Path) -> None:
    plot_layers(read_layers_csv(c.run.path / LAYERS_FILE), path, title=f"{c.label}: the layer monitor")


DRAW = {"filters": _draw_filters, "feature_maps": _draw_feature_maps, "saliency": _draw_saliency,
        "mistakes": _draw_mistakes, "per_class": _draw_per_class, "embedding": _draw_embedding,
        "histograms": _draw_histograms, "layers": _draw_layers}
