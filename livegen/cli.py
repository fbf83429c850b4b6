"""Command-line interface: ``livegen <command> ...``.

Each command lives in ``livegen/commands/<name>.py`` and exposes
``register(parser) -> None`` which adds its options and sets ``func(args) -> int``.
This module is the only place that turns a :class:`LivegenError` into a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys

from livegen import __version__, interrupts
from livegen.commands.options import OneLineParser
from livegen.errors import LivegenError

#: command -> one-line summary, in help order. Each command's module
#: (``livegen/commands/<name>.py``, with ``register(parser)``) is imported only when that
#: command runs or shows its help, so ``livegen --help`` never loads torch.
COMMANDS: dict[str, str] = {
    "play": "jam live: listen on a MIDI input, answer on a MIDI output",
    "ports": "list MIDI inputs and outputs",
    "controls": "list the live controls: OSC addresses, ranges, MIDI CCs",
    "render": "generate offline to a MIDI file (and WAV, PNG)",
    "split": "split a MIDI file's notes into parts (SATB; melody, chords, bass), a track each",
    "train": "train a model (roll, lyrics or abc)",
    "eval": "score a model (NLL, frame accuracy) on a dataset split",
    "lyrics": "generate lyrics lines from a character LSTM",
    "models": "list shipped models (or ship a trained checkpoint)",
    "data": "list the known data sets and where they are; fetch one by name",
    "bench": "measure live timing: output jitter, missed steps, reaction time (needs jackd)",
    "patches": "write controller patches (TouchOSC, Pure Data, Open Stage Control)",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The root parser with every command listed; the options of ``command`` (of every
    command when None) are added by importing its module."""
    parser = OneLineParser(
        prog="livegen", description="An LSTM that jams with you: live MIDI, OSC control, rendering, training."
    )
    parser.add_argument("--version", action="version", version=f"livegen {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.set_defaults(func=None)  # a command's parser sets its own
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, summary in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if command is None or command == name:
            importlib.import_module(f"livegen.commands.{name}").register(p)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is one), or None."""
    return next((word for word in argv if word in COMMANDS), None)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    command = _command_in(words)
    parser = build_parser(command) if command is not None else build_parser("")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "defers_interrupts", False):
        interrupts.allow()  # the command's modules (torch) are loaded: Ctrl-C raises again
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


def run() -> None:
    """The ``livegen`` command: :func:`main`, then the process ends with its exit code.

    When an rtmidi input had to be left open, the process ends with ``os._exit`` after
    flushing the logs and standard streams: tearing the interpreter down would free
    python-rtmidi's callback while JACK's thread can still call it (see
    ``livegen.io.ports.RtMidiInput.close``).
    Everything livegen writes (takes, the last notes-off) is done before :func:`main` returns.
    """
    interrupted = False
    interrupts.defer()  # a Ctrl-C while torch loads is raised once it is safe (livegen.interrupts)
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C while a command's modules load (torch takes seconds)
        print("livegen: interrupted", file=sys.stderr)
        code, interrupted = 130, True
    ports = sys.modules.get("livegen.io.ports")  # only a command that used MIDI imported it
    # an interrupt inside code an extension ran through PyRun_* (torch's import does) leaves
    # CPython marked as interrupted however it was handled: a normal exit would then end the
    # process by SIGINT (exit -2), so an interrupted run ends with os._exit as well
    if interrupted or code == 130 or (ports is not None and ports.rtmidi_inputs_left_open()):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    raise SystemExit(code)
