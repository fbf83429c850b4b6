"""Command-line interface: ``livegen <command> ...``.

Each command lives in ``livegen/commands/<name>.py`` and exposes
``register(subparsers) -> None`` which adds its parser and sets ``func(args) -> int``.
This module is the only place that turns a :class:`LivegenError` into a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from livegen import __version__
from livegen.commands.options import OneLineParser
from livegen.errors import LivegenError

#: command modules under livegen.commands, in help order.
COMMANDS = ["play", "ports", "controls", "render", "train", "eval", "lyrics", "models", "bench",
            "patches"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="livegen", description="An LSTM that jams with you: live MIDI, OSC control, rendering, training."
    )
    parser.add_argument("--version", action="version", version=f"livegen {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.set_defaults(func=None)  # a command's parser sets its own
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"livegen.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"livegen.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.func is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LivegenError as exc:
        print(f"livegen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("livegen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
