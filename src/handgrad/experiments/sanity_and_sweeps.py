"""Study `sanity-and-sweeps` (report 002): CS231n's three-layer convnet, sanity checks and sweeps.

Base model (the report's): conv (num_filters 32, filter_size 7) → ReLU → 2×2 max pool →
affine (hidden_dim 500) → ReLU → affine, with an L2 term 0.5·reg·Σ‖W‖², reg 0.001.
Sanity checks: the initial loss without regularisation (published 2.30258789799, i.e.
ln 10) and with reg 0.5 (published 2.50854087057), and overfitting a small training set.
Sweeps: dropout rate (0.1/0.3/0.5/0.8, two dropout layers), hidden_dim (300/500/700),
num_filters (16/32/48), filter_size (3/5/7). The best net — chosen from the finished
sweep trials by mean validation accuracy, a later stage of the study — is trained for
the report's 10 epochs and tested, beside the report's own choice (num_filters 16).

The report never names its data set. Its initial-loss rise with reg 0.5 (0.2060) is what
0.25·Σ‖W‖² gives at CS231n's weight scale 1e-3 for the assignment's default net on
3×32×32 inputs with hidden_dim 100 (824,904 weights: 0.2062), so its inputs were
probably 3×32×32; nothing more is known. The initial-loss checks are reproduced on those
shapes with random inputs (at weight scale 1e-3 the initial loss does not depend on the
data); the training parts run on Fashion-MNIST (`--dataset` changes it), so their
accuracies are not the report's.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

import handgrad
from handgrad import models, nn
from handgrad.experiments.common import (
    Results,
    StudyOptions,
    Trial,
    Variant,
    base_config,
    data_for,
    metrics_of,
    quick_note,
    settings_tables,
    train_variant,
)
from handgrad.experiments.report import Report, plot_band, plot_series
from handgrad.experiments.stats import cell, summarise, verdict
from handgrad.models import zoo
from handgrad.train import evaluate

NAME = "sanity-and-sweeps"
TITLE = "Three-layer convnet: sanity checks, overfitting a small set, and hyperparameter sweeps"
SOURCE = "002_3c5e2d0951ea02f0.txt"
METRIC = "val_acc"
DATASET = "fashion-mnist"
BASE = {"num_filters": 32, "filter_size": 7, "hidden_dim": 500, "dropout": 0.0}
REG = 0.001
WEIGHT_SCALE = 1e-3  # CS231n's ThreeLayerConvNet default: weights N(0, 1e-3²), biases 0
OVERFIT_WEIGHT_SCALE = 1e-2  # CS231n's overfitting check
SWEEPS = {"dropout": (0.1, 0.3, 0.5, 0.8), "hidden_dim": (300, 500, 700), "num_filters": (16, 32, 48),
          "filter_size": (3, 5, 7)}
PUBLISHED_LOSS = 2.30258789799
PUBLISHED_LOSS_REG = 2.50854087057
PUBLISHED_VAL_AFTER_ONE_EPOCH = 0.80  # "about 80 % accuracy on the validation set after one epoch"
PUBLISHED_BEST_TEST = 0.85  # num_filters 16, 10 epochs
REPORT_BEST = {**BASE, "num_filters": 16}
OVERFIT_IMAGES, OVERFIT_EPOCHS = 100, 15
SWEEP_EPOCHS = 3  # the report states no sweep budget (see BUDGET)
BEST_EPOCHS = 10  # the report's
TRAIN_EVAL_IMAGES = 1000  # training accuracy measured after training on this many training images (CS231n's)
QUICK_TRAIN_EVAL_IMAGES = 200
BUDGET = (f"The report states no budget for the sweeps: its base-model figure is \"about 80 % after one epoch\" "
          f"and its best net trained 10 epochs. Each sweep point here trains {SWEEP_EPOCHS} epochs on the whole "
          f"training split and is validated on the whole validation split; the best net trains the report's "
          f"{BEST_EPOCHS} epochs. {SWEEP_EPOCHS} and not {BEST_EPOCHS} epochs per point: 11 sweep variants × 3 seeds "
          f"× 10 epochs of a 7×7×32 convnet with a 500-wide hidden layer (about five LeNet-5s per image) is more "
          f"than a day of a 2-core CPU; the comparisons the report draws are between points trained alike.")


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


def sweep_name(key: str, value) -> str:
    return "as-published-base" if BASE[key] == value else f"as-published-{key}-{value}"


def _base(options: StudyOptions, **settings):
    defaults = dict(optimizer="adam", lr=1e-3, batch_size=50, l2=REG, val_fraction=0.1,
                    epochs=options.epochs_or(SWEEP_EPOCHS))
    return base_config(options, model="three-layer-convnet", model_options=dict(BASE),
                       dataset=options.dataset_or(DATASET), **{**defaults, **settings})


def sweep_variants(options: StudyOptions) -> dict:
    """name -> Variant of every sweep point (the base net once)."""
    base = _base(options)
    out = {}
    for key, values in SWEEPS.items():
        for value in values:
            name = sweep_name(key, value)
            out.setdefault(name, Variant(dataclasses.replace(base, model_options={**BASE, key: value}),
                                         "base net" if name == "as-published-base" else f"{key} = {value}",
                                         init="normal", init_std=WEIGHT_SCALE, test_each_epoch=False,
                                         extra={"kind": "sweep", "sweep": key}))
    return out


def variants(options: StudyOptions, done: Results | None = None) -> dict:
    """The sanity checks and the sweeps; the best net once every sweep trial has finished."""
    sweeps = sweep_variants(options)
    out = {
        "sanity": Variant(label="initial loss", extra={"kind": "sanity"}),
        "overfit": Variant(_base(options, l2=0.0, epochs=options.epochs_or(OVERFIT_EPOCHS)),
                           f"overfit {OVERFIT_IMAGES} images", init="normal", init_std=OVERFIT_WEIGHT_SCALE,
                           extra={"kind": "overfit"}),
        **sweeps,
    }
    if done is not None and all(done.complete(name, options.seed_count()) for name in sweeps):
        best = max(sweeps, key=lambda name: done.summary(name, "val_acc").mean)
        chosen = sweeps[best].config.model_options
        epochs = options.epochs_or(BEST_EPOCHS)
        out["best"] = Variant(dataclasses.replace(sweeps[best].config, epochs=epochs), f"best of the sweeps: {best}",
                              init="normal", init_std=WEIGHT_SCALE, extra={"kind": "sweep", "chosen": best})
        if {k: chosen[k] for k in BASE} != REPORT_BEST:
            out["as-published-best"] = Variant(
                dataclasses.replace(sweeps[best].config, model_options=dict(REPORT_BEST), epochs=epochs),
                "the report's best net (num_filters 16)", init="normal", init_std=WEIGHT_SCALE,
                extra={"kind": "sweep"})
    return out


def trial(name: str, variant: Variant, seed: int, options: StudyOptions) -> Trial:
    kind = variant.extra.get("kind")
    if kind == "sanity":
        return sanity_trial(name, seed, options)
    started = time.perf_counter()
    config = dataclasses.replace(variant.config, seed=seed)
    data = None
    if kind == "overfit":
        prepared = data_for(config.validated())
        data = dataclasses.replace(prepared, x_train=prepared.x_train[:OVERFIT_IMAGES],
                                   y_train=prepared.y_train[:OVERFIT_IMAGES], x_val=prepared.x_val[:1000],
                                   y_val=prepared.y_val[:1000])
    trained = train_variant(f"{name} seed {seed}", config, options, data=data, init=variant.init,
                            init_std=variant.init_std)
    source = data if data is not None else data_for(trained.config)
    count = QUICK_TRAIN_EVAL_IMAGES if options.quick else TRAIN_EVAL_IMAGES
    train_eval = evaluate(trained.result.model, source.x_train[:count], source.y_train[:count]).accuracy
    metrics = {k: (None if v is None else float(v)) for k, v in metrics_of(trained).items()}
    first = trained.history[0]
    metrics.update(train_eval_acc=train_eval, gap=train_eval - metrics["val_acc"],
                   val_acc_epoch1=first["val_accuracy"])
    return Trial(name, seed, metrics, time.perf_counter() - started,
                 {"history": trained.history, "guard_events": trained.result.guard_events})


def sanity_trial(name: str, seed: int, options: StudyOptions) -> Trial:
    """The initial loss of the report's net on 3×32×32 random inputs, and of the base net on our data."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((100, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    report_net = sanity_model(seed, in_channels=3, input_size=32, num_filters=32, filter_size=7, hidden_dim=100)
    prepared = data_for(dataclasses.replace(_base(options), seed=seed).validated())
    ours = sanity_model(seed, **BASE)
    ours_x, ours_y = prepared.x_train[:100], prepared.y_train[:100]
    metrics = {"loss_report_net": initial_loss(report_net, x, y, 0.0),
               "loss_report_net_reg": initial_loss(report_net, x, y, 0.5),
               "loss_base_net": initial_loss(ours, ours_x, ours_y, 0.0),
               "loss_base_net_reg": initial_loss(ours, ours_x, ours_y, 0.5)}
    return Trial(name, seed, metrics, time.perf_counter() - started, {})


# -- the report -----------------------------------------------------------------------------------
def write_report(options: StudyOptions, results: Results) -> Path:
    out = options.output(NAME)
    dataset = options.dataset_or(DATASET)
    specs = variants(options, results)
    sweeps = sweep_variants(options)
    report = Report(NAME, TITLE, out, {**options.meta(), "source": SOURCE, "dataset": dataset})
    report.use(results)
    quick_note(report, options)
    report.text(f"Source: `{SOURCE}` (CS5242 assignment 2). CS231n's three-layer convnet: conv → ReLU → 2×2 max "
                f"pool → affine → ReLU → affine, softmax loss with an L2 term 0.5·reg·Σ‖W‖² over the weights (not "
                f"the biases).")
    report.heading("What was run")
    report.bullets([
        "**Data set: not named by the report** (inferred 3×32×32 from the initial loss: its rise with reg 0.5, "
        "0.2060, is 0.25·Σ‖W‖² at weight scale 1e-3 for CS231n's default net on 3×32×32 inputs, 824,904 weights "
        f"→ 0.2062). Trained here on **{dataset}** (1×28×28), so accuracies are not comparable in value with the "
        "report's; its comparisons between settings are what is tested.",
        "**As published** (variants `as-published-*`): the base net num_filters 32, filter_size 7 (padding 3, "
        "stride 1), hidden_dim 500, reg 0.001 (the `l2` setting: the explicit loss term, as CS231n's); the sweep "
        "values; two dropout layers (after conv-ReLU-pool and after the hidden affine-ReLU); the best net's 10 "
        "epochs.",
        "**Not stated by the report, CS231n's assignment defaults:** Adam lr 0.001, batch 50, weights "
        f"N(0, {WEIGHT_SCALE:g}²) and zero biases (the weight scale the initial-loss figures imply), "
        f"training accuracy measured after training on {TRAIN_EVAL_IMAGES:,} training images in eval mode; for "
        f"the overfitting check {OVERFIT_IMAGES} images, {OVERFIT_EPOCHS} epochs, weight scale "
        f"{OVERFIT_WEIGHT_SCALE:g}, no reg. **Chosen here:** inputs normalised with the training part's mean and "
        f"standard deviation, 10 % of the training images held out for validation.",
        f"**Budget:** {BUDGET}" if not options.quick else "Budget (full run): " + BUDGET,
        "The best net is a later stage: once every sweep trial has finished, the sweep variant with the highest "
        "mean validation accuracy over the seeds is trained for the report's 10 epochs (`best`), and beside it the "
        "report's own choice, num_filters 16 (`as-published-best`), when ours differs.",
    ])
    settings_tables(report, "settings", {name: v.config for name, v in specs.items() if v.config is not None})

    # -- sanity: initial loss ----------------------------------------------------------------------
    report.heading("Sanity check: the initial loss")
    report.text(f"Weights N(0, {WEIGHT_SCALE:g}²) and zero biases, as CS231n's `ThreeLayerConvNet`, so the scores "
                f"are nearly 0 and the loss is ln 10 = {math.log(10):.6f}. With reg 0.5 the L2 term "
                f"0.25·Σ‖W‖² adds about 0.25·(number of weights)·{WEIGHT_SCALE:g}²: "
                f"{0.25 * 824904 * WEIGHT_SCALE ** 2:.4f} for the 3×32×32 net with hidden_dim 100; the published rise "
                f"is {PUBLISHED_LOSS_REG - PUBLISHED_LOSS:.4f}.")
    report.published_table("initial_loss", [
        ("3×32×32 net, hidden 100, reg 0 (random N(0, 1) inputs)", results.summary("sanity", "loss_report_net"),
         PUBLISHED_LOSS, False),
        ("3×32×32 net, hidden 100, reg 0.5", results.summary("sanity", "loss_report_net_reg"), PUBLISHED_LOSS_REG,
         False),
        (f"base net on {dataset} (1×28×28, hidden 500), reg 0", results.summary("sanity", "loss_base_net"),
         PUBLISHED_LOSS, False),
        (f"base net on {dataset}, reg 0.5 (more weights: a larger rise)", results.summary("sanity",
                                                                                           "loss_base_net_reg"),
         None, False),
    ], caption="Initial loss over the seeds, ours vs published")

    # -- sanity: overfit a small set -------------------------------------------------------------------
    report.heading("Sanity check: overfitting a small training set")
    report.summary_table("overfit", results, {"overfit": f"overfit {OVERFIT_IMAGES} images"},
                         [("train_eval_acc", "train acc", True), ("val_acc", "val acc", True),
                          ("gap", "train − val", True)],
                         caption=f"The base net without reg on {OVERFIT_IMAGES} training images, validated on 1,000 "
                                 f"others; the report shows it only as a figure (\"overfits ... the accuracy gap\")")
    histories = results.histories("overfit")

    def draw_overfit(figure):
        axes = figure.subplots(1, 2)
        for ax, (train_key, val_key, what) in zip(axes, (("train_loss", "val_loss", "loss"),
                                                         ("train_accuracy", "val_accuracy", "accuracy"))):
            plot_band(ax, "training", [_curve(h, train_key) for h in histories], "o-")
            plot_band(ax, "validation", [_curve(h, val_key) for h in histories], "s--")
            plot_series(ax, {}, "epoch", what, what.capitalize())
            ax.legend(fontsize=8)

    report.figure("overfit.png", draw_overfit, "Overfitting a small training set (the report's figure): mean over "
                  "the seeds, band from lowest to highest", width=10, height=4)

    # -- sweeps ------------------------------------------------------------------------------------------
    report.heading("Sweeps")
    report.summary_table("sweeps", results, {name: v.label for name, v in sweeps.items()},
                         [("train_eval_acc", "train acc", True), ("val_acc", "val acc", True),
                          ("test_acc", "test acc", True), ("gap", "train − val", True)],
                         caption=f"Each sweep point after {options.epochs_or(SWEEP_EPOCHS)} epoch(s): mean ± 95 % "
                                 f"interval over the seeds")
    report.published_table("base_epoch1", [
        ("base net: validation accuracy after one epoch", results.summary("as-published-base", "val_acc_epoch1"),
         PUBLISHED_VAL_AFTER_ONE_EPOCH, True)],
        caption=f"The report's \"about 80 % on the validation set after one epoch\" (its data set, not named; ours: "
                f"{dataset})")
    for key, values in SWEEPS.items():
        report.figure(f"sweep_{key}.png", _draw_sweep(results, key, values),
                      f"Sweep of {key}: training (running average, solid) and validation (dashed) accuracy per "
                      f"epoch, mean over the seeds with a min–max band (the report's plot)", width=7, height=4)
    report.heading("The report's claims")
    report.differences_table("findings", _findings(results), caption="Each claim of the report as a difference "
                             "paired by seed (validation accuracy unless said otherwise)")

    # -- best net ------------------------------------------------------------------------------------
    report.heading("Best net")
    if "best" in specs:
        chosen = specs["best"].extra["chosen"]
        report.text(f"Highest mean validation accuracy in the sweeps: **{sweeps[chosen].label}** (`{chosen}`), "
                    f"trained for {specs['best'].config.epochs} epoch(s). The report chose num_filters 16 and got 85 % "
                    f"test accuracy after 10 epochs on its data set.")
        rows = [("best net: test accuracy", results.summary("best", "test_acc"), PUBLISHED_BEST_TEST, True)]
        if "as-published-best" in specs:
            rows.append(("the report's best net (num_filters 16): test accuracy",
                         results.summary("as-published-best", "test_acc"), PUBLISHED_BEST_TEST, True))
        report.published_table("best", rows, caption=f"The best net on {dataset} against the report's 85 % (on its "
                               f"own, unnamed data set: not comparable in value)")
        if "as-published-best" in specs:
            difference = results.difference("best", "as-published-best", "test_acc")
            report.differences_table("best_vs_report", [
                ("our choice vs the report's num_filters 16 (test accuracy, both 10 epochs)", difference, True,
                 verdict(difference, "ours higher", "the report's higher"))])
    else:
        report.text("The sweeps have not all finished, so the best net has not been chosen yet.")
    report.heading("Discussion")
    report.bullets(_discussion(options, results, sweeps))
    return report.write()


def _findings(results: Results) -> list[tuple]:
    def row(claim, a, b, metric, higher_a, higher_b, agree):
        return results.claim(claim, a, b, metric, higher_a, higher_b, agree, percent=True)

    base = "as-published-base"
    rows = [row(f"dropout {rate} does not improve on the base net", f"as-published-dropout-{rate}", base,
                "val_acc", "dropout higher", "base higher", ("base higher", "no measurable difference"))
            for rate in SWEEPS["dropout"]]
    rows += [
        row("dropout 0.8 is worse than 0.1 (\"too high ... bad\")", "as-published-dropout-0.1",
            "as-published-dropout-0.8", "val_acc", "0.1 higher", "0.8 higher", ("0.1 higher",)),
        row("hidden_dim 500 beats 300", base, "as-published-hidden_dim-300", "val_acc", "500 higher", "300 higher",
            ("500 higher",)),
        row("hidden_dim 500 beats 700", base, "as-published-hidden_dim-700", "val_acc", "500 higher", "700 higher",
            ("500 higher",)),
        row("hidden_dim 700 overfits more than 500 (train − val gap)", "as-published-hidden_dim-700", base, "gap",
            "700 larger", "500 larger", ("700 larger",)),
        row("hidden_dim 300 is lower in training accuracy too", base, "as-published-hidden_dim-300",
            "train_eval_acc", "500 higher", "300 higher", ("500 higher",)),
        row("48 filters overfit more than 32 (gap)", "as-published-num_filters-48", base, "gap", "48 larger",
            "32 larger", ("48 larger",)),
        row("16 filters: similar or higher accuracy than 32", "as-published-num_filters-16", base, "val_acc",
            "16 higher", "32 higher", ("16 higher", "no measurable difference")),
        row("filter size 3 overfits more than 7 (gap)", "as-published-filter_size-3", base, "gap", "3 larger",
            "7 larger", ("3 larger",)),
        row("filter size 5 overfits more than 7 (gap)", "as-published-filter_size-5", base, "gap", "5 larger",
            "7 larger", ("5 larger",)),
        row("filter size 3: lower test accuracy than 7", base, "as-published-filter_size-3", "test_acc",
            "7 higher", "3 higher", ("7 higher",)),
    ]
    return rows


def _discussion(options: StudyOptions, results: Results, sweeps: dict) -> list[str]:
    if options.quick:
        return ["Quick mode: no conclusions (one seed, a few hundred images, one epoch per run)."]
    means = {name: results.summary(name, "val_acc") for name in sweeps if name in results}
    best = max(means, key=lambda n: means[n].mean) if means else None
    lines = []
    if best:
        lines.append(f"Highest mean validation accuracy: {sweeps[best].label} ({cell(means[best], True)}); whether "
                     f"it is measurably ahead of the others is in the table of claims.")
    epoch1 = results.summary("as-published-base", "val_acc_epoch1")
    if epoch1.n:
        lines.append(f"The base net's validation accuracy after one epoch is {cell(epoch1, True)} on the data used "
                     f"here, against the report's about 80 % on its own data set.")
    gaps = summarise(results.values("overfit", "gap").values())
    if gaps.n:
        lines.append(f"Overfitting the small set: train − validation gap {cell(gaps, True)}.")
    return lines


def _curve(history: list[dict], key: str) -> tuple[list, list]:
    return [row["epoch"] for row in history], [row.get(key) for row in history]


def _draw_sweep(results: Results, key: str, values):
    def draw(figure):
        axes = figure.subplots(1, 1)
        for i, value in enumerate(values):
            histories = results.histories(sweep_name(key, value))
            color = f"C{i}"
            plot_band(axes, f"{key}={value} train", [_curve(h, "train_accuracy") for h in histories], "o-", color)
            plot_band(axes, f"{key}={value} val", [_curve(h, "val_accuracy") for h in histories], "s--", color)
        plot_series(axes, {}, "epoch", "accuracy", f"Sweep of {key}: training (solid) and validation (dashed)")
        axes.legend(fontsize=7, ncol=2)

    return draw
