"""``livegen split``: a MIDI file's notes split into parts, one named track per part."""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.music.parts import LAYOUTS
from livegen.offline.split import split_midi


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("source", type=Path, metavar="IN.mid", help="MIDI file whose notes are split (every track)")
    p.add_argument("--parts", required=True, choices=[name for name in LAYOUTS if name != "one"],
                   help="satb: soprano, alto, tenor, bass (one voice each); melody-chords-bass: the top "
                        "voice, the notes between, the lowest voice")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.mid",
                   help="write one named track per part here (channels 1, 2, 3, ... in order)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    lines, _ = split_midi(args.source, args.parts, args.out)
    for line in lines:
        print(line)
    return 0
