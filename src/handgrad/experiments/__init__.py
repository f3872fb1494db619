"""The studies of the source reports, each rerun with one command and written up as a report.

    handgrad experiment --list
    handgrad experiment mlp-vs-cnn --quick --out /tmp/mlp
    handgrad experiment all

    from handgrad.experiments import run, StudyOptions
    run("regularization", StudyOptions(quick=True, out="tmp/reg"))

Each study runs every variant with several seeds, each (variant, seed) one trial of an
Optuna study on a database (`store`, `runner`), and writes into its output folder
`report.md` (what was run, every hyperparameter, tables of mean ± 95 % interval beside
the published numbers, the plots embedded), the PNG plots and `results.json` (every
trial, the summary per variant and metric, every number of the tables).

A study module has NAME, TITLE, SOURCE and
  variants(options, done) -> {name: common.Variant}  (done: the Results so far, for a
                                                      stage that depends on an earlier one)
  trial(name, variant, seed, options) -> common.Trial (optional; default common.train_trial)
  write_report(options, results) -> Path
and optionally METRIC (the trial's value for Optuna, default "test_acc").
Modules: one per study, `common` (options, variants, trials, results), `stats` (means
and intervals), `store` and `runner` (trials on Optuna's storage, workers), `report`
(the Markdown/JSON writer), `sweep` (`handgrad sweep`), `cli` (the subcommands).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from handgrad.errors import UserError
from handgrad.experiments.common import StudyOptions


@dataclass(frozen=True)
class Study:
    """A study: its name, module, the source report's file in shared/reports and its title as the report
    gives it (with the course where the report names one), and one line of what it runs."""

    name: str
    module: str
    source: str
    summary: str
    source_title: str


STUDIES = {study.name: study for study in (
    Study("mlp-vs-cnn", "mlp_vs_cnn", "000_8075caa4a31ff4fb.txt",
          "MNIST: MLP vs CNN vs CNN with dropout (SGD, lr 0.001); dropout placement and rate",
          "HW2 – MNIST Classification with CNN (course not named)"),
    Study("optimizers-and-augmentation", "optimizers_and_augmentation", "001_182c01d0b3363758.txt",
          "MNIST: SGD+momentum/Adam/Adagrad/RMSprop, lr 0.001 vs 0.1, augmentation, split shuffling, "
          "max vs average pooling, dropout", "Assignment 2 Report (course not named)"),
    Study("sanity-and-sweeps", "sanity_and_sweeps", "002_3c5e2d0951ea02f0.txt",
          "three-layer convnet: initial-loss sanity checks, overfitting a small set, sweeps of dropout, "
          "hidden_dim, num_filters, filter_size", "CS5242 Assignment 2"),
    Study("regularization", "regularization", "003_c6070f143db6ceb6.txt",
          "Fashion-MNIST LeNet-5 (Tanh): baseline, dropout, L2, tuned L2, batch norm; save and reload",
          "CS5787: Exercises 1, practical part"),
    Study("lenet5-classic", "lenet5_classic", "004_0782f118e6be74b7.txt",
          "LeNet-5 on 32x32 MNIST, LeCun init, SGD with momentum, divergence guard; error-rate curves",
          "COMP3314 Assignment2 Report"),
    Study("parameter-counts", "parameter_counts", "003_c6070f143db6ceb6.txt",
          "model summary vs the report's parameter counts (MLP 10-50-3: 703; 3-conv CNN: 903,400)",
          "CS5787: Exercises 1, theory part"),
)}


def names() -> list[str]:
    """The study names, in the order `all` runs them."""
    return list(STUDIES)


def get(name: str):
    """The module of study `name`; unknown names raise ValueError listing the valid ones."""
    if name not in STUDIES:
        raise UserError(f"unknown experiment {name!r}; valid experiments: {', '.join(STUDIES)} (or all)")
    return importlib.import_module(f"handgrad.experiments.{STUDIES[name].module}")


def run(name: str, options: StudyOptions | None = None) -> Path | None:
    """Run study `name` with `options` (default: the full study); returns the path of its report.md."""
    from handgrad.experiments.runner import run_study

    return run_study(name, get(name), options or StudyOptions())


__all__ = ["STUDIES", "Study", "StudyOptions", "get", "names", "run"]
