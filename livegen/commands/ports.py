"""``livegen ports``: list the MIDI inputs and outputs livegen can open."""

from __future__ import annotations

import argparse

from livegen.io.jackd import JackServer
from livegen.io.ports import list_ports


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--jack", action="store_true",
                   help="start (or reuse) the headless JACK server livegen-jack and list its ports")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    if args.jack:
        with JackServer():
            inputs, outputs = list_ports()
    else:
        inputs, outputs = list_ports()
    for title, names in (("MIDI inputs (play into livegen):", inputs), ("MIDI outputs (livegen plays to):", outputs)):
        print(title)
        for name in names:
            print(f"  {name}")
        if not names:
            print("  (none)")
    if not inputs and not outputs:
        print("\nNo MIDI ports. Connect a device, or let livegen create virtual ports with --virtual "
              "(Windows: create one with loopMIDI; macOS: enable the IAC bus).")
    print("\nName a port with any unambiguous part of it, e.g. `livegen play --in 'keyboard' --out 'synth'` (case-insensitive).")
    return 0
