"""``livegen render``: write a model's output to MIDI (and WAV, PNG) offline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from livegen.commands.options import add_control_options, control_values, number
from livegen.commands.play import live_state
from livegen.commands.render_abc import render_abc
from livegen.music.audio import render_wav
from livegen.music.roll_midi import midi_to_roll, roll_to_midi, write_midi_bytes
from livegen.music.roll_png import write_roll_png
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM
from livegen.nets.runtime import configure_for_stepping
from livegen.offline.render import render_roll

#: live controls settable from the command line (the same bounds as OSC and MIDI CC).
RENDER_CONTROLS = ["tempo", "temperature", "density", "repeat", "polyphony", "low", "high", "key", "scale",
                   "velocity", "max_note_beats"]


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
    p.add_argument("-o", "--out", type=Path, required=True, help="output .mid")
    p.add_argument("--wav", type=Path, default=None, help="also render audio with FluidSynth")
    p.add_argument("--png", type=Path, default=None, help="also draw the piano roll")
    p.add_argument("--abc", type=Path, default=None, help="(ABC models) also write the tune text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    configure_for_stepping(1)
    args.state = live_state(args)  # bad values and combinations fail before the model loads
    given = control_values(args)  # the ABC path reads these
    args.bpm, args.temperature = args.state.tempo, args.state.temperature
    args.key, args.scale = given.get("key"), given.get("scale")
    path = resolve_model(args.model)
    model, meta = load_checkpoint(path)
    if isinstance(model, CharLSTM):

        return render_abc(model, meta, args)
    return _render_roll(model, meta, args)


def _render_roll(model: RollLSTM | RollNADE, meta: dict[str, Any], args: argparse.Namespace) -> int:

    spb = int(meta.get("steps_per_beat", 2))
    prime = None
    if args.prime is not None:
        prime, _stats = midi_to_roll(args.prime, spb)
        if args.prime_bars:
            prime = prime[: args.prime_bars * args.beats_per_bar * spb]
    result = render_roll(model, args.bars, args.state, seed=args.seed, prime=prime, steps_per_beat=spb,
                         beats_per_bar=args.beats_per_bar)
    full = np.concatenate([result.prime, result.generated]) if len(result.prime) else result.generated
    tracks = {}
    if len(result.prime):
        tracks["prime"] = np.concatenate([result.prime, np.zeros_like(result.generated)])
    tracks["livegen"] = np.concatenate([np.zeros_like(result.prime), result.generated])
    pm = roll_to_midi(full, spb, args.bpm, program=args.program, tracks=tracks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_midi_bytes(pm, args.out)
    notes = int((np.diff(np.vstack([np.zeros((1, 88), bool), result.generated]).astype(int), axis=0) > 0).sum())
    print(f"wrote {args.out}: {args.bars} bars at {args.bpm:g} BPM, {notes} notes generated"
          + (f" after {len(result.prime)} prime steps" if len(result.prime) else ""))
    if args.png:

        write_roll_png(args.png, full, prime_steps=len(result.prime), steps_per_beat=spb)
        print(f"wrote {args.png}")
    if args.wav:

        render_wav(args.out, args.wav)
        print(f"wrote {args.wav}")
    return 0

