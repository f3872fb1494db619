"""The `handgrad inspect` subcommand: pictures of what a trained run's network does.

    handgrad inspect RUN_DIR [IMAGE ...] [--out DIR] [--pictures filters,saliency] [--limit N]

Wired into `handgrad.cli` with `add_inspect_parser(subparsers)` and
`run_inspect_command(args) -> int`; mistakes (not a run, an unreadable image, a picture
the model cannot have) raise UserError, which the CLI reports as one line.
"""

from __future__ import annotations

import argparse

from handgrad.inspect.run import PICTURES, inspect_run, parse_pictures


def add_inspect_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `inspect` subcommand to an argparse subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "inspect", help="pictures of a run's network: filters, feature maps, saliency, mistakes, ...",
        description="Draw what a trained run's network does, into the run directory (or --out): "
                    + ", ".join(f"{name}.png" for name in PICTURES) + ".")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("images", metavar="IMAGE", nargs="*",
                        help="pictures for feature_maps.png and saliency.png (default: test images)")
    parser.add_argument("--out", metavar="DIR", help="write the pictures here instead of into RUN_DIR")
    parser.add_argument("--pictures", metavar="LIST", help=f"comma-separated subset of {','.join(PICTURES)} "
                                                           f"(default: all the model has)")
    parser.add_argument("--limit", type=int, metavar="N", help="use the first N test images (0: all; default: "
                                                               "those the run was tested on)")
    return parser


def run_inspect_command(args: argparse.Namespace) -> int:
    """Run `handgrad inspect` as parsed; returns the exit status."""
    inspect_run(args.run_dir, args.images, out=args.out, pictures_wanted=None if args.pictures is None else
                parse_pictures(args.pictures), limit=args.limit)
    return 0
