"""`handgrad sweep`: a hyper-parameter search over any `handgrad train` setting, on Optuna.

    handgrad sweep --model lenet5 --dataset fashion-mnist --search lr=log:1e-4:1e-1 \\
        --search weight-decay=log:1e-6:1e-2 --trials 40 --workers 2 --limit 6000 --epochs 3

A search is NAME=KIND:ARGS, NAME a `handgrad train` flag without its dashes
(`weight-decay`) or `model.OPTION` (`model.dropout`):
  log:LO:HI     a float drawn on a log scale       float:LO:HI   a float drawn uniformly
  int:LO:HI     an integer from LO to HI           choice:A,B,C  one of the values
Every other setting is `handgrad train`'s (its flags, or its defaults). Each trial trains
one configuration and reports its validation accuracy after every epoch, so the
pruner (median by default) can stop a trial that lags behind the others; a trial
that diverges is recorded as failed. Trials live in the same storage as a study's
(`--storage`, default OUT/study.db), so `--workers`, several machines and resuming with
the same command work as for `handgrad experiment`. At the end OUT holds report.md (the
best trial as a ready `handgrad train` command, the top ten), trials.csv and Optuna's
plots: optimisation history, parameter importances and slices.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from handgrad.errors import UserError
from handgrad.experiments import store
from handgrad.experiments.runner import POLL_SECONDS, cores, remembered_interrupts, run_pool, trial_threads
from handgrad.experiments.report import fmt, markdown_table
from handgrad.train import TrainConfig, TrainingDiverged, Trainer

SPEC_FILE = "sweep.json"
METRICS = {"val_acc": "maximize", "val_loss": "minimize", "train_acc": "maximize", "train_loss": "minimize"}
KINDS = ("log", "float", "int", "choice")
TOP = 10


@dataclass(frozen=True)
class Search:
    """One searched setting: `name` as the user wrote it, the TrainConfig field (or model option) it sets."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    @property
    def model_option(self) -> str | None:
        return self.name.split(".", 1)[1] if self.name.startswith("model.") else None

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")

    def suggest(self, trial: optuna.Trial):
        if self.kind == "log":
            return trial.suggest_float(self.name, self.low, self.high, log=True)
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_categorical(self.name, list(self.choices))

    def grid(self) -> list:
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise UserError(f"--search {self.name}: --sampler grid needs choice:... or int:LO:HI, not {self.kind}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def parse_search(text: str, fields: set[str]) -> Search:
    """`NAME=KIND:ARGS` as a Search; anything malformed raises UserError quoting it."""
    name, sep, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    where = f"--search {text!r}"
    if not sep or not name or kind not in KINDS or not rest:
        raise UserError(f"{where}: expected NAME=KIND:ARGS with KIND one of {', '.join(KINDS)} "
                        f"(e.g. lr=log:1e-4:1e-1, model.dropout=choice:0,0.25,0.5)")
    if not name.startswith("model.") and name.replace("-", "_") not in fields:
        raise UserError(f"{where}: {name!r} is not a setting of handgrad train; use a flag's name without its "
                        f"dashes (lr, weight-decay, batch-size, ...) or model.OPTION")
    if kind == "choice":
        return Search(name, kind, choices=tuple(_value(v) for v in rest.split(",")))
    bounds = rest.split(":")
    try:
        low, high = (float(b) for b in bounds)
    except ValueError:
        raise UserError(f"{where}: {kind} needs LO:HI, two numbers") from None
    if not low < high or (kind == "log" and low <= 0) or (kind == "int" and not (low.is_integer() and high.is_integer())):
        raise UserError(f"{where}: need LO < HI" + (", both above 0" if kind == "log" else "")
                        + (", both integers" if kind == "int" else ""))
    return Search(name, kind, low, high)


def _value(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


# -- the spec of a sweep, shared by its workers ----------------------------------------------------
@dataclass
class SweepSpec:
    """What a sweep is: the base settings, the searches, the budget and how to search. Written to
    OUT/sweep.json, so the workers of a pool read the same; it is also the study's fingerprint."""

    base: dict
    searches: list[Search]
    trials: int
    metric: str = "val_acc"
    sampler: str = "tpe"
    pruner: str = "median"

    def to_json(self) -> dict:
        return {"base": self.base, "searches": [s.to_json() for s in self.searches], "trials": self.trials,
                "metric": self.metric, "sampler": self.sampler, "pruner": self.pruner}

    @classmethod
    def from_json(cls, values: dict) -> "SweepSpec":
        searches = [Search(**{**s, "choices": tuple(s["choices"])}) for s in values["searches"]]
        return cls(values["base"], searches, values["trials"], values["metric"], values["sampler"], values["pruner"])

    def fingerprint(self) -> dict:
        """What two commands must share to work on one stored sweep (the budget may grow)."""
        values = self.to_json()
        values.pop("trials")
        return {"sweep": json.loads(json.dumps(values))}

    def config(self, params: dict) -> TrainConfig:
        """The base settings with a trial's values, checked."""
        settings = dict(self.base)
        options = dict(settings.get("model_options", {}))
        for search in self.searches:
            if search.name in params:
                if search.model_option:
                    options[search.model_option] = params[search.name]
                else:
                    settings[search.field] = params[search.name]
        settings["model_options"] = options
        return TrainConfig.from_dict(settings, where="sweep").validated()

    def sampler_for(self, seed: int) -> optuna.samplers.BaseSampler:
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.sampler == "grid":
            return optuna.samplers.GridSampler({s.name: s.grid() for s in self.searches}, seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    def pruner_for(self) -> optuna.pruners.BasePruner:
        if self.pruner == "none":
            return optuna.pruners.NopPruner()
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


# -- running --------------------------------------------------------------------------------------
class _ReportingTrainer(Trainer):
    """A Trainer that reports the metric after every epoch to the Optuna trial and stops when it is pruned."""

    def __init__(self, config: TrainConfig, trial: optuna.Trial, metric: str):
        super().__init__(config)
        self.trial, self.metric = trial, metric

    def train_epoch(self) -> dict:
        row = super().train_epoch()
        value = row.get(_HISTORY_KEYS[self.metric])
        if value is not None and math.isfinite(value):
            self.trial.report(value, self.epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {self.epoch}: {self.metric} {value:.4f}")
        return row


_HISTORY_KEYS = {"val_acc": "val_accuracy", "val_loss": "val_loss", "train_acc": "train_accuracy",
                 "train_loss": "train_loss"}


class Sweep:
    """A sweep on its storage (see the module docstring)."""

    def __init__(self, spec: SweepSpec, out: Path, storage: str | None, heartbeat: int, study_name: str | None,
                 seed: int = 0, log=None):
        self.spec, self.out = spec, Path(out)
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.url = store.storage_url(storage, self.out)
        self.storage = store.open_storage(self.url, heartbeat)
        self.heartbeat = heartbeat
        self.name = study_name or "sweep"
        existing = len(store.open_study(self.storage, self.name, spec.fingerprint(),
                                        METRICS[spec.metric]).get_trials(deepcopy=False))
        # A resumed sweep's sampler must not replay the draws of the first run's seed.
        self.study = optuna.load_study(study_name=self.name, storage=self.storage,
                                       sampler=spec.sampler_for(seed + existing), pruner=spec.pruner_for())
        self.finished_before = {t.number for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()}

    def counted(self) -> int:
        """Trials that count against the budget: finished, diverged, running or queued ones. A trial failed
        for another reason (interrupted, or its worker died: Optuna queues a copy) does not count."""
        return sum(1 for t in self.study.get_trials(deepcopy=False) if _counts(t))

    def waiting_or_running(self) -> tuple[int, int]:
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
        return (sum(t.state == TrialState.WAITING for t in trials), sum(t.state == TrialState.RUNNING for t in trials))

    def objective(self, trial: optuna.Trial) -> float:
        self.storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        params = {s.name: s.suggest(trial) for s in self.spec.searches}
        config = dataclasses.replace(self.spec.config(params), out=None, quiet=True)
        started = time.perf_counter()
        try:
            result = _ReportingTrainer(config, trial, self.spec.metric).start().run()
        except TrainingDiverged as diverged:
            trial.set_user_attr("diverged", str(diverged))
            raise
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - started)
        last = result.history[-1]
        metrics = {"val_acc": last.get("val_accuracy"), "val_loss": last.get("val_loss"),
                   "train_acc": last["train_accuracy"], "train_loss": last["train_loss"],
                   "test_acc": result.test_accuracy, "test_loss": result.test_loss}
        trial.set_user_attr("metrics", metrics)
        value = metrics[self.spec.metric]
        if value is None or not math.isfinite(value):
            raise TrainingDiverged(f"{self.spec.metric} is {value}")
        return value

    def unfinished(self) -> bool:
        waiting, running = self.waiting_or_running()
        return bool(waiting or running or self.counted() < self.spec.trials)

    def work(self, say: bool = True) -> None:
        """Run trials until the budget is spent (counting every worker's), then wait for the others' to end."""
        seen = set(self.finished_before)
        with remembered_interrupts() as stop_if_interrupted:
            while True:
                stop_if_interrupted()
                store.fail_stale(self.study, self.heartbeat)
                waiting, running = self.waiting_or_running()
                if waiting or self.counted() < self.spec.trials:
                    self.study.optimize(self.objective, n_trials=1, catch=(TrainingDiverged,))
                elif running:
                    time.sleep(POLL_SECONDS)
                else:
                    break
                if say:
                    seen = self.say_finished(seen)

    def say_finished(self, seen: set) -> set:
        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
        for t in done:
            if t.number in seen:
                continue
            seen.add(t.number)
            left = max(0, self.spec.trials - sum(1 for d in done if _counts(d)))
            value = "–" if t.value is None else f"{t.value:.4f}"
            params = ", ".join(f"{k}={_short(v)}" for k, v in t.params.items())
            why = {TrialState.PRUNED: " (pruned)", TrialState.FAIL: " (failed: diverged)"
                   if "diverged" in t.user_attrs else " (failed)"}.get(t.state, "")
            self.log(f"sweep: trial {t.number} {params}: {self.spec.metric} {value}{why} in "
                     f"{t.user_attrs.get('seconds', 0):.0f} s; {left} trial(s) left")
        return seen

    # -- output ---------------------------------------------------------------------------------
    def write(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        trials = self.study.get_trials(deepcopy=False)
        self.write_csv(trials)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        maximize = METRICS[self.spec.metric] == "maximize"
        ranked = sorted(complete, key=lambda t: t.value, reverse=maximize)
        lines = [f"# Sweep: {len(complete)} complete trial(s) of {len(trials)}", "",
                 f"Searched: " + ", ".join(f"`{s.name}` ({s.kind} {_bounds(s)})" for s in self.spec.searches)
                 + f"; metric `{self.spec.metric}` ({METRICS[self.spec.metric]}), sampler {self.spec.sampler}, "
                 f"pruner {self.spec.pruner}. Storage: `{store.shown(self.url)}`, study `{self.name}`.", ""]
        states = {s.name.lower(): sum(1 for t in trials if t.state == s) for s in TrialState}
        lines += ["Trials: " + ", ".join(f"{n} {k}" for k, n in states.items() if n), ""]
        if ranked:
            best = ranked[0]
            lines += ["## Best trial", "", f"Trial {best.number}: {self.spec.metric} {best.value:.4f}"
                      f" (test accuracy {best.user_attrs['metrics']['test_acc']:.4f}, for reference only: the "
                      f"search chose on {self.spec.metric}). Train it with:", "", "```sh",
                      train_command(self.spec.config(best.params)), "```", "",
                      f"## Top {min(TOP, len(ranked))}", ""]
            names = [s.name for s in self.spec.searches]
            rows = [[t.number, *(t.params.get(n) for n in names), t.value, t.user_attrs["metrics"]["test_acc"],
                     t.user_attrs.get("seconds")] for t in ranked[:TOP]]
            lines += [markdown_table(["trial", *names, self.spec.metric, "test_acc", "seconds"], rows,
                                     {n: _short for n in names}), ""]
            lines += self.plots(len(complete))
        else:
            lines += ["No trial completed."]
        path = self.out / "report.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def plots(self, complete: int) -> list[str]:
        from optuna.visualization import matplotlib as plots

        lines = []
        for filename, draw, caption in (
                ("history.png", plots.plot_optimization_history, "Optimisation history"),
                ("importance.png", plots.plot_param_importances, "Parameter importances (fANOVA)"),
                ("slice.png", plots.plot_slice, "The metric against each searched setting")):
            if filename == "importance.png" and (complete < 2 or len(self.spec.searches) < 2):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = draw(self.study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.savefig(self.out / filename, dpi=90, bbox_inches="tight")
            import matplotlib.pyplot as pyplot
            pyplot.close(figure)
            lines += [f"![{caption}]({filename})", "", f"*{caption}*", ""]
        return lines

    def write_csv(self, trials) -> None:
        names = [s.name for s in self.spec.searches]
        with open(self.out / "trials.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["trial", "state", *names, self.spec.metric, "test_acc", "seconds", "note"])
            for t in trials:
                metrics = t.user_attrs.get("metrics", {})
                writer.writerow([t.number, t.state.name, *(t.params.get(n, "") for n in names),
                                 "" if t.value is None else t.value, metrics.get("test_acc", ""),
                                 t.user_attrs.get("seconds", ""), t.user_attrs.get("diverged", "")])


def _counts(trial) -> bool:
    return trial.state != TrialState.FAIL or "diverged" in trial.user_attrs


def train_command(config: TrainConfig) -> str:
    """The `handgrad train` command line of a config (every setting that differs from the defaults)."""
    defaults = TrainConfig(model=config.model).validated().to_dict()
    parts = ["handgrad train"]
    for key, value in config.to_dict().items():
        if key == "model_options":
            for option, v in value.items():
                if defaults.get("model_options", {}).get(option) != v:
                    parts.append(f"--model-option {option}={_show(v)}")
        elif defaults.get(key) != value:
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else f"--no-{key.replace('_', '-')}")
            else:
                parts.append(f"{flag} {_show(value)}")
    return " ".join(parts)


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)  # a float's repr: the command trains exactly the trial's value


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else fmt(value)


def _bounds(search: Search) -> str:
    return ",".join(map(str, search.choices)) if search.kind == "choice" else f"{search.low:g}–{search.high:g}"


def run_sweep(spec: SweepSpec, out: Path, storage: str | None = None, workers: int = 1, heartbeat: int = 10,
              study_name: str | None = None, seed: int = 0, pool_member: bool = False,
              threads: int | None = None) -> Path | None:
    """Run (or continue) a sweep; returns its report (None for a worker of a pool)."""
    if spec.trials < 1:
        raise UserError(f"--trials must be at least 1, got {spec.trials}")
    if spec.sampler == "grid":
        for search in spec.searches:
            search.grid()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sweep = Sweep(spec, out, storage, heartbeat, study_name, seed + (os.getpid() if pool_member else 0))
    if not pool_member:
        (out / SPEC_FILE).write_text(json.dumps(spec.to_json(), indent=1) + "\n", encoding="utf-8")
        sweep.log(f"sweep: {sweep.counted()} of {spec.trials} trial(s) done or running, on {store.shown(sweep.url)}")
    if workers > 1:
        threads = max(1, cores() // workers)
        command = [sys.executable, "-m", "handgrad", "sweep", "--spec", str(out / SPEC_FILE), "--out", str(out),
                   "--storage", sweep.url, "--heartbeat", str(heartbeat), "--study-name", sweep.name,
                   "--seed", str(seed), "--pool-member", "--threads", str(threads)]
        seen = set(sweep.finished_before)

        def poll():
            nonlocal seen
            seen = sweep.say_finished(seen)

        run_pool(command, workers, threads, poll, sweep.unfinished, sweep.log)
    else:
        with trial_threads(threads or cores()):
            sweep.work(say=not pool_member)
    return None if pool_member else sweep.write()
