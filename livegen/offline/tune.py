"""``livegen render --model irish``: one generated folk tune to MIDI (and ABC, WAV, PNG).

Called by :mod:`livegen.commands.render` for character models (and imported only then, so
its imports sit at the top without slowing ``livegen --help``). It generates one whole tune
(:class:`~livegen.voices.abc_tunes.AbcTuneSampler`, seeded by ``--seed``: the same seed and options
give a byte-identical ``.mid``), writes it with :func:`~livegen.music.abc.write_midi`, and
optionally the ABC text (``--abc``), audio (``--wav``, FluidSynth) and the piano roll at 4
steps per beat (``--png``).

Options used: ``--seed``, ``--temperature`` (character sampling temperature),
``--bpm`` (the tempo; generated tunes have no ``Q:`` since ``irish.abc`` has none, so the
tune's own ``Q:`` is used only when ``--bpm`` is None), ``--key`` and ``--scale`` (force the
tune's ``K:``, e.g. ``--key E --scale dorian``; scales major, minor, dorian, mixolydian),
``--prime FILE.mid`` (without ``--key``: force the folk key that best fits the file's notes),
``--program`` (General MIDI instrument). ``--bars`` and the roll-only options are ignored:
a tune is as long as the model makes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi

from livegen.errors import LivegenError
from livegen.music.abc import write_midi
from livegen.music.audio import render_wav
from livegen.music.roll_png import write_roll_png
from livegen.nets.registry import Net
from livegen.voices.abc import STEPS_PER_BEAT, tune_to_roll
from livegen.voices.abc_tunes import AbcTuneSampler, key_from_pitches, key_name


def tune_fields(args: argparse.Namespace) -> dict[str, str] | None:
    """The header fields to force from ``--key/--scale`` or ``--prime`` (None: model's choice)."""
    key = getattr(args, "key", None)
    if key:
        return {"K": key_name(key, getattr(args, "scale", "major") or "major")}
    prime = getattr(args, "prime", None)
    if prime is not None:
        path = Path(prime)
        if not path.is_file():
            raise LivegenError(f"--prime file {path} not found; give an existing .mid file")
        try:
            pm = pretty_midi.PrettyMIDI(str(path))
        except Exception as exc:  # pretty_midi raises many kinds on bad files
            raise LivegenError(f"cannot read --prime file {path} as MIDI ({exc}); give a .mid file") from None
        pitches = [n.pitch for inst in pm.instruments if not inst.is_drum for n in inst.notes]
        name = key_from_pitches(pitches)
        if name is None:
            raise LivegenError(f"--prime file {path} has no notes to take a key from; give one with notes")
        return {"K": name}
    return None


def render_abc(model: Net, meta: dict[str, Any], args: argparse.Namespace) -> int:
    """Generate one tune with ``model`` (an ABC char model, else LivegenError) and write the
    requested files; prints a summary."""
    sampler = AbcTuneSampler.from_checkpoint(model, meta, seed=int(args.seed))
    fields = tune_fields(args)
    gen = sampler.generate(fields=fields, temperature=float(args.temperature))
    tune = gen.tune
    bpm = getattr(args, "bpm", None)
    bpm = tune.bpm if bpm is None else float(bpm)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_midi(tune, out, bpm=bpm, program=int(getattr(args, "program", 0) or 0))
    title = tune.title or f"tune {tune.number}"
    print(f"wrote {out}: {title!r} in {tune.key}, {tune.meter.text}, {len(tune.notes)} notes, "
          f"{tune.length:g} beats at {bpm:g} BPM"
          + (f" ({gen.rejected} drafts rejected)" if gen.rejected else "")
          + (f"; key {fields['K']} forced" if fields else ""))
    if tune.repairs:
        print(f"repairs: {'; '.join(tune.repairs)}")
    if getattr(args, "abc", None):
        abc = Path(args.abc)
        abc.parent.mkdir(parents=True, exist_ok=True)
        abc.write_text(gen.text.rstrip("\n") + "\n", encoding="utf-8")
        print(f"wrote {abc}")
    if getattr(args, "png", None):
        roll, _ = tune_to_roll(tune, STEPS_PER_BEAT)
        write_roll_png(args.png, roll.astype(np.uint8), steps_per_beat=STEPS_PER_BEAT)
        print(f"wrote {args.png}")
    if getattr(args, "wav", None):
        render_wav(out, args.wav)
        print(f"wrote {args.wav}")
    return 0
