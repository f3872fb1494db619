"""The `handgrad experiment` subcommand.

    handgrad experiment --list
    handgrad experiment NAME [--quick] [--seeds K] [--workers N] [--storage URL] [--out DIR]
                             [--dataset NAME] [--epochs N] [--data-dir DIR] [--report-only]
    handgrad experiment all [--quick] [--out DIR] ...

NAME's report goes to --out DIR (default reports/experiments/NAME, or
runs/experiments-quick/NAME with --quick); with `all`, each study goes to DIR/NAME.
The trials live in --storage (default: study.db, SQLite, in the output folder); the
same command continues a stopped study, and started on several machines with one
PostgreSQL --storage, shares its trials out among them.
Wired into `handgrad.cli` with `add_experiment_parser(subparsers)` and
`run_experiment_command(args) -> int`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from handgrad import experiments
from handgrad.errors import UserError
from handgrad.experiments.common import DEFAULT_SEEDS, QUICK_EPOCHS, QUICK_LIMIT, StudyOptions
from handgrad.experiments.runner import WorkerFailed
from handgrad.experiments.report import write_index

DATASETS = ("mnist", "fashion-mnist")


def add_experiment_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `experiment` subcommand to an argparse subparsers object; returns its parser."""
    listing = "\n".join(f"  {name:<28} {study.summary} [source: {study.source_title}]"
                        for name, study in experiments.STUDIES.items())
    parser = subparsers.add_parser(
        "experiment", help="rerun a study of the source reports; writes report.md, plots and results.json",
        description="Rerun a study of the source reports (or a variant with your settings) and write a report: "
                    "report.md with every hyperparameter, tables of our numbers beside the published ones and the "
                    "plots, the PNG plots, and results.json with every number of the tables.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="experiments:\n" + listing + "\n  all                          every study above, one after another")
    parser.add_argument("name", nargs="?", metavar="NAME", help="a study (see below), or all")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--quick", action="store_true",
                        help=f"the same code on {QUICK_LIMIT} images, {QUICK_EPOCHS} epoch per run (a check that "
                             f"the study runs, in well under a minute)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: reports/experiments/NAME, or "
                                                     "runs/experiments-quick/NAME with --quick; with all: DIR/NAME)")
    parser.add_argument("--dataset", choices=DATASETS, help="train on this data set instead of the study's")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs of every run instead of the study's")
    parser.add_argument("--seeds", type=int, metavar="K",
                        help=f"run every variant with seeds 0..K-1 (default: {DEFAULT_SEEDS}, or 1 with --quick; a "
                             f"study that measures rates may run more)")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding mnist/ and fashion-mnist/")
    add_storage_arguments(parser)
    parser.add_argument("--study-name", metavar="NAME",
                        help="the study's name in the storage (default: the experiment's, with -quick for --quick)")
    parser.add_argument("--report-only", action="store_true",
                        help="write the report from the trials in the storage, running none")
    return parser


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    """--storage, --workers, --heartbeat and the pool's hidden flags (shared with `handgrad sweep`)."""
    parser.add_argument("--storage", metavar="URL",
                        help="database of the trials, any SQLAlchemy URL: sqlite:///FILE, or "
                             "postgresql://USER:PASSWORD@HOST/DB to share a study among machines "
                             "(default: study.db in the output folder)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="trials at once, in N processes on this machine (cores shared among them; default 1)")
    parser.add_argument("--heartbeat", type=int, default=10, metavar="S",
                        help="seconds between a running trial's heartbeats; a trial whose worker died is taken "
                             "again after two missed beats (default 10)")
    parser.add_argument("--pool-member", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Add `handgrad sweep` (its own flags; the caller adds `handgrad train`'s); returns its parser."""
    from handgrad.experiments.sweep import KINDS, METRICS

    parser = subparsers.add_parser(
        "sweep", help="search hyper-parameters of a handgrad train run with Optuna",
        description="Search settings of `handgrad train` (TPE by default, pruning trials that lag behind on "
                    "validation accuracy). Every other setting is taken from the train flags below. Trials live "
                    "in --storage, so --workers, several machines and resuming with the same command work as for "
                    "handgrad experiment. Writes report.md (the best trial as a handgrad train command, the top "
                    "ten), trials.csv and Optuna's plots into --out.")
    parser.add_argument("--search", action="append", default=[], metavar="NAME=KIND:ARGS",
                        help=f"a setting to search, repeatable; KIND one of {', '.join(KINDS)}: lr=log:1e-4:1e-1, "
                             f"momentum=float:0.5:0.99, batch-size=int:16:128, model.dropout=choice:0,0.25,0.5")
    parser.add_argument("--trials", type=int, default=20, metavar="N", help="trials in all (default 20)")
    parser.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe",
                        help="how settings are drawn (default tpe; grid needs choice or int searches)")
    parser.add_argument("--pruner", choices=("median", "none"), default="median",
                        help="stop a trial whose per-epoch metric is below the median of earlier trials (default)")
    parser.add_argument("--metric", choices=tuple(METRICS), default="val_acc",
                        help="what the search optimises, after the last epoch (default val_acc)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/sweep-MODEL-DATASET)")
    parser.add_argument("--study-name", metavar="NAME", help="the sweep's name in the storage (default: sweep)")
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    add_storage_arguments(parser)
    return parser


def check_storage_arguments(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.heartbeat < 1:
        raise UserError(f"--heartbeat must be at least 1 second, got {args.heartbeat}")


def run_experiment_command(args: argparse.Namespace) -> int:
    """Run `handgrad experiment` as parsed; returns the exit status (a user's mistake raises UserError)."""
    if args.list:
        for name, study in experiments.STUDIES.items():
            print(f"{name:<28} {study.summary} [source: {study.source_title}]")
        return 0
    if not args.name:
        raise UserError("experiment: give a study NAME, all, or --list; valid experiments: "
                        + ", ".join(experiments.names()))
    names = experiments.names() if args.name == "all" else [args.name]
    if names[0] not in experiments.STUDIES:  # before any work
        raise UserError(f"unknown experiment {names[0]!r}; valid experiments: {', '.join(experiments.names())} "
                        f"(or all)")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    check_storage_arguments(args)
    if args.name == "all" and (args.storage or args.study_name):
        raise UserError("experiment all: --storage and --study-name name one study; give a study NAME")
    for name in names:
        out = None
        if args.out:
            out = Path(args.out) / name if args.name == "all" else Path(args.out)
        options = StudyOptions(quick=args.quick, out=out, dataset=args.dataset, epochs=args.epochs,
                               seeds=args.seeds, data_dir=args.data_dir, storage=args.storage,
                               study_name=args.study_name, workers=args.workers, heartbeat=args.heartbeat,
                               report_only=args.report_only, pool_member=args.pool_member, threads=args.threads)
        started = time.perf_counter()
        try:
            path = experiments.run(name, options)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"interrupted; the finished trials are kept in the storage: run the same "
                                    f"command to continue {name}") from None
        except WorkerFailed as failed:
            return failed.code
        if path is not None:
            print(f"{name}: wrote {path} in {time.perf_counter() - started:.0f} s", flush=True)
    if args.name == "all":
        root = Path(args.out) if args.out else StudyOptions(quick=args.quick).output("x").parent
        index = write_index(root, {name: study.summary for name, study in experiments.STUDIES.items()})
        print(f"wrote {index}")
    return 0
