"""Running a study: its (variant, seed) trials on Optuna's storage, by one or many workers, then the report.

    path = run_study("regularization", StudyOptions(seeds=3, workers=2))

A study module (see `handgrad.experiments`) says which variants it has
(`variants(options, done)`), how one trial of a variant is run (`trial`, by default
`common.train_trial`) and how its report is written from the trials (`write_report`).
This module does the rest:

1. open the storage (`--storage`, default a SQLite file in the output folder) and the
   Optuna study of that name, and enqueue every (variant, seed) no trial covers yet;
2. work: take queued trials one at a time until none is left (`--workers N` starts N
   worker processes, each running this loop with cores / N BLAS threads; the same
   command on another machine with the same storage joins in);
3. when no trial is queued or running, write the report from the storage.

A study stopped by Ctrl-C, SIGKILL or a reboot continues with the same command: its
complete trials are kept, the interrupted one runs again (at once after Ctrl-C, after
its heartbeat has gone stale otherwise). A trial's numbers do not depend on how many
workers ran: every trial trains in one process (handgrad's batch chunks off) and is
seeded by its seed alone, so a resumed or parallel study's report equals a serial one's.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from handgrad.experiments import store
from handgrad.experiments.common import Results, StudyOptions, Trial, git_commit, seeds_for, train_trial

POLL_SECONDS = 2.0  # how often an idle worker, or the parent of a pool, looks at the storage


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Study:
    """One study on its storage: the module, the options, the Optuna study and the wanted trials."""

    def __init__(self, name: str, module, options: StudyOptions):
        self.name, self.module, self.options = name, module, options
        self.commit = git_commit()  # what each trial run here ran on
        self.out = options.output(name)
        self.url = store.storage_url(options.storage, self.out)
        self.storage = store.open_storage(self.url, options.heartbeat)
        self.optuna = store.open_study(self.storage, options.study_name or self.default_study_name(),
                                       self.fingerprint())

    def default_study_name(self) -> str:
        return self.name + ("-quick" if self.options.quick else "")

    def fingerprint(self) -> dict:
        """What must match for two commands to share one stored study (more seeds may be added)."""
        o = self.options
        return {"study": self.name, "quick": o.quick, "dataset": o.dataset, "epochs": o.epochs}

    # -- what should run --------------------------------------------------------------------
    def results(self) -> Results:
        done = store.completed(self.optuna)
        return Results([trial_of(t) for t in done.values()])

    def variants(self, results: Results | None = None) -> dict:
        return self.module.variants(self.options, results if results is not None else self.results())

    def wanted(self, results: Results | None = None) -> list[tuple[str, int]]:
        """Every (variant, seed) the report needs, given what has finished (a later stage may depend on it)."""
        return [(name, seed) for name, variant in self.variants(results).items()
                for seed in range(self.seeds_of(variant))]

    def seeds_of(self, variant) -> int:
        return seeds_for(self.options, variant)

    def top_up(self) -> int:
        return store.top_up(self.optuna, self.wanted())

    def pending(self) -> tuple[int, int]:
        """(waiting, running) trials of ours."""
        states = store.counts(self.optuna)
        return states.get(TrialState.WAITING, 0), states.get(TrialState.RUNNING, 0)

    # -- running trials -----------------------------------------------------------------------
    def objective(self, trial: optuna.Trial) -> float:
        variant_name, seed = trial.user_attrs.get("variant"), trial.user_attrs.get("seed")
        if variant_name is None:  # the queue emptied between our look and Optuna's ask
            trial.set_user_attr("spare", True)
            raise optuna.TrialPruned("no queued trial was left")
        if store.is_duplicate(self.optuna, trial):
            trial.set_user_attr("duplicate", True)
            raise optuna.TrialPruned(f"{variant_name} seed {seed} is covered by another trial")
        self.storage.record_heartbeat(trial._trial_id)  # at once: a trial with no heartbeat is never stale
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("commit", self.commit)
        variant = self.variants()[variant_name]
        run = getattr(self.module, "trial", train_trial)
        started = time.perf_counter()
        result: Trial = run(variant_name, variant, int(seed), self.options)
        trial.set_user_attr("metrics", result.metrics)
        trial.set_user_attr("record", result.record)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        value = result.metrics.get(getattr(self.module, "METRIC", "test_acc"))
        # Optuna fails a trial whose value is not finite; the trial's metrics say what happened
        return float(value) if value is not None and math.isfinite(value) else float("-inf")

    def work(self, progress: "Progress | None" = None) -> None:
        """Take queued trials until none is queued or running (waiting while others run: a later stage, or a
        trial whose worker died, may still need us)."""
        with remembered_interrupts() as stop_if_interrupted:
            self._work(progress, stop_if_interrupted)

    def _work(self, progress, stop_if_interrupted) -> None:
        while True:
            stop_if_interrupted()
            store.fail_stale(self.optuna, self.options.heartbeat)
            self.top_up()
            waiting, running = self.pending()
            if waiting:
                self.optuna.optimize(self.objective, n_trials=1)
            elif running:
                time.sleep(POLL_SECONDS)
            else:
                break
            if progress is not None:
                progress.update(self)

    # -- the report ----------------------------------------------------------------------------
    def write_report(self) -> Path:
        results = self.results()
        wanted = self.wanted(results)
        results = results.only(wanted)
        missing = len(wanted) - len(results.trials)
        self.options.unfinished = (missing, len(wanted))
        if missing:
            self.options.say(f"{self.name}: {missing} of {len(wanted)} trials have not finished; the report covers "
                             f"the {len(results.trials)} that have")
        return self.module.write_report(self.options, results)


@contextlib.contextmanager
def remembered_interrupts():
    """Ctrl-C raises KeyboardInterrupt as usual, and is also remembered: Python drops an exception
    raised inside a finalizer ("Exception ignored in ..."), and SQLAlchemy's weakref callbacks run
    during a trial, so a Ctrl-C landing in one would be lost. Yields a function that raises
    KeyboardInterrupt if a Ctrl-C came: work loops call it between trials.
    Left alone when SIGINT is not Python's default handler (ignored, or someone else's)."""
    seen = []

    def stop_if_interrupted() -> None:
        if seen:
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield stop_if_interrupted
        return

    def interrupt(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield stop_if_interrupted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def trial_of(frozen) -> Trial:
    """A stored trial as the report reads it."""
    attrs = frozen.user_attrs
    return Trial(attrs["variant"], int(attrs["seed"]), dict(attrs["metrics"]), float(attrs.get("seconds", 0.0)),
                 dict(attrs.get("record", {})), attrs.get("commit"))


class Progress:
    """One line per finished trial (variant, seed, metric, seconds, trials left, ETA), and a tqdm bar over
    the study when stderr is a terminal."""

    def __init__(self, study: Study):
        self.metric = getattr(study.module, "METRIC", "test_acc")
        self.seen = set(store.completed(study.optuna))
        self.started, self.finished_here = time.perf_counter(), 0
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=len(study.wanted()), initial=len(self.seen), desc=study.name, unit="trial",
                            file=sys.stderr, leave=False)
        self.say = study.options.say

    def update(self, study: Study) -> None:
        done = store.completed(study.optuna)
        new = [k for k in sorted(done, key=lambda k: done[k].number) if k not in self.seen]
        if not new:
            return
        total = len(study.wanted())
        for variant, seed in new:
            self.seen.add((variant, seed))
            self.finished_here += 1
            trial = trial_of(done[(variant, seed)])
            left = max(0, total - len(self.seen))
            rate = (time.perf_counter() - self.started) / self.finished_here
            metric = trial.metrics.get(self.metric)
            line = (f"{study.name}: {variant} seed {seed}: {self.metric} "
                    f"{'–' if metric is None else f'{metric:.4f}'} in {trial.seconds:.0f} s; {left} trial(s) left"
                    + (f", about {_duration(rate * left)} to go" if left else ""))
            if self.bar is not None:
                self.bar.total = total
                self.bar.update(1)
                self.bar.write(line, file=sys.stderr)
            else:
                self.say(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- one worker, or a pool of them -------------------------------------------------------------------
@contextlib.contextmanager
def trial_threads(threads: int):
    """Run this process's trials with `threads` BLAS threads and no batch chunks (see the module docstring);
    the previous settings come back afterwards."""
    import handgrad
    from threadpoolctl import threadpool_limits

    before = handgrad.get_num_threads()
    handgrad.set_num_threads(1)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        handgrad.set_num_threads(before)


def run_study(name: str, module, options: StudyOptions) -> Path | None:
    """Run study `name` as `options` say; returns the report's path (None for a worker of a pool)."""
    if options.pool_member:  # the pool's parent prints a line per trial; a member's epoch lines would interleave
        options = replace(options, log=lambda message: None)
    study = Study(name, module, options)
    if options.report_only:
        return study.write_report()
    study.top_up()
    waiting, running = study.pending()
    done = len(store.completed(study.optuna))
    if not options.pool_member:
        options.say(f"{name}: {done} trial(s) done, {waiting} queued, {running} running, on {store.shown(study.url)}")
    progress = None if options.pool_member else Progress(study)
    try:
        if options.workers > 1:
            threads = max(1, cores() // options.workers)
            run_pool(worker_command(study) + ["--threads", str(threads)], options.workers, threads,
                     (lambda: progress.update(study)) if progress else (lambda: None),
                     lambda: sum(study.pending()) > 0, options.say)
        else:
            with trial_threads(options.threads or cores()):
                study.work(progress)
    finally:
        if progress is not None:
            progress.close()
    if options.pool_member:
        return None
    return study.write_report()


def worker_command(study: Study) -> list[str]:
    """The command line of one worker of a pool: this study, this storage, one worker, no report."""
    o = study.options
    argv = [sys.executable, "-m", "handgrad", "experiment", study.name, "--storage", study.url,
            "--seeds", str(o.seed_count()), "--workers", "1", "--pool-member", "--heartbeat", str(o.heartbeat),
            "--out", str(study.out)]
    for flag, value in (("--dataset", o.dataset), ("--epochs", o.epochs), ("--data-dir", o.data_dir),
                        ("--study-name", o.study_name)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--quick"] if o.quick else [])


def run_pool(command: list[str], n: int, threads: int, poll: Callable[[], None], unfinished: Callable[[], bool],
             say: Callable[[str], None]) -> None:
    """`--workers N`: N processes running `command` (a worker of this study or sweep), `threads` BLAS threads
    each, until all have exited; `poll()` is called every POLL_SECONDS (progress lines).

    A worker killed by a signal is replaced while `unfinished()` (its trial is taken again once its
    heartbeat is stale); one that fails (a bug: exit 1, or a user error: exit 2) stops the pool.
    """
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    workers = [subprocess.Popen(command, env=env) for _ in range(n)]
    try:
        while workers:
            time.sleep(POLL_SECONDS)
            poll()
            for worker in list(workers):
                code = worker.poll()
                if code is None:
                    continue
                workers.remove(worker)
                if code < 0:
                    say(f"a worker was stopped by signal {-code}; its trial will be taken again once its "
                        f"heartbeat is stale")
                    if unfinished():
                        workers.append(subprocess.Popen(command, env=env))
                elif code != 0:
                    raise WorkerFailed(code)
        poll()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


class WorkerFailed(RuntimeError):
    """A worker of the pool exited with an error (its message is above, on stderr)."""

    def __init__(self, code: int):
        super().__init__(f"a worker exited with status {code} (its error is printed above)")
        self.code = code

