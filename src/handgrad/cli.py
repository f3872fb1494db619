"""The `handgrad` command: train, evaluate, predict and summarise models.

    handgrad train                          # LeNet-5 on the bundled MNIST, ~99% test accuracy
    handgrad train --resume RUN_DIR         # continue an interrupted run
    handgrad evaluate RUN_DIR
    handgrad predict RUN_DIR digit.png
    handgrad summary --model lenet5 --model-option batch_norm=true

Settings of `train` come from the defaults of `TrainConfig`, then a `--config` TOML file
(a run's config.toml reproduces it), then the flags given explicitly.

Exit status: 0 on success; 2 for a user mistake (a `handgrad.errors.UserError`: a bad
flag or value, an unknown model or option, a missing or corrupt file, a checkpoint that
does not fit, ...; or an operating-system error on a file, named with that file),
reported as one line `handgrad: error: ...` on stderr; 1 when training kept diverging
after the divergence guard had lowered the learning rate (not a mistake in the command,
but the run failed; also one line), or, silently, when the reader of stdout went away
(`| head`); 130 when interrupted with Ctrl-C and 143 when stopped with SIGTERM (`kill`):
the last checkpoint stays, so the run can be resumed. Anything else is a bug of
handgrad's: its traceback, a line asking to report it, and exit status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from handgrad import data, models
from handgrad.errors import UserError
from handgrad.train import (
    LOSS_REDUCTIONS,
    OPTIMIZERS,
    SCHEDULERS,
    TrainConfig,
    TrainingDiverged,
    class_names,
    confusion_matrix,
    default_data_dir,
    evaluate,
    fit,
    load_run,
    probabilities,
    read_image,
    read_settings,
    resume,
)
from handgrad.train.dataset import normalisation, padding
from handgrad.train.files import CONFUSION_FILE
from handgrad.train.history import readable
from handgrad.train.plots import plot_confusion
from handgrad.experiments.cli import (
    add_experiment_parser,
    add_sweep_parser,
    check_storage_arguments,
    run_experiment_command,
)
from handgrad.experiments.runner import WorkerFailed
from handgrad.experiments.sweep import SweepSpec, parse_search, run_sweep
from handgrad.inspect.cli import add_inspect_parser, run_inspect_command

USER_ERROR, FAILED, INTERRUPTED, TERMINATED = 2, 1, 130, 128 + signal.SIGTERM
_DEFAULTS = TrainConfig()
# train flag -> (TrainConfig field, argparse keywords). Each field's default is shown in --help.
_TRAIN_FLAGS = {
    "--model": ("model", dict(metavar="NAME", help=f"one of {', '.join(models.names())}")),
    "--dataset": ("dataset", dict(metavar="NAME", help="mnist or fashion-mnist")),
    "--data-dir": ("data_dir", dict(metavar="DIR", help="folder holding mnist/ and fashion-mnist/ "
                                                        "(default: ./data if it exists, else the project's data/)")),
    "--limit": ("limit", dict(type=int, metavar="N", help="for quick runs: use only the first N images of the "
                                                          "training and of the test split (0: all)")),
    "--val-fraction": ("val_fraction", dict(type=float, metavar="F", help="share held out for validation")),
    "--shuffle-split": ("shuffle_split", dict(action=argparse.BooleanOptionalAction,
                                              help="draw the validation images at random (else the last ones)")),
    "--augment": ("augment", dict(metavar="SPEC", help="augmentation, e.g. rotate=10,translate=2,noise=0.1,"
                                                       "blotches=3, or none")),
    "--augment-copies": ("augment_copies", dict(type=int, metavar="K",
                                                help="training set = originals + K-1 augmented copies")),
    "--epochs": ("epochs", dict(type=int, metavar="N", help="total epochs of the run")),
    "--batch-size": ("batch_size", dict(type=int, metavar="B")),
    "--optimizer": ("optimizer", dict(choices=OPTIMIZERS)),
    "--lr": ("lr", dict(type=float, metavar="LR", help="learning rate (default: 1e-3 for adam, adamw, rmsprop; "
                                                       "0.1 sgd; 0.01 momentum, adagrad)")),
    "--momentum": ("momentum", dict(type=float, metavar="M", help="momentum of --optimizer momentum")),
    "--weight-decay": ("weight_decay", dict(type=float, metavar="W",
                                            help="the optimizer's weight decay (default: 0.01 adamw, else 0)")),
    "--l2": ("l2", dict(type=float, metavar="L", help="explicit loss term 0.5*L*sum(W^2) over conv/linear weights")),
    "--loss-reduction": ("loss_reduction", dict(choices=LOSS_REDUCTIONS,
                                                help="the gradient of the batch's mean or summed cross-entropy")),
    "--scheduler": ("scheduler", dict(choices=SCHEDULERS, help="learning-rate schedule, stepped each epoch")),
    "--lr-step-size": ("lr_step_size", dict(type=int, metavar="N", help="epochs between steps of --scheduler step")),
    "--lr-gamma": ("lr_gamma", dict(type=float, metavar="G", help="factor of --scheduler step and plateau")),
    "--lr-patience": ("lr_patience", dict(type=int, metavar="N", help="epochs of --scheduler plateau's patience")),
    "--guard-patience": ("guard_patience", dict(type=int, metavar="N",
                                                help="iterations without progress before the divergence guard fires "
                                                     "(0: only on nan/inf)")),
    "--guard-factor": ("guard_factor", dict(type=float, metavar="F", help="learning-rate factor of a guard firing")),
    "--guard-retries": ("guard_retries", dict(type=int, metavar="N", help="firings before the run gives up")),
    "--guard-window": ("guard_window", dict(type=int, metavar="N", help="iterations an update-to-weight ratio may "
                                            "stay outside [1e-5, 1e-1] before the guard fires (0: off)")),
    "--monitor-every": ("monitor_every", dict(type=int, metavar="N", help="iterations between samples of the "
                                              "layer monitor, written to layers.csv (0: off)")),
    "--seed": ("seed", dict(type=int, metavar="S")),
}
# What `train --resume` accepts besides the run directory.
_RESUME_FLAGS = ("epochs", "data_dir", "quiet")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, as Ctrl-C raises KeyboardInterrupt: the same clean stop."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors become one line (no usage block) with exit status 2."""

    def error(self, message):
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The parser of `handgrad` and its four commands."""
    parser = _Parser(prog="handgrad", description="Train, evaluate and reuse CNNs whose every gradient is "
                                                  "written by hand in NumPy.",
                     epilog="Exit status: 0 ok, 2 user error, 1 training diverged (or a bug), 130 interrupted "
                            "(Ctrl-C), 143 terminated (SIGTERM).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model; writes a run directory",
                                description="Train a model. Settings: defaults < --config file < flags given.")
    _add_train_flags(train)
    train.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/<model>-<dataset>-<time>)")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue this run from its last checkpoint (with --epochs for a longer run)")
    train.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress bar or per-epoch lines")
    train.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files there "
                                                            "(needs pip install 'handgrad[tensorboard]')")

    evaluate_parser = commands.add_parser("evaluate", help="loss, accuracy and confusion matrix of a run's model")
    evaluate_parser.add_argument("run_dir", metavar="RUN_DIR")
    evaluate_parser.add_argument("--dataset", metavar="NAME", help="data set (default: the run's)")
    evaluate_parser.add_argument("--data-dir", metavar="DIR", help="folder holding the data sets (default: the run's)")
    evaluate_parser.add_argument("--split", choices=("test", "train"), default="test")
    evaluate_parser.add_argument("--limit", type=int, default=0, metavar="N",
                                 help="evaluate only the first N images of the split (0: all)")
    evaluate_parser.add_argument("--out", metavar="DIR", help=f"folder for {CONFUSION_FILE} (default: RUN_DIR; "
                                                              f"give one for a run you cannot write to)")

    predict = commands.add_parser("predict", help="classify images (PNG, JPEG, ...) with a run's model")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("images", metavar="IMAGE", nargs="+")

    model_help = "\n".join(f"  {name}: " + ", ".join(f"{k}={_show(v)}" for k, v in models.options(name).items())
                           for name in models.names())
    summary = commands.add_parser("summary", help="layer table of a model: output shapes and parameters",
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog="models and their options (defaults):\n" + model_help)
    summary.add_argument("--model", default=_DEFAULTS.model, metavar="NAME",
                         help=f"one of {', '.join(models.names())} (default: {_DEFAULTS.model})")
    summary.add_argument("--model-option", dest="model_option", action="append", default=[], metavar="KEY=VALUE")
    summary.add_argument("--torch", action="store_true", help="also print the torch.nn.Sequential that loads the "
                                                              "model's model.safetensors, and the input normalisation")
    summary.add_argument("--dataset", default=_DEFAULTS.dataset, metavar="NAME",
                         help=f"data set whose normalisation --torch prints (default: {_DEFAULTS.dataset})")
    add_experiment_parser(commands)
    _add_train_flags(add_sweep_parser(commands))
    add_inspect_parser(commands)
    return parser


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    """`handgrad train`'s settings as flags (shared with `handgrad sweep`)."""
    for flag, (name, keywords) in _TRAIN_FLAGS.items():
        default = getattr(_DEFAULTS, name)
        keywords = dict(keywords)
        help_text = keywords.pop("help", "")
        if default is not None and "default:" not in help_text:
            help_text = f"{help_text} (default: {default})".strip()
        parser.add_argument(flag, dest=name, default=argparse.SUPPRESS, help=help_text, **keywords)
    parser.add_argument("--model-option", dest="model_option", action="append", default=argparse.SUPPRESS,
                        metavar="KEY=VALUE", help="a model option, repeatable (see handgrad summary --help)")
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings (a run's config.toml)")


def _show(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value).lower() \
        if isinstance(value, bool) else str(value)


# -- train ------------------------------------------------------------------------------------
def train_config(args: argparse.Namespace) -> TrainConfig:
    """Defaults < the --config file < the flags given, checked."""
    given = {name: getattr(args, name) for name, _ in _TRAIN_FLAGS.values() if hasattr(args, name)}
    settings = read_settings(args.config) if args.config else {}
    options = dict(settings.get("model_options", {}))
    if "model" in given and given["model"] != settings.get("model", given["model"]):
        options = {}  # the file's options belong to another model
    options.update(models.parse_assignments(getattr(args, "model_option", [])))
    settings.update(given, model_options=options)
    config = TrainConfig.from_dict(settings, where=args.config or "command line")
    config = dataclasses.replace(config, out=args.out, quiet=getattr(args, "quiet", False),
                                 tensorboard=getattr(args, "tensorboard", None)).validated()
    if config.out is None:
        config.out = str(_default_out(config))
    return config


def _default_out(config: TrainConfig) -> Path:
    base = Path("runs") / f"{config.model}-{config.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume) a run; print its test accuracy and where it is saved."""
    if args.resume:
        extra = [flag for flag, (name, _) in _TRAIN_FLAGS.items() if hasattr(args, name) and name not in _RESUME_FLAGS]
        extra += [flag for flag in ("--config", "--out", "--tensorboard") if getattr(args, flag[2:])]
        extra += ["--model-option"] if hasattr(args, "model_option") else []
        if extra:
            raise UserError(f"--resume continues a run with its own settings; {', '.join(extra)} cannot be "
                            f"changed (only --epochs, --data-dir and --quiet can be given)")
        out, run = args.resume, functools.partial(resume, args.resume, epochs=getattr(args, "epochs", None),
                                                  quiet=getattr(args, "quiet", False),
                                                  data_dir=getattr(args, "data_dir", None))
    else:
        config = train_config(args)
        out, run = config.out, functools.partial(fit, config)
    try:
        result = run()
    except KeyboardInterrupt as exc:
        stop = "terminated" if isinstance(exc, Terminated) else "interrupted"
        raise type(exc)(f"{stop}; continue the run from its last checkpoint with "
                        f"handgrad train --resume {out}") from None
    epochs = len(result.history)
    print(f"test accuracy {100 * result.test_accuracy:.2f}% (loss {readable(result.test_loss)}) after {epochs} "
          f"epoch{'s' if epochs != 1 else ''}, {result.seconds:.1f}s of training; run saved in {result.out}")
    return 0


# -- evaluate, predict, summary ---------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print loss, accuracy and the confusion matrix of a run's model on a split; write confusion.png."""
    run = load_run(args.run_dir)
    dataset = args.dataset or run.config.dataset
    root = Path(args.data_dir or run.config.data_dir or default_data_dir())
    if args.limit < 0:
        raise UserError(f"--limit must be 0 (all) or more, got {args.limit}")
    folder = Path(args.out) if args.out else run.path
    if not args.out and not os.access(folder, os.W_OK):
        raise UserError(f"{folder} is read-only, so {CONFUSION_FILE} cannot go there; give --out DIR")
    images, labels = data.load_dataset(dataset, root, args.split)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    x = data.to_float(images, run.mean, run.std, run.pad)
    result = evaluate(run.model, x, labels.astype(np.int64))
    names = class_names(dataset)
    matrix = confusion_matrix(labels, result.predictions, len(names))
    print(f"{run.path}: {run.config.model} on {dataset} {args.split} split ({len(labels):,} images)")
    print(f"loss {readable(result.loss)}  accuracy {100 * result.accuracy:.2f}%")
    print("confusion matrix (rows: true class, columns: predicted class)")
    width = max(len(str(matrix.max())), 4)
    print(" " * 14 + "".join(f"{i:>{width + 1}}" for i in range(len(names))) + "  accuracy")
    for i, row in enumerate(matrix):
        label = f"{i} {names[i]}" if names[i] != str(i) else str(i)
        accuracy = row[i] / row.sum() if row.sum() else float("nan")
        print(f"{label:<14}" + "".join(f"{count:>{width + 1}}" for count in row) + f"  {100 * accuracy:7.2f}%")
    path = folder / CONFUSION_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        plot_confusion(matrix, names, path, title=f"{run.config.model} on {dataset} {args.split}: "
                                                  f"{100 * result.accuracy:.2f}% accurate")
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror or exc}); the results above stand; "
                        f"give --out DIR for a folder you can write to") from exc
    print(f"wrote {path}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Print the predicted class and its probability for each image."""
    run = load_run(args.run_dir)
    images, notes = zip(*(read_image(path, run.config.dataset) for path in args.images))
    probs = probabilities(run.model, data.to_float(np.stack(images), run.mean, run.std, run.pad))
    names = class_names(run.config.dataset)
    for path, p, note in zip(args.images, probs, notes):
        k = int(p.argmax())
        label = f"{k} ({names[k]})" if names[k] != str(k) else str(k)
        print(f"{path}: {label}  probability {p[k]:.4f}" + (f"  (note: {note})" if note else ""))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the layer table of a registry model."""
    options = models.parse_assignments(args.model_option)
    model = models.build(args.model, **options)
    given = ", ".join(f"{k}={v}" for k, v in options.items())
    print(f"{args.model}" + (f" ({given})" if given else ""))
    print(models.summary(model, models.input_shape(args.model, **options)))
    if args.torch:
        config = TrainConfig(model=args.model, model_options=options, dataset=args.dataset).validated()
        mean, std = normalisation(config)
        pad = padding(config)
        print(f"\nThe same model in PyTorch (state-dict keys and shapes as in model.safetensors, so "
              f"model.load_state_dict(safetensors.torch.load_file(PATH)) loads a run's weights):\n")
        print(models.torch_code(model))
        print(f"\nInputs as handgrad trains on them: float32 (N, 1, {28 + 2 * pad}, {28 + 2 * pad}), "
              f"x = (pixels / 255 - mean) / std with mean {mean:.6f} and std {std:.6f} ({args.dataset}'s "
              f"training pixels under the default split; a run's own are \"mean\" and \"std\" in the "
              f"\"handgrad\" metadata of its model.safetensors)"
              + (f", bordered by {pad} pixels of the background value -mean/std = {-mean / std:.6f}" if pad else "")
              + "; the data sets' images are white on black, as load_image lays out any picture.")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Search the `--search` settings of a `handgrad train` run; the others as the train flags say."""
    if args.spec:  # a worker of a pool: the sweep as its parent wrote it
        spec = SweepSpec.from_json(json.loads(Path(args.spec).read_text(encoding="utf-8")))
    else:
        if not args.search:
            raise UserError("sweep: give at least one --search NAME=KIND:ARGS (e.g. --search lr=log:1e-4:1e-1)")
        base = train_config(argparse.Namespace(**{**vars(args), "out": None}))
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        spec = SweepSpec(base.to_dict(), [parse_search(text, fields) for text in args.search], args.trials,
                         args.metric, args.sampler, args.pruner)
        spec.config({})  # the base settings are valid before any trial starts
    check_storage_arguments(args)
    out = Path(args.out or f"runs/sweep-{spec.base['model']}-{spec.base['dataset']}")
    try:
        report = run_sweep(spec, out, args.storage, args.workers, args.heartbeat, args.study_name,
                           getattr(args, "seed", 0), args.pool_member, args.threads)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("interrupted; the finished trials are kept in the storage: run the same command "
                                "to continue the sweep") from None
    except WorkerFailed as failed:
        return failed.code
    if report is not None:
        print(f"sweep: wrote {report}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "summary": cmd_summary,
            "experiment": run_experiment_command, "sweep": cmd_sweep, "inspect": run_inspect_command}


def main(argv=None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    in_main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return USER_ERROR
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except TrainingDiverged as exc:
        _report(f"training diverged: {exc}")
        return FAILED
    except KeyboardInterrupt as exc:
        _report(str(exc) or ("terminated" if isinstance(exc, Terminated) else "interrupted"))
        return TERMINATED if isinstance(exc, Terminated) else INTERRUPTED
    except UserError as exc:
        _report(str(exc) or type(exc).__name__)
        return USER_ERROR
    except OSError as exc:
        if exc.filename is None:  # not about a file: ours to fix
            return _bug()
        _report(f"{exc.filename}: {exc.strerror or exc}")
        return USER_ERROR
    except Exception:
        return _bug()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame):
    raise Terminated()


def _bug() -> int:
    """A bug of handgrad's: the traceback, then one line asking for a report."""
    traceback.print_exc()
    _report("this is a bug in handgrad, not a mistake of yours; please report it to handgrad's developers "
            "with the traceback above and the command that gave it")
    return FAILED


def _report(message: str) -> None:
    print("handgrad: error: " + " ".join(message.split()), file=sys.stderr)
