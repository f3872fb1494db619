"""Study `sanity-and-sweeps` (report 002): CS231n's three-layer convnet, sanity checks and sweeps.

Base model: conv (num_filters 32, filter_size 7) → ReLU → 2×2 max pool → affine
(hidden_dim 500) → ReLU → affine, with an L2 term 0.5·reg·Σ‖W‖², reg 0.001.
Sanity checks: the initial loss without regularisation (published 2.30258789799, i.e.
ln 10) and with reg 0.5 (published 2.50854087057, higher as it should be), and
overfitting a small training set. Sweeps: dropout rate (0.1/0.3/0.5/0.8, two dropout
layers), hidden_dim (300/500/700), num_filters (16/32/48), filter_size (3/5/7); the
best net is retrained and tested.

The report ran on CIFAR-10 (3×32×32), which handgrad does not ship. The initial-loss
checks are reproduced on the report's exact shapes with random inputs (at weight
scale 1e-3 the initial loss does not depend on the data), and on our data; the
training parts run on Fashion-MNIST (`--dataset` changes it).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

import handgrad
from handgrad import models, nn
from handgrad.experiments.common import (
    StudyOptions,
    base_config,
    data_for,
    quick_note,
    settings_tables,
    train_variant,
)
from handgrad.experiments.report import Report, plot_series
from handgrad.models import zoo

NAME = "sanity-and-sweeps"
TITLE = "Three-layer convnet: sanity checks, overfitting a small set, and hyperparameter sweeps"
SOURCE = "002_3c5e2d0951ea02f0.txt"
DATASET = "fashion-mnist"
BASE = {"num_filters": 32, "filter_size": 7, "hidden_dim": 500, "dropout": 0.0}
REG = 0.001
WEIGHT_SCALE = 1e-3  # CS231n's ThreeLayerConvNet default: weights N(0, 1e-3²), biases 0
SWEEPS = {"dropout": (0.1, 0.3, 0.5, 0.8), "hidden_dim": (300, 500, 700), "num_filters": (16, 32, 48),
          "filter_size": (3, 5, 7)}
PUBLISHED_LOSS = 2.30258789799
PUBLISHED_LOSS_REG = 2.50854087057
OVERFIT_IMAGES, OVERFIT_EPOCHS = 100, 15
# Full mode is reduced (see REDUCTION).
SWEEP_TRAIN_IMAGES, SWEEP_EPOCHS, SWEEP_VAL_IMAGES = 4_000, 3, 2_000
BEST_TRAIN_IMAGES, BEST_EPOCHS = 15_000, 3
REDUCTION = (f"Each sweep point trains on the first {SWEEP_TRAIN_IMAGES:,} training images for {SWEEP_EPOCHS} epochs "
             f"and is validated on {SWEEP_VAL_IMAGES:,} images; the best net is retrained on {BEST_TRAIN_IMAGES:,} "
             f"images for {BEST_EPOCHS} epochs and tested on all 10,000 test images. The report trained every point "
             f"on all of CIFAR-10 and the best net for 10 epochs; a 7×7×32 convnet with a 500-wide hidden layer costs "
             f"about five LeNet-5s per image, and all studies together had about an hour of a shared, heavily loaded "
             f"2-core CPU. Rankings between sweep values are therefore noisier than the report's.")


def initial_loss(model: nn.Module, x: np.ndarray, y: np.ndarray, reg: float) -> float:
    """Cross-entropy of `model` (train mode, as CS231n's check) on (x, y) plus 0.5·reg·Σ‖W‖² over conv/linear weights."""
    loss = nn.CrossEntropyLoss()(model(x), y)
    weights = [m.weight.data for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return float(loss + 0.5 * reg * sum(float(np.vdot(w, w)) for w in weights))


def sanity_model(seed: int, **options) -> nn.Module:
    handgrad.manual_seed(seed)
    model = models.build("three-layer-convnet", **options)
    zoo.initialise(model, "normal", WEIGHT_SCALE)
    return model


def sweep_configs(options: StudyOptions, base) -> dict:
    """(parameter, value) -> TrainConfig; the base config appears once, under every sweep that contains it."""
    runs = {}
    for key, values in SWEEPS.items():
        for value in values:
            model_options = {**BASE, key: value}
            runs[(key, value)] = dataclasses.replace(base, model_options=model_options)
    return runs


def run(options: StudyOptions) -> Path:
    out = options.output(NAME)
    dataset = options.dataset_or(DATASET)
    report = Report(NAME, TITLE, out, {**options.meta(), "source": SOURCE, "dataset": dataset})
    quick_note(report, options)
    report.text(f"Source: `{SOURCE}`. CS231n's three-layer convnet: conv → ReLU → 2×2 max pool → affine → ReLU → "
                f"affine, softmax loss with an L2 term 0.5·reg·Σ‖W‖² over the weights (not the biases).")
    report.heading("What was run")
    epochs = options.epochs_or(SWEEP_EPOCHS)
    base = base_config(options, model="three-layer-convnet", model_options=dict(BASE), dataset=dataset,
                       optimizer="adam", lr=1e-3, batch_size=50, epochs=epochs, l2=REG, val_fraction=0.1)
    report.bullets([
        "Base model: `three-layer-convnet` with num_filters 32, filter_size 7 (padding 3, stride 1), "
        "hidden_dim 500, reg 0.001 (the `l2` setting: the explicit loss term, as CS231n's).",
        f"**Chosen here** (the report leaves them open): Adam at lr 0.001 and batch 50 (CS231n's Solver settings "
        f"for this net), PyTorch's default initialisation for training runs, inputs normalised with the training "
        f"part's mean and standard deviation, {dataset} instead of CIFAR-10 (not shipped with handgrad; "
        f"Fashion-MNIST is the shipped set on which these nets do not all saturate).",
        "Dropout sweep: the model's `dropout` option puts one dropout layer after the conv-ReLU-pool block and one "
        "after the hidden affine-ReLU, as in the report.",
        *([] if options.quick else [f"**Reduced:** {REDUCTION}"]),
    ])

    # -- sanity: initial loss ----------------------------------------------------------------------
    report.heading("Sanity check: the initial loss")
    rng = np.random.default_rng(options.seed)
    cifar_x = rng.standard_normal((100, 3, 32, 32)).astype(np.float32)
    cifar_y = rng.integers(0, 10, 100)
    cifar = sanity_model(options.seed, in_channels=3, input_size=32, num_filters=32, filter_size=7, hidden_dim=100)
    prepared = data_for(base.validated())
    ours_x, ours_y = prepared.x_train[:100], prepared.y_train[:100]
    ours = sanity_model(options.seed, **BASE)
    loss_cifar, loss_cifar_reg = initial_loss(cifar, cifar_x, cifar_y, 0.0), initial_loss(cifar, cifar_x, cifar_y, 0.5)
    loss_ours, loss_ours_reg = initial_loss(ours, ours_x, ours_y, 0.0), initial_loss(ours, ours_x, ours_y, 0.5)
    report.text(f"Weights N(0, {WEIGHT_SCALE:g}²) and zero biases, as CS231n's `ThreeLayerConvNet`, so the scores "
                f"are nearly 0 and the loss is ln 10 = {math.log(10):.6f}. With reg 0.5 the L2 term "
                f"0.25·Σ‖W‖² adds about 0.25·(number of weights)·{WEIGHT_SCALE:g}². The report's check used CS231n's "
                f"default hidden_dim 100 on 3×32×32 CIFAR-10 images: 824,904 weights, an expected "
                f"{0.25 * 824904 * WEIGHT_SCALE ** 2:.4f} on top of ln 10; the published rise is "
                f"{PUBLISHED_LOSS_REG - PUBLISHED_LOSS:.4f}.")
    report.comparison("initial_loss", [
        ["report's net (3×32×32, hidden 100), reg 0", loss_cifar, PUBLISHED_LOSS, "random N(0, 1) inputs"],
        ["report's net (3×32×32, hidden 100), reg 0.5", loss_cifar_reg, PUBLISHED_LOSS_REG, "random N(0, 1) inputs"],
        [f"base net on {dataset} (1×28×28, hidden 500), reg 0", loss_ours, PUBLISHED_LOSS, "100 training images"],
        [f"base net on {dataset} (1×28×28, hidden 500), reg 0.5", loss_ours_reg, None,
         "more weights than the report's net, so a larger rise is expected"],
    ], caption="Initial loss, ours vs published", digits=5)

    # -- sanity: overfit a small set -------------------------------------------------------------------
    report.heading("Sanity check: overfitting a small training set")
    overfit_epochs = options.epochs_or(OVERFIT_EPOCHS)
    overfit_config = dataclasses.replace(base, epochs=overfit_epochs, l2=0.0)
    validated = overfit_config.validated()
    small = dataclasses.replace(data_for(validated), x_train=prepared.x_train[:OVERFIT_IMAGES],
                                y_train=prepared.y_train[:OVERFIT_IMAGES], x_val=prepared.x_val[:1000],
                                y_val=prepared.y_val[:1000])
    overfit = train_variant("overfit", overfit_config, options, data=small)
    report.text(f"The base net without regularisation, trained on {len(small.y_train)} images for {overfit_epochs} "
                f"epochs (batch 50), validated on {len(small.y_val)} others. It should fit the training set almost "
                f"perfectly while validation accuracy stays far lower.")
    report.table("overfit", ["epoch", "train loss", "train acc", "val loss", "val acc"],
                 [[r["epoch"], r["train_loss"], r["train_accuracy"], r["val_loss"], r["val_accuracy"]]
                  for r in overfit.history], caption="Overfitting the small set, per epoch")

    def draw_overfit(figure):
        axes = figure.subplots(1, 2)
        plot_series(axes[0], {"training": overfit.curve("train_loss"), "validation": overfit.curve("val_loss")},
                    "epoch", "loss", "Loss")
        plot_series(axes[1], {"training": overfit.curve("train_accuracy"),
                              "validation": overfit.curve("val_accuracy")}, "epoch", "accuracy", "Accuracy")

    report.figure("overfit.png", draw_overfit, "Overfitting a small training set: training accuracy rises to "
                  "about 100%, validation stays far lower (the report's figure)", width=10, height=4)
    report.comparison("overfit_published", [
        ["final train accuracy (small set)", overfit.last["train_accuracy"], None,
         "report: near 100% (figure only)"],
        ["final validation accuracy", overfit.last["val_accuracy"], None, "report: far lower (figure only)"],
        ["train − validation gap", overfit.last["train_accuracy"] - overfit.last["val_accuracy"], None,
         "large, as in the report"],
    ], caption="Overfitting check, ours vs the report (which gives it only as a figure)")

    # -- sweeps ------------------------------------------------------------------------------------------
    report.heading("Sweeps")
    train_images = 0 if options.quick else SWEEP_TRAIN_IMAGES
    val_images = 0 if options.quick else SWEEP_VAL_IMAGES
    runs = sweep_configs(options, base)
    unique: dict[str, tuple] = {}
    for (key, value), config in runs.items():
        unique.setdefault(json_key(config.model_options), (key, value, config))
    settings_tables(report, "settings", {f"{k}={v}": c for k, v, c in unique.values()},
                    extra={"training images": train_images or "all of the split",
                           "validation images": val_images or "all of the split"})
    trained = {}
    for name, (key, value, config) in unique.items():
        data = data_for(config.validated(), train_images)
        if val_images:
            data = dataclasses.replace(data, x_val=data.x_val[:val_images], y_val=data.y_val[:val_images])
        trained[name] = train_variant(f"{key}={value}", config, options, data=data)
    rows = []
    for (key, value), config in runs.items():
        v = trained[json_key(config.model_options)]
        rows.append([key, value, v.last["train_accuracy"], v.last["val_accuracy"], v.result.test_accuracy,
                     v.last["train_accuracy"] - v.last["val_accuracy"], v.result.seconds])
    report.table("sweeps", ["parameter", "value", "train acc", "val acc", "test acc", "train − val", "train s"], rows,
                 caption=f"Each sweep changes one setting of the base net; final epoch of {epochs}")

    for key, values in SWEEPS.items():
        def draw(figure, key=key, values=values):
            axes = figure.subplots(1, 1)
            for i, value in enumerate(values):
                v = trained[json_key({**BASE, key: value})]
                color = f"C{i}"
                epochs_, train = v.curve("train_accuracy")
                _, val = v.curve("val_accuracy")
                axes.plot(epochs_, train, "o-", color=color, markersize=3, label=f"{key}={value} train")
                axes.plot(epochs_, val, "s--", color=color, markersize=3, label=f"{key}={value} val")
            plot_series(axes, {}, "epoch", "accuracy", f"Sweep of {key}: training (solid) and validation (dashed)")
            axes.legend(fontsize=7, ncol=2)

        report.figure(f"sweep_{key}.png", draw, f"Training and validation accuracy per epoch, sweeping {key}",
                      width=7, height=4)

    # -- best net ------------------------------------------------------------------------------------
    best_name = max(trained, key=lambda n: trained[n].last["val_accuracy"])
    best_options = trained[best_name].config.model_options
    best_config = dataclasses.replace(base, model_options={k: best_options[k] for k in BASE},
                                      epochs=options.epochs_or(BEST_EPOCHS))
    best = train_variant("best", best_config, options, train_images=0 if options.quick else BEST_TRAIN_IMAGES)
    chosen = ", ".join(f"{k}={best_options[k]}" for k in BASE)
    report.heading("Best net")
    images = "all" if options.quick or not BEST_TRAIN_IMAGES else f"{BEST_TRAIN_IMAGES:,}"
    report.text(f"Highest validation accuracy in the sweeps: **{chosen}**. Retrained "
                f"({best_config.epochs} epoch(s), {images} training images) and tested. The report's best net "
                f"was the base net with num_filters 16, trained 10 epochs on "
                f"CIFAR-10.")
    report.comparison("best", [
        ["best net: test accuracy", best.result.test_accuracy, 0.85,
         f"ours on {dataset}, the report's on CIFAR-10: not comparable"],
        ["best net: validation accuracy", best.last["val_accuracy"], None, ""],
        ["best net: num_filters", best_options["num_filters"], 16, "report: fewer filters, similar accuracy"],
        ["best net: hidden_dim", best_options["hidden_dim"], 500, "report: 500 best"],
        ["best net: filter_size", best_options["filter_size"], 7, "report: 3 and 5 overfit"],
        ["best net: dropout", best_options["dropout"], 0.0, "report: dropout did not help"],
    ], caption="The best net, ours vs the report's", digits=4)
    report.record("sweep_histories", {f"{k}={v}": trained[json_key(c.model_options)].history
                                      for (k, v), c in runs.items()})
    report.record("overfit_history", overfit.history)
    report.record("best_history", best.history)
    return report.write()


def json_key(model_options: dict) -> str:
    return ",".join(f"{k}={model_options[k]}" for k in BASE)
