"""What the studies share: their options, training one variant, the data, and the usual tables and plots.

A study module defines `run(options: StudyOptions) -> Path` (the report it wrote). It
describes each variant as a `TrainConfig`, trains it with `train_variant` (which uses
`handgrad.train.Trainer`, adding by composition what some studies need: another weight
initialisation, the loss of every step, the test metrics after every epoch) and writes
its report with `handgrad.experiments.report.Report`.

`--quick` runs the same code on a few hundred images for one epoch (see `QUICK_LIMIT`),
so that every study can be checked end to end in seconds; the numbers are then
meaningless and the report says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from handgrad import data, nn
from handgrad.models import zoo
from handgrad.train import PreparedData, RunResult, TrainConfig, Trainer, evaluate, prepare
from handgrad.train.guard import DivergenceGuard

QUICK_LIMIT = 400  # images of the training split (and of the test split) in --quick mode
QUICK_EPOCHS = 1
_AUGMENT_STREAM = (0, 1)  # the seed stream handgrad.train.prepare draws its augmentation from


DEFAULT_SEEDS = 3  # seeds of every variant in a full run, unless a study or --seeds says otherwise


@dataclass
class StudyOptions:
    """The options of `handgrad experiment NAME`.

    quick: the small CI version (one seed). out: the output folder (default
    reports/experiments/NAME for a full run, runs/experiments-quick/NAME for a quick one).
    dataset, epochs: override the study's own (None: the report's). seeds: seeds 0..K-1 of
    every variant (None: DEFAULT_SEEDS, 1 with quick); seed s drives initialisation, split,
    dropout, batch order and augmentation. data_dir: the folder holding mnist/ and
    fashion-mnist/ (None: the project's data/). log: where progress lines go (default: stderr).
    storage: an SQLAlchemy URL of the trials' database (None: OUT/study.db). study_name: its
    name there (None: the study's, with -quick). workers: trials at once in worker processes
    on this machine. heartbeat: seconds between a running trial's heartbeats (a trial is taken
    again when its heartbeat is two beats stale). report_only: write the report from the storage
    and run nothing. pool_member, threads: set for the worker processes of a pool.
    """

    quick: bool = False
    out: Path | None = None
    dataset: str | None = None
    epochs: int | None = None
    seeds: int | None = None
    data_dir: str | None = None
    log: Callable[[str], None] | None = None
    storage: str | None = None
    study_name: str | None = None
    workers: int = 1
    heartbeat: int = 10
    report_only: bool = False
    pool_member: bool = False
    threads: int | None = None
    started: float = field(default_factory=time.time)  # when this command began (the report's wall time)
    unfinished: tuple[int, int] = (0, 0)  # (trials the report lacks, trials it wants): set when it is written

    def output(self, name: str) -> Path:
        if self.out is not None:
            return Path(self.out)
        return Path("runs/experiments-quick" if self.quick else "reports/experiments") / name

    def say(self, message: str) -> None:
        (self.log or _stderr)(message)

    def seed_count(self) -> int:
        if self.seeds is not None:
            return self.seeds
        return 1 if self.quick else DEFAULT_SEEDS

    def epochs_or(self, default: int) -> int:
        """The epochs of a variant: --epochs if given, else 1 in quick mode, else the report's."""
        if self.epochs is not None:
            return self.epochs
        return QUICK_EPOCHS if self.quick else default

    def dataset_or(self, default: str) -> str:
        return self.dataset or default

    def meta(self) -> dict:
        """What results.json records about the run; "provenance" becomes the report's footer."""
        return {"quick": self.quick, "seeds": self.seed_count(), "dataset_override": self.dataset,
                "epochs_override": self.epochs, "unfinished": list(self.unfinished), "provenance": provenance(self)}

    def command(self, name: str) -> str:
        """The `handgrad experiment` command line that runs study `name` with these options."""
        return shlex.join(["handgrad", "experiment", name, *self.arguments()])

    def arguments(self) -> list[str]:
        """These options as `handgrad experiment NAME`'s flags (those left at their defaults left out)."""
        argv = ["--quick"] if self.quick else []
        for flag, value in (("--seeds", self.seeds), ("--workers", self.workers if self.workers != 1 else None),
                            ("--storage", self.storage), ("--study-name", self.study_name), ("--out", self.out),
                            ("--dataset", self.dataset), ("--epochs", self.epochs), ("--data-dir", self.data_dir)):
            if value is not None:
                argv += [flag, str(value)]
        return argv + (["--report-only"] if self.report_only else [])


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def provenance(options: StudyOptions) -> dict:
    """What a reader needs to rerun a report: handgrad's version and commit, the command, the cores."""
    import handgrad

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return {"handgrad_version": handgrad.__version__, "git_commit": git_commit(), "arguments": options.arguments(),
            "cores": cores, "workers": options.workers, "started": options.started}


def git_commit(source: Path = Path(__file__).resolve().parent) -> str:
    """The commit of the checkout handgrad runs from, "+ uncommitted changes" when its tracked files differ from
    it; the studies' own outputs (reports/) do not count, or every study after the first would say so.
    source: a folder inside the checkout."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)reports")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not run from a git checkout)"
    return commit + (" + uncommitted changes" if dirty else "")


# -- data ------------------------------------------------------------------------------------
_DATA_CACHE: dict = {}
# Settings that decide what `prepare` returns.
_DATA_KEYS = ("dataset", "data_dir", "limit", "val_fraction", "shuffle_split", "augment", "augment_copies", "seed")


def data_for(config: TrainConfig, train_images: int = 0) -> PreparedData:
    """The prepared arrays of (validated) `config`, cached, optionally cut to the first `train_images`.

    With augmentation, the cut is made before augmenting, so the training set is the first
    `train_images` originals followed by their augmented copies.
    """
    if train_images and config.augmenting:
        # Cut the originals first, then augment the cut (as `prepare` does for the whole set).
        plain = data_for(dataclasses.replace(config, augment="none"), train_images)
        transform = data.build_augmentation(config.augment, fill=data.background_value(plain.mean, plain.std))
        rng = np.random.default_rng([config.seed, *_AUGMENT_STREAM])
        x_train, y_train = data.augment_dataset(plain.x_train, plain.y_train, transform, config.augment_copies,
                                                rng=rng)
        return dataclasses.replace(plain, x_train=np.ascontiguousarray(x_train, dtype=np.float32), y_train=y_train)
    key = tuple(getattr(config, k) for k in _DATA_KEYS) + (config.model_options["input_size"],)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 3:  # a few sets at most in memory
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = prepare(config)
    prepared = _DATA_CACHE[key]
    if train_images and train_images < len(prepared.y_train):
        prepared = dataclasses.replace(prepared, x_train=prepared.x_train[:train_images],
                                       y_train=prepared.y_train[:train_images])
    return prepared


# -- training ----------------------------------------------------------------------------------
class _RecordingLoss(nn.CrossEntropyLoss):
    """Cross-entropy that records the loss and accuracy of every training step (for per-iteration curves)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__(reduction)
        self.losses: list[float] = []
        self.accuracies: list[float] = []

    def forward(self, logits, targets):
        loss = super().forward(logits, targets)
        self.losses.append(float(loss) / (len(targets) if self.reduction == "sum" else 1))
        self.accuracies.append(float(np.mean(np.asarray(logits).argmax(axis=1) == targets)))
        return loss



class StudyTrainer(Trainer):
    """`Trainer` plus, by composition: a weight initialisation the model builder lacks
    (`init`, `init_std`), the loss of every step (`record_steps`), the test loss and
    accuracy after every epoch (`test_each_epoch`, added to each history row),
    training, validation and test loss and accuracy at `eval_points` evenly spaced
    iterations (`iterations`: training ones averaged over the steps since the last point),
    and another divergence guard (`guard`: a DivergenceGuard subclass, built with the
    config's guard settings). The summed loss of some reports is the config's
    `loss_reduction="sum"`. start_weights: a state dict to continue from (a report that trains
    an already trained model further), loaded after any `init`."""

    def __init__(self, config: TrainConfig, data: PreparedData | None = None, log=None, init: str | None = None,
                 init_std: float = 0.01, record_steps: bool = False, test_each_epoch: bool = False,
                 eval_points: int = 0, guard: Callable[..., DivergenceGuard] | None = None,
                 start_weights: dict | None = None):
        super().__init__(config, data=data, log=log)
        if init is not None:
            zoo.initialise(self.model, init, init_std)  # from handgrad's generator, seeded by the Trainer
        if start_weights is not None:
            self.model.load_state_dict(start_weights)
        if init is not None or guard is not None or start_weights is not None:
            # A fresh guard, so its first snapshot holds the new weights.
            self.guard = (guard or DivergenceGuard)(self.model, self.optimizer, self.config.guard_patience,
                                                    self.config.guard_factor, self.config.guard_retries, log=self.log)
        if record_steps or eval_points:
            self.loss_fn = _RecordingLoss(self.config.loss_reduction)
        self.test_each_epoch = test_each_epoch
        self.iterations: list[dict] = []
        if eval_points:
            steps = self.config.epochs * -(-len(self.data.y_train) // self.config.batch_size)
            self._evaluate_every(max(1, steps // eval_points))

    def _evaluate_every(self, every: int) -> None:
        """Evaluate after every `every`-th optimizer step: the step is wrapped, since the Trainer's loop has no
        hook, and after it the backward pass is done, so evaluating cannot disturb the layers' saved inputs."""
        step, done = self.optimizer.step, [0]

        def step_and_evaluate():
            step()
            done[0] += 1
            if done[0] % every == 0:
                self.iterations.append(self._iteration_row(done[0], every))

        self.optimizer.step = step_and_evaluate

    def _iteration_row(self, iteration: int, window: int) -> dict:
        val = evaluate(self.model, self.data.x_val, self.data.y_val)
        test = evaluate(self.model, self.data.x_test, self.data.y_test)
        return {"iteration": iteration, "train_loss": float(np.mean(self.loss_fn.losses[-window:])),
                "train_accuracy": float(np.mean(self.loss_fn.accuracies[-window:])), "val_loss": val.loss,
                "val_accuracy": val.accuracy, "test_loss": test.loss, "test_accuracy": test.accuracy}

    @property
    def step_losses(self) -> list[float]:
        return list(getattr(self.loss_fn, "losses", []))

    def train_epoch(self) -> dict:
        row = super().train_epoch()
        if self.test_each_epoch:
            test = evaluate(self.model, self.data.x_test, self.data.y_test)
            row["test_loss"], row["test_accuracy"] = test.loss, test.accuracy
        return row


@dataclass
class VariantResult:
    """One trained variant: its name, config, the Trainer's RunResult and what StudyTrainer added."""

    name: str
    config: TrainConfig
    result: RunResult
    step_losses: list[float] = field(default_factory=list)
    initial_loss: float | None = None
    iterations: list[dict] = field(default_factory=list)
    guard: DivergenceGuard | None = None  # the trainer's guard after training (what a study's own guard measured)

    @property
    def history(self) -> list[dict]:
        return self.result.history

    @property
    def last(self) -> dict:
        return self.result.history[-1]

    def curve(self, key: str) -> tuple[list[int], list]:
        return [row["epoch"] for row in self.history], [row.get(key) for row in self.history]


def train_variant(name: str, config: TrainConfig, options: StudyOptions, *, train_images: int = 0,
                  data: PreparedData | None = None, init: str | None = None, init_std: float = 0.01,
                  record_steps: bool = False, test_each_epoch: bool = False, eval_points: int = 0,
                  guard: Callable[..., DivergenceGuard] | None = None,
                  run_dir: Path | None = None, start_weights: dict | None = None) -> VariantResult:
    """Train one variant of a study (quietly, one log line per epoch) and test it.

    train_images: train on the first N training images only (0: all). init, init_std,
    record_steps, test_each_epoch, loss_reduction, guard, start_weights: as `StudyTrainer`. run_dir: write
    the Trainer's run directory there (config.toml, model.safetensors, history.csv ...),
    replacing an earlier run in it.
    """
    config = dataclasses.replace(config, quiet=True, data_dir=options.data_dir if config.data_dir is None
                                 else config.data_dir, out=None)
    config = config.validated()
    if run_dir is not None:
        run_dir = Path(run_dir)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        config = dataclasses.replace(config, out=str(run_dir))
    prepared = data if data is not None else data_for(config, train_images)
    options.say(f"[{name}] {config.model} {_options_text(config.model_options)} on {config.dataset}: "
                f"{len(prepared.y_train):,} training images, {config.epochs} epochs, {config.optimizer} lr {config.lr:g}")
    trainer = StudyTrainer(config, data=prepared, log=lambda line: options.say(f"[{name}] {line}"), init=init,
                           init_std=init_std, record_steps=record_steps, test_each_epoch=test_each_epoch,
                           eval_points=eval_points, guard=guard, start_weights=start_weights)
    initial = evaluate(trainer.model, prepared.x_val[:1000], prepared.y_val[:1000]).loss \
        if len(prepared.y_val) else None
    result = trainer.start().run()
    options.say(f"[{name}] test accuracy {result.test_accuracy:.4f} after {result.seconds:.1f}s of training")
    if run_dir is not None:
        (run_dir / "resume.safetensors").unlink(missing_ok=True)  # only the model's weights are kept
    return VariantResult(name, config, result, trainer.step_losses, initial, trainer.iterations, trainer.guard)


# -- trials ------------------------------------------------------------------------------------
@dataclass
class Variant:
    """A variant of a study: its TrainConfig (the seed is the trial's), and how to train it.

    label: how tables name it (default: its key). train_images: the first N training images
    only (0: all). init, init_std, record_steps, test_each_epoch, eval_points, guard: as
    `train_variant`. seeds:
    at least this many seeds (a study measuring a rate needs more than the default).
    deterministic: one trial is enough whatever --seeds says (no randomness in it).
    extra: anything else the study's own `trial` function reads.
    """

    config: TrainConfig | None = None
    label: str = ""
    train_images: int = 0
    init: str | None = None
    init_std: float = 0.01
    record_steps: bool = False
    test_each_epoch: bool = False
    eval_points: int = 0
    guard: Callable[..., DivergenceGuard] | None = None
    seeds: int | None = None
    deterministic: bool = False
    extra: dict = field(default_factory=dict)


def seeds_for(options: StudyOptions, variant: Variant) -> int:
    """How many seeds a variant runs: --seeds, else the study's default; a variant measuring a rate may ask for
    more (not in quick mode); a deterministic one runs once."""
    if variant.deterministic:
        return 1
    if options.seeds is not None or options.quick:
        return options.seed_count()
    return max(options.seed_count(), variant.seeds or 0)


@dataclass
class Trial:
    """One finished (variant, seed): its metrics (results.json's contract), seconds, and what the report
    draws (`record`: the history, per-step losses, guard events ...)."""

    variant: str
    seed: int
    metrics: dict
    seconds: float
    record: dict = field(default_factory=dict)
    commit: str | None = None  # the code it ran on (git_commit()); None for trials stored before it was kept

    def to_json(self) -> dict:
        return {"variant": self.variant, "seed": self.seed, "metrics": self.metrics, "seconds": self.seconds,
                "commit": self.commit}


def metrics_of(variant: VariantResult) -> dict:
    """The per-trial metrics of a trained variant (final epoch, and the test set)."""
    last, r = variant.last, variant.result
    return {"train_loss": last["train_loss"], "train_acc": last["train_accuracy"], "val_loss": last.get("val_loss"),
            "val_acc": last.get("val_accuracy"), "test_loss": r.test_loss, "test_acc": r.test_accuracy,
            "guard_firings": float(r.guard_firings)}


def train_trial(name: str, variant: Variant, seed: int, options: StudyOptions, data: PreparedData | None = None,
                extra_metrics: Callable[[VariantResult], dict] | None = None) -> Trial:
    """The usual trial: train `variant` with `seed` and keep its metrics, history and guard events.

    data: the prepared arrays, for a study that prepares them itself (default: as the config says).
    extra_metrics: more metrics of the trained variant (its model is in `.result.model`)."""
    config = dataclasses.replace(variant.config, seed=seed)
    trained = train_variant(f"{name} seed {seed}", config, options, train_images=variant.train_images, data=data,
                            init=variant.init, init_std=variant.init_std, record_steps=variant.record_steps,
                            test_each_epoch=variant.test_each_epoch, eval_points=variant.eval_points,
                            guard=variant.guard)
    record = {"history": trained.history, "guard_events": trained.result.guard_events,
              "parameters": sum(p.data.size for p in trained.result.model.parameters())}
    if variant.record_steps:
        record["step_losses"] = trained.step_losses
    if variant.eval_points:
        record["iterations"] = trained.iterations
    metrics = {**metrics_of(trained), **(extra_metrics(trained) if extra_metrics else {})}
    return Trial(name, seed, _finite(metrics), trained.result.seconds, record)


def _finite(metrics: dict) -> dict:
    """Metrics as floats (None where a run has no such value, e.g. no validation split)."""
    return {k: (None if v is None else float(v)) for k, v in metrics.items()}


def curve(rows: list[dict], key: str, x: str = "epoch") -> tuple[list, list]:
    """(x values, `key` values) of history-like rows, for plot_band."""
    return [row[x] for row in rows], [row.get(key) for row in rows]


class Results:
    """The trials of a study, grouped by variant and seed, with their statistics.

        results.summary("baseline", "test_acc")            # Summary over the seeds
        results.difference("dropout", "baseline", "test_acc")  # paired by seed
    """

    def __init__(self, trials: list[Trial]):
        self.trials = sorted(trials, key=lambda t: (t.variant, t.seed))

    def complete(self, variant: str, seeds: int) -> bool:
        """Whether seeds 0..seeds-1 of `variant` have all finished (a later stage may start)."""
        return {t.seed for t in self.of(variant)} >= set(range(seeds))

    def only(self, wanted: list[tuple[str, int]]) -> "Results":
        keep = set(wanted)
        return Results([t for t in self.trials if (t.variant, t.seed) in keep])

    def __contains__(self, variant: str) -> bool:
        return any(t.variant == variant for t in self.trials)

    def of(self, variant: str) -> list[Trial]:
        return [t for t in self.trials if t.variant == variant]

    def values(self, variant: str, metric: str) -> dict[int, float]:
        """seed -> value of `metric` (trials without it left out)."""
        return {t.seed: t.metrics[metric] for t in self.of(variant) if t.metrics.get(metric) is not None}

    def summary(self, variant: str, metric: str):
        from handgrad.experiments.stats import summarise, wilson

        values = list(self.values(variant, metric).values())
        return wilson(values) if metric in RATE_METRICS else summarise(values)

    def difference(self, a: str, b: str, metric: str):
        from handgrad.experiments.stats import paired_difference

        return paired_difference(self.values(a, metric), self.values(b, metric))

    def claim(self, claim: str, a: str, b: str, metric: str, higher_a: str, higher_b: str, agree,
              percent: bool) -> tuple:
        """A row of Report.differences_table: a report's claim as the paired difference a − b of `metric`.

        higher_a, higher_b: how the finding reads when a's (b's) value is measurably higher, e.g. "dropout
        higher"; the other finding is "no measurable difference". agree: the findings that agree with the
        claim. The verdict is the finding, then "agree", "disagree", or "not confirmed" (no measurable
        difference, where the claim asked for one)."""
        from handgrad.experiments.stats import finding

        difference = self.difference(a, b, metric)
        if not difference.measured:
            return (claim, difference, percent, "not measurable (one seed)")
        found = finding(difference, higher_a, higher_b)
        judged = "agree" if found in agree else "not confirmed" if found == "no measurable difference" else "disagree"
        return (claim, difference, percent, f"{found}: {judged}")

    def histories(self, variant: str) -> list[list[dict]]:
        return [t.record.get("history", []) for t in self.of(variant)]

    def summary_json(self) -> dict:
        """results.json's "summary": {variant: {metric: {n, mean, std, ci95}}}."""
        out: dict = {}
        for t in self.trials:
            for metric in t.metrics:
                out.setdefault(t.variant, {})[metric] = None
        return {v: {m: self.summary(v, m).to_json() for m in metrics} for v, metrics in out.items()}


RATE_METRICS = ("converged", "diverged")  # 0/1 per trial: summarised as a rate with Wilson's interval


def _options_text(model_options: dict) -> str:
    return "(" + ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                           for k, v in model_options.items() if k not in ("in_channels", "num_classes")) + ")"


# -- describing runs -----------------------------------------------------------------------------
_SHOWN = ("model", "model_options", "dataset", "limit", "val_fraction", "shuffle_split", "augment", "augment_copies",
          "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "l2", "scheduler",
          "guard_patience", "guard_factor", "guard_retries")


def config_settings(config: TrainConfig) -> dict:
    """Every hyperparameter of a (validated) config, in a readable order."""
    values = config.to_dict()
    shown = {key: values[key] for key in _SHOWN if key in values}
    if config.optimizer != "momentum":
        shown.pop("momentum", None)
    if not config.augmenting:
        shown.pop("augment_copies", None)
    options = dict(shown.get("model_options", {}))
    for key in ("in_channels", "num_classes"):
        options.pop(key, None)
    shown["model_options"] = options
    return shown


def settings_tables(report, name: str, variants: dict[str, TrainConfig], extra: dict | None = None,
                    caption: str = "") -> None:
    """Settings shared by all variants (one table) and, per variant, those that differ."""
    flat = {v: _flatten(config_settings(c.validated())) for v, c in variants.items()}
    keys = list(dict.fromkeys(k for f in flat.values() for k in f))
    shared = {k: next(iter(flat.values())).get(k) for k in keys
              if len({json.dumps(f.get(k), default=str) for f in flat.values()}) == 1}
    if "seeds" in report.meta:
        shared["seeds"] = f"0–{report.meta['seeds'] - 1}" if report.meta["seeds"] > 1 else "0"
    shared.update(extra or {})
    report.settings(name, shared, caption or "Settings shared by every run")
    differing = [k for k in keys if k not in shared]
    if differing and len(variants) > 1:
        rows = [[v] + [flat[v].get(k) for k in differing] for v in variants]
        report.table(f"{name}_per_run", ["run", *differing], rows, "Settings that differ between the runs",
                     formats={k: _cell for k in differing})


def _flatten(settings: dict) -> dict:
    flat = {}
    for key, value in settings.items():
        if key == "model_options":
            for option, v in value.items():
                flat[f"model.{option}"] = v
        else:
            flat[key] = value
    return flat


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def quick_note(report, options: StudyOptions) -> None:
    """The notes at the top of a report that say what its numbers cannot be: a --quick run, or one part-way."""
    missing, wanted = options.unfinished
    if missing:
        report.text(f"> **Part-way:** {missing} of the study's {wanted} trials have not finished; the tables cover "
                    f"the {wanted - missing} that have. Run the same command again to continue.")
    if options.quick:
        report.text(f"> **Quick mode** (`--quick`): the same code on the first {QUICK_LIMIT} training and test "
                    f"images, {options.epochs_or(1)} epoch(s) per run. It checks that the study runs end to end; "
                    f"its numbers say nothing about the models. Run without `--quick` for the real study.")


# Settings every study fixes unless it says otherwise, so that its runs do not move when the
# Trainer's defaults change. The source reports train at a constant learning rate, so there is
# no scheduler, and the divergence guard only acts on a non-finite loss (guard_patience 0): its
# "no progress" rule would lower the learning rate of a healthy run that has levelled off.
STUDY_DEFAULTS = dict(scheduler="none", val_fraction=0.1, shuffle_split=True, augment="none", augment_copies=2,
                      momentum=0.9, l2=0.0, guard_patience=0, guard_factor=0.1, guard_retries=3)


def base_config(options: StudyOptions, **settings) -> TrainConfig:
    """A TrainConfig with STUDY_DEFAULTS, the study's settings, the seed and, in quick mode, the small data limit."""
    config = TrainConfig(seed=0, **{**STUDY_DEFAULTS, **settings})  # each trial sets its own seed
    if options.quick and not config.limit:
        config.limit = QUICK_LIMIT
    if options.dataset:
        config.dataset = options.dataset
    return config


def result_row(variant: VariantResult) -> list:
    """[train loss, train acc, val loss, val acc, test loss, test acc, seconds, guard firings] of a variant."""
    last, r = variant.last, variant.result
    return [last["train_loss"], last["train_accuracy"], last["val_loss"], last["val_accuracy"], r.test_loss,
            r.test_accuracy, r.seconds, r.guard_firings]


RESULT_COLUMNS = ["train loss", "train acc", "val loss", "val acc", "test loss", "test acc", "train s",
                  "guard firings"]


def curves_figure(variants: list[VariantResult], keys=("train_loss", "val_loss", "train_accuracy", "val_accuracy")):
    """A draw function: one panel per history key, one line per variant."""
    titles = {"train_loss": "training loss", "val_loss": "validation loss", "train_accuracy": "training accuracy",
              "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy", "test_loss": "test loss"}

    def draw(figure):
        from handgrad.experiments.report import plot_series
        columns = 2 if len(keys) > 1 else 1
        rows = (len(keys) + columns - 1) // columns
        axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
        for ax, key in zip(axes, keys):
            plot_series(ax, {v.name: v.curve(key) for v in variants}, "epoch", titles.get(key, key),
                        titles.get(key, key))
        for ax in axes[len(keys):]:
            ax.set_visible(False)

    return draw
