"""The `handgrad experiment` subcommand.

    handgrad experiment --list
    handgrad experiment NAME [--quick] [--out DIR] [--dataset NAME] [--epochs N] [--seed S] [--data-dir DIR]
    handgrad experiment all [--quick] [--out DIR]

NAME's report goes to --out DIR (default reports/experiments/NAME, or
experiments-quick/NAME with --quick); with `all`, each study goes to DIR/NAME.
Wired into `handgrad.cli` with `add_experiment_parser(subparsers)` and
`run_experiment_command(args) -> int`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from handgrad import experiments
from handgrad.experiments.common import QUICK_EPOCHS, QUICK_LIMIT, StudyOptions
from handgrad.experiments.report import write_index

DATASETS = ("mnist", "fashion-mnist")


def add_experiment_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `experiment` subcommand to an argparse subparsers object; returns its parser."""
    listing = "\n".join(f"  {name:<28} {study.summary} [{study.source}]" for name, study in experiments.STUDIES.items())
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
                                                     "experiments-quick/NAME with --quick; with all: DIR/NAME)")
    parser.add_argument("--dataset", choices=DATASETS, help="train on this data set instead of the study's")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs of every run instead of the study's")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of everything random (default: 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding mnist/ and fashion-mnist/")
    return parser


def run_experiment_command(args: argparse.Namespace) -> int:
    """Run `handgrad experiment` as parsed; returns the exit status (errors raise ValueError for the CLI)."""
    if args.list:
        for name, study in experiments.STUDIES.items():
            print(f"{name:<28} {study.summary} [{study.source}]")
        return 0
    if not args.name:
        raise ValueError("experiment: give a study NAME, all, or --list; valid experiments: "
                         + ", ".join(experiments.names()))
    names = experiments.names() if args.name == "all" else [args.name]
    experiments.get(names[0])  # an unknown name fails here, before any work
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    if args.seed < 0:
        raise ValueError(f"--seed must be 0 or more, got {args.seed}")
    for name in names:
        out = None
        if args.out:
            out = Path(args.out) / name if args.name == "all" else Path(args.out)
        options = StudyOptions(quick=args.quick, out=out, dataset=args.dataset, epochs=args.epochs, seed=args.seed,
                               data_dir=args.data_dir)
        started = time.perf_counter()
        path = experiments.run(name, options)
        print(f"{name}: wrote {path} in {time.perf_counter() - started:.0f} s", flush=True)
    if args.name == "all":
        root = Path(args.out) if args.out else StudyOptions(quick=args.quick).output("x").parent
        index = write_index(root, {name: study.summary for name, study in experiments.STUDIES.items()})
        print(f"wrote {index}")
    return 0


def main(argv=None) -> int:
    """`python -m handgrad.experiments.cli ...`: the subcommand on its own (errors as one line, status 2)."""
    parser = argparse.ArgumentParser(prog="handgrad")
    add_experiment_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["experiment", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_experiment_command(args)
    except (ValueError, OSError) as exc:
        print(f"handgrad: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
