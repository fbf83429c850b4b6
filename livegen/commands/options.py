"""Checked argparse option types: every numeric option has bounds, and one place says them.

Live controls (temperature, tempo, polyphony, ...) take their bounds from the one control
table (:data:`livegen.controls.table.CONTROLS`) through :func:`control`, so the command
line accepts exactly what OSC and MIDI CC accept. Other numbers use :func:`number` with
explicit bounds. A bad value becomes one line: ``livegen: error: argument --bpm: ...``.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from livegen.controls.table import CONTROLS, ControlError, ControlState, Value
from livegen.io.midi_backend import MIDI_BACKENDS


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"livegen: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def control(name: str) -> Callable[[str], Value]:
    """Option type for the live control ``name``: the table's validator and bounds."""
    spec = CONTROLS[name]

    def parse(text: str) -> Value:
        value: object = text
        if spec.kind in ("float", "int"):
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
            if spec.kind == "int" and math.isfinite(value) and value != int(value):
                raise argparse.ArgumentTypeError(f"{name} takes a whole number, got {text}")
        try:
            return spec.coerce(value)
        except ControlError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in its messages
    numeric = spec.kind in ("float", "int")
    parse.low = spec.minimum if numeric else None  # type: ignore[attr-defined]
    parse.high = spec.maximum if numeric else None  # type: ignore[attr-defined]
    return parse


def number(kind: type[int] | type[float], low: float, high: float, unit: str = "") -> Callable[[str], float]:
    """Option type for a number in ``low..high`` (inclusive); ints must be whole."""
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if kind is int and value != int(value):
            raise argparse.ArgumentTypeError(f"{text} is not a whole number")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {_exact(low)}..{_exact(high)}{suffix}")
        return int(value) if kind is int else value

    parse.__name__ = kind.__name__
    parse.low, parse.high = low, high  # type: ignore[attr-defined]  # for tests and --help
    return parse


def _exact(x: float) -> str:
    """A bound as written: whole numbers in full (4294967295, not 4.29497e+09)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


#: command-line spellings of live controls whose option name differs from the control's.
OPTION_NAMES = {"tempo": "--bpm"}


def add_control_options(parser: argparse.ArgumentParser, names: list[str]) -> None:
    """Add one option per live control in ``names`` (``--temperature``, ``--bpm``, ...).

    Each takes the control's own validator and bounds; left out, the control keeps the
    table default. Collect what was given with :func:`control_values`.
    """
    for name in names:
        spec = CONTROLS[name]
        flag = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
        unit = f" {spec.unit}" if spec.unit else ""
        parser.add_argument(flag, dest=f"control_{name}", type=control(name), default=None,
                            metavar=spec.name.upper(),
                            help=f"{spec.description} ({spec.range_text}{unit}; default {spec.default})"
                            .replace("%", "%%"))  # argparse formats help with %


def control_values(args: argparse.Namespace) -> dict[str, Value]:
    """``name -> value`` of the live-control options given on the command line."""
    return {key.removeprefix("control_"): value for key, value in vars(args).items()
            if key.startswith("control_") and value is not None}


def address_list(text: str) -> tuple[str, ...]:
    """Option type for a comma-separated list of IPs or CIDR networks (``--osc-allow``)."""
    entries = tuple(a.strip() for a in text.split(",") if a.strip())
    if not entries:
        raise argparse.ArgumentTypeError("name at least one address, e.g. 192.168.1.20 or 192.168.1.0/24")
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{entry!r} is not an IP or a network; use e.g. 192.168.1.20 or 192.168.1.0/24") from None
    return entries


def live_state(args: argparse.Namespace) -> ControlState:
    """The starting live state from the command line (one validator; combinations checked).

    ``--key`` alone implies ``--scale major`` (the table's default scale, chromatic, would
    make the key do nothing).
    """
    values = control_values(args)
    if "key" in values and "scale" not in values:
        values["scale"] = "major"
    return ControlState.default().apply_many(values)


def add_midi_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--midi-backend auto|jack|rtmidi`` (:mod:`livegen.io.midi_backend`); its default is
    ``LIVEGEN_MIDI_BACKEND`` when that names one."""
    default = os.environ.get("LIVEGEN_MIDI_BACKEND", "auto")
    parser.add_argument("--midi-backend", choices=MIDI_BACKENDS, default=default if default in MIDI_BACKENDS else "auto",
                        help="jack: livegen's own JACK client in a helper process, each note at its exact frame "
                             "(one period of latency); rtmidi: python-rtmidi; auto (default, or "
                             "$LIVEGEN_MIDI_BACKEND): rtmidi for now (docs/live.md, MIDI backends)")
