"""The figures of `handgrad inspect`, one function per picture, each writing one PNG.

Images are NCHW arrays as the model sees them (normalised); a picture shows them in
grey, scaled to their own range. Weights and gradients use a diverging map centred on
0 (red positive, blue negative), so a dead filter (all near 0) reads as flat white.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handgrad.train.plots import new_figure, save_figure

MAX_CHANNELS = 16  # feature maps and kernels shown per layer
DIVERGING = "RdBu_r"


def _symmetric(a: np.ndarray) -> dict:
    """imshow keywords for a diverging map centred on 0."""
    bound = float(np.max(np.abs(a))) or 1.0
    return {"cmap": DIVERGING, "vmin": -bound, "vmax": bound}


def _bare(axes) -> None:
    axes.set_xticks([])
    axes.set_yticks([])


def plot_filters(convs: list[tuple[str, np.ndarray]], path: str | Path, title: str = "") -> None:
    """The first conv layer's kernels (a row per output channel, a column per input channel
    when there are several), then, for each deeper conv layer, the norm ‖W[o, i]‖ of each
    kernel as an (output, input channel) grid: a row of zeros is a dead filter."""
    (first_name, first), deeper = convs[0], convs[1:]
    out_channels, in_channels = first.shape[:2]
    columns = min(out_channels, 8) if in_channels == 1 else in_channels
    rows = -(-out_channels // columns) if in_channels == 1 else min(out_channels, MAX_CHANNELS)
    figure = new_figure(figsize=(max(6.0, 1.1 * columns + 1), 1.2 * rows + 3.2 * len(deeper) + 1))
    parts = figure.subfigures(1 + len(deeper), 1, height_ratios=[1.2 * rows + 0.6] + [3.2] * len(deeper)) \
        if deeper else [figure]
    grid = np.atleast_2d(parts[0].subplots(rows, columns, squeeze=False))
    style = _symmetric(first)
    for index, axes in enumerate(grid.ravel()):
        _bare(axes)
        o, i = (index, 0) if in_channels == 1 else divmod(index, in_channels)
        if o >= out_channels:
            axes.axis("off")
            continue
        image = axes.imshow(first[o, i], **style)
        axes.set_title(f"{o}" if in_channels == 1 else f"out {o}, in {i}", fontsize=7)
    parts[0].colorbar(image, ax=grid, shrink=0.8)
    parts[0].suptitle(f"layer {first_name}: {out_channels} kernels of {first.shape[2]}x{first.shape[3]}"
                      + (f" per input channel" if in_channels > 1 else ""), fontsize=10)
    for part, (name, weight) in zip(parts[1:], deeper):
        axes = part.subplots()
        norms = np.sqrt((weight.astype(np.float64) ** 2).sum(axis=(2, 3)))
        image = axes.imshow(norms, cmap="viridis", aspect="auto", interpolation="nearest")
        axes.set_xlabel("input channel")
        axes.set_ylabel("output channel")
        part.colorbar(image, ax=axes, label="kernel norm")
        part.suptitle(f"layer {name}: {weight.shape[0]}x{weight.shape[1]} kernels of "
                      f"{weight.shape[2]}x{weight.shape[3]}, norm of each", fontsize=10)
    if title:
        figure.suptitle(title, y=1.02)
    save_figure(figure, path)


def plot_feature_maps(image: np.ndarray, maps: list[tuple[str, str, np.ndarray]], path: str | Path,
                      title: str = "") -> None:
    """One image (C, H, W) and, a row per layer, the first MAX_CHANNELS channels of each
    conv and pool layer's output (name, type, (C, H, W))."""
    columns = max(min(max(m.shape[0] for _, _, m in maps), MAX_CHANNELS), 1)
    figure = new_figure(figsize=(1.0 * columns + 1.5, 1.15 * (len(maps) + 1) + 0.5))
    grid = figure.subplots(len(maps) + 1, columns + 1, squeeze=False)
    for axes in grid.ravel():
        _bare(axes)
        axes.axis("off")
    grid[0, 0].axis("on")
    grid[0, 0].imshow(image[0], cmap="gray")
    grid[0, 0].set_title("input", fontsize=8)
    for row, (name, kind, output) in enumerate(maps, 1):
        grid[row, 0].text(0.5, 0.5, f"{name}\n{kind}\n{'x'.join(map(str, output.shape))}", ha="center",
                          va="center", fontsize=7)
        for channel in range(min(output.shape[0], MAX_CHANNELS)):
            axes = grid[row, channel + 1]
            axes.axis("on")
            axes.imshow(output[channel], cmap="viridis", interpolation="nearest")
    if title:
        figure.suptitle(title)
    save_figure(figure, path)


def plot_saliency(images: np.ndarray, gradients: np.ndarray, captions: list[str], path: str | Path,
                  title: str = "") -> None:
    """Each image beside |∂score/∂x| (its largest over the channels) and the signed gradient."""
    figure = new_figure(figsize=(7.5, 2.3 * len(images) + 0.5))
    grid = figure.subplots(len(images), 3, squeeze=False)
    for row, (image, gradient, caption) in enumerate(zip(images, gradients, captions)):
        magnitude = np.abs(gradient).max(axis=0)
        signed = gradient.sum(axis=0)
        grid[row, 0].imshow(image[0], cmap="gray")
        grid[row, 0].set_title(caption, fontsize=8)
        grid[row, 1].imshow(magnitude, cmap="hot")
        grid[row, 1].set_title("|gradient| of the score", fontsize=8)
        grid[row, 2].imshow(signed, **_symmetric(signed))
        grid[row, 2].set_title("gradient (red raises it)", fontsize=8)
        for axes in grid[row]:
            _bare(axes)
    if title:
        figure.suptitle(title)
    save_figure(figure, path)


def plot_mistakes(images: np.ndarray, captions: list[str], path: str | Path, title: str = "") -> None:
    """A grid of misclassified images, each captioned with its true and predicted class."""
    columns = 4 if len(images) > 1 else 1
    rows = max(1, -(-len(images) // columns))
    figure = new_figure(figsize=(2.2 * columns, 2.3 * rows + 0.5))
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.ravel()):
        _bare(axes)
        if index >= len(images):
            axes.axis("off")
            continue
        axes.imshow(images[index, 0], cmap="gray")
        axes.set_title(captions[index], fontsize=8)
    if not len(images):
        grid[0, 0].axis("off")
        grid[0, 0].text(0.5, 0.5, "no misclassified image", ha="center", va="center")
    if title:
        figure.suptitle(title)
    save_figure(figure, path)


def plot_per_class(accuracy: np.ndarray, counts: np.ndarray, class_names, overall: float, path: str | Path,
                   title: str = "") -> None:
    """A bar per class: its accuracy (%), with the number of its images, and the overall accuracy as a line."""
    figure = new_figure(figsize=(8, 4.5))
    axes = figure.subplots()
    positions = np.arange(len(class_names))
    bars = axes.bar(positions, 100 * np.nan_to_num(accuracy), color="tab:blue")
    for bar, value, count in zip(bars, accuracy, counts):
        label = "-" if np.isnan(value) else f"{100 * value:.1f}%\n(n={count})"
        axes.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center", va="bottom", fontsize=7)
    axes.axhline(100 * overall, color="tab:red", linestyle="--", label=f"overall {100 * overall:.2f}%")
    axes.set_xticks(positions, class_names, rotation=30 if max(map(len, class_names)) > 2 else 0)
    low = np.nanmin(accuracy) if np.isfinite(accuracy).any() else 0
    axes.set_ylim(max(0, 100 * low - 10), 104)
    axes.set_ylabel("accuracy (%)")
    axes.legend(loc="lower right")
    axes.grid(axis="y", alpha=0.3)
    if title:
        axes.set_title(title)
    save_figure(figure, path)


def plot_embedding(points: np.ndarray, labels: np.ndarray, class_names, variance: np.ndarray, path: str | Path,
                   title: str = "") -> None:
    """The 2-D PCA projection of the penultimate features, a colour per class."""
    figure = new_figure(figsize=(7.5, 6.5))
    axes = figure.subplots()
    colours = [f"C{k}" for k in range(10)] if len(class_names) <= 10 else None
    for k, name in enumerate(class_names):
        chosen = labels == k
        axes.scatter(points[chosen, 0], points[chosen, 1], s=4, alpha=0.5, label=name,
                     color=None if colours is None else colours[k], linewidths=0)
    axes.set_xlabel(f"principal component 1 ({100 * variance[0]:.1f}% of the variance)")
    axes.set_ylabel(f"principal component 2 ({100 * variance[1]:.1f}% of the variance)")
    axes.legend(markerscale=4, fontsize=8, loc="best")
    axes.grid(alpha=0.3)
    if title:
        axes.set_title(title)
    save_figure(figure, path)


def plot_histograms(activations: list[tuple[str, str, np.ndarray]], gradients: list[tuple[str, np.ndarray]],
                    path: str | Path, title: str = "", bins: int = 60) -> None:
    """A histogram of each layer's output (name, type, values) and of each parameter's gradient."""
    columns = 4
    panels = [(f"{name} {kind} output", values) for name, kind, values in activations] + \
             [(f"{name} gradient", values) for name, values in gradients]
    rows = -(-len(panels) // columns)
    figure = new_figure(figsize=(3.2 * columns, 2.3 * rows + 0.5))
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, (label, values) in zip(grid.ravel(), panels):
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        axes.hist(values, bins=bins, color="tab:blue" if "output" in label else "tab:orange", log=True)
        axes.set_title(label, fontsize=8)
        axes.tick_params(labelsize=6)
    for axes in grid.ravel()[len(panels):]:
        axes.axis("off")
    if title:
        figure.suptitle(title)
    save_figure(figure, path)
