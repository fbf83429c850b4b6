"""``livegen render``: write a model's output to MIDI (and WAV, PNG) offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.commands.options import add_control_options, control_values, live_state, number
from livegen.music.parts import LAYOUTS
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.offline.render import RenderRequest, render_roll_files
from livegen.offline.tune import render_tune_files

#: live controls settable from the command line (the same bounds as OSC and MIDI CC).
RENDER_CONTROLS = ["tempo", "temperature", "density", "repeat", "polyphony", "low", "high", "key", "scale",
                   "follow", "key_pull", "register_follow", "density_follow",
                   "velocity", "dynamics", "accent", "swing", "humanize_ms", "humanize_velocity",
                   "max_note_beats"]


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--model", default="nottingham", help="shipped model name or checkpoint path")
    p.add_argument("--bars", type=number(int, 1, 10_000), default=8, help="bars to generate (after the prime)")
    p.add_argument("--beats-per-bar", type=number(int, 1, 32), default=4)
    add_control_options(p, RENDER_CONTROLS)
    p.add_argument("--seed", type=number(int, 0, 2**31 - 1), default=0)
    p.add_argument("--prime", type=Path, default=None, help="MIDI file whose notes prime the model")
    p.add_argument("--prime-bars", type=number(int, 0, 10_000), default=0,
                   help="use only the first N bars of --prime (0 = all)")
    p.add_argument("--program", type=number(int, 0, 127), default=0,
                   help="General MIDI program of the generated part")
    p.add_argument("--parts", choices=list(LAYOUTS), default="one",
                   help="roll models: split the answer into parts, one named track each on its own "
                        "channel: satb (soprano, alto, tenor, bass), melody-chords-bass, or one (default)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output .mid")
    p.add_argument("--wav", type=Path, default=None, help="also render audio with FluidSynth")
    p.add_argument("--png", type=Path, default=None, help="also draw the piano roll")
    p.add_argument("--abc", type=Path, default=None, help="(ABC models) also write the tune text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = control_values(args)
    request = RenderRequest(
        state=live_state(args),  # bad values and combinations fail before the model loads
        out=args.out, bars=args.bars, beats_per_bar=args.beats_per_bar, seed=args.seed, prime=args.prime,
        prime_bars=args.prime_bars, program=args.program, wav=args.wav, png=args.png, abc=args.abc,
        model_name=args.model, parts=args.parts,
        key=str(given["key"]) if "key" in given else None,
        scale=str(given["scale"]) if "scale" in given else None)
    configure_for_stepping(1)
    model, meta = load_checkpoint(resolve_model(args.model))
    if isinstance(model, CharLSTM):
        lines = render_tune_files(model, meta, request)
    else:
        lines = render_roll_files(model, meta, request)
    for line in lines:
        print(line)
    return 0
