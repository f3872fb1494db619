"""Fuzz the command-line parser (`handgrad.cli.build_parser`) and, for `train`, the settings
checks it runs before training (`cli.train_config`); no command is run.

The input is argv: arguments separated by NUL bytes (which no argument can hold), decoded
as the OS decodes argv. `--config` and `--resume` name files to read, so they are left to
the config and resume harnesses: reading an arbitrary path is not parsing.
"""

import contextlib
import io
import os

import common

with common.instrumented(__name__ == "__main__"):
    from handgrad import cli


def read(data: bytes):
    argv = [os.fsdecode(word) for word in data.split(b"\0")] if data else []
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # --help's text
            args = common.valid_or_user_error(cli.build_parser().parse_args, argv)
    except SystemExit as exit:  # --help and --version end here, with status 0; any other is a finding
        if exit.code != 0:
            raise AssertionError(f"the parser exited with status {exit.code!r} on {argv!r}") from exit
        return None
    if args is not None and args.command == "train" and not args.resume and not args.config:
        return common.valid_or_user_error(cli.train_config, args)
    return args


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    lines = [["train"], ["train", "--model", "mlp", "--model-option", "hidden=16,8", "--epochs", "2", "--lr", "0.01"],
             ["train", "--model", "lenet5", "--model-option", "dropout=0.5", "--model-option", "batch_norm=yes",
              "--augment", "rotate=10,translate=2", "--augment-copies", "3", "--scheduler", "step",
              "--lr-step-size", "2", "--batch-size", "32", "--seed", "7", "--quiet"],
             ["train", "--optimizer", "sgd", "--momentum", "0.5", "--weight-decay", "0.001", "--val-fraction", "0.2",
              "--guard-factor", "0.5", "--monitor-every", "10", "--guard-window", "20", "--no-shuffle-split"],
             ["evaluate", "runs/a", "--split", "train", "--limit", "10"], ["predict", "runs/a", "digit.png"],
             ["summary", "--model", "convnet", "--model-option", "channels=4,8"]]
    return [b"\0".join(os.fsencode(word) for word in line) for line in lines]


if __name__ == "__main__":
    common.main("cli", TestOneInput, seeds)
