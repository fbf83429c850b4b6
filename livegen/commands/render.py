"""``livegen render``: write a model's output to MIDI (and WAV, PNG) offline."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="generate offline to a MIDI file (and WAV, PNG)")
    p.add_argument("--model", default="nottingham", help="shipped model name or checkpoint path")
    p.add_argument("--bars", type=int, default=8, help="bars to generate (after the prime)")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo in quarter notes per minute")
    p.add_argument("--beats-per-bar", type=int, default=4)
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature (0 = deterministic threshold)")
    p.add_argument("--density", type=float, default=0.0, help="logit bias: >0 more notes, <0 fewer")
    p.add_argument("--repeat", type=float, default=1.0,
                   help="copy-head models: odds of repeating earlier material (0 = never, 1 = as trained)")
    p.add_argument("--key", default=None, help="restrict to a key, e.g. D (with --scale)")
    p.add_argument("--scale", default="major", help="scale for --key (major, minor, dorian, ...)")
    p.add_argument("--polyphony", type=int, default=0, help="most notes at once (0 = no cap)")
    p.add_argument("--low", type=int, default=21, help="lowest MIDI pitch allowed")
    p.add_argument("--high", type=int, default=108, help="highest MIDI pitch allowed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prime", type=Path, default=None, help="MIDI file whose notes prime the model")
    p.add_argument("--prime-bars", type=int, default=0, help="use only the first N bars of --prime (0 = all)")
    p.add_argument("--program", type=int, default=0, help="General MIDI program of the generated part")
    p.add_argument("-o", "--out", type=Path, required=True, help="output .mid")
    p.add_argument("--wav", type=Path, default=None, help="also render audio with FluidSynth")
    p.add_argument("--png", type=Path, default=None, help="also draw the piano roll")
    p.add_argument("--abc", type=Path, default=None, help="(ABC models) also write the tune text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livegen.errors import LivegenError
    from livegen.nets.checkpoint import load_checkpoint
    from livegen.nets.manifest import resolve_model
    from livegen.nets.runtime import configure_for_stepping

    configure_for_stepping(1)
    if args.bars <= 0 or args.bpm <= 0:
        raise LivegenError("--bars and --bpm must be positive")
    path = resolve_model(args.model)
    model, meta = load_checkpoint(path)
    if model.kind == "char":
        from livegen.commands.render_abc import render_abc

        return render_abc(model, meta, args)
    return _render_roll(model, meta, args)


def _render_roll(model, meta, args: argparse.Namespace) -> int:
    from livegen.engine.params import LiveParams
    from livegen.errors import LivegenError
    from livegen.music.roll_midi import midi_to_roll, roll_to_midi, write_midi_bytes
    from livegen.offline.render import render_roll

    spb = int(meta.get("steps_per_beat", 2))
    params = LiveParams(bpm=args.bpm, mode="solo")
    for name, value in (("temperature", args.temperature), ("density", args.density), ("repeat", args.repeat),
                        ("scale", args.scale), ("key", args.key), ("polyphony", args.polyphony),
                        ("low", args.low), ("high", args.high)):
        try:
            params.set(name, value)
        except ValueError as exc:
            raise LivegenError(f"--{name}: {exc}") from None
    prime = None
    if args.prime is not None:
        prime, _stats = midi_to_roll(args.prime, spb)
        if args.prime_bars:
            prime = prime[: args.prime_bars * args.beats_per_bar * spb]
    result = render_roll(model, args.bars, params, seed=args.seed, prime=prime, steps_per_beat=spb,
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
        from livegen.music.roll_png import write_roll_png

        write_roll_png(args.png, full, prime_steps=len(result.prime), steps_per_beat=spb)
        print(f"wrote {args.png}")
    if args.wav:
        from livegen.music.audio import render_wav

        render_wav(args.out, args.wav)
        print(f"wrote {args.wav}")
    return 0

