"""``livegen render --model irish``: one generated folk tune to MIDI (and ABC, WAV, PNG).

It generates one whole tune
(:class:`~livegen.voices.abc_tunes.AbcTuneSampler`, seeded by ``--seed``: the same seed and options
give a byte-identical ``.mid``), writes it with :func:`~livegen.music.abc.write_midi`, and
optionally the ABC text (``--abc``), audio (``--wav``, FluidSynth) and the piano roll at 4
steps per beat (``--png``).

What it reads of the :class:`~livegen.offline.render.RenderRequest`: ``seed``, the state's
``temperature`` (character sampling temperature) and ``tempo``, ``key`` and ``scale`` (force
the tune's ``K:``, e.g. E dorian; scales major, minor, dorian, mixolydian), ``prime``
(without ``key``: force the folk key that best fits the file's notes) and ``program``
(General MIDI instrument). ``bars`` and the roll-only controls are ignored: a tune is as long
as the model makes it.
"""

from __future__ import annotations

from typing import Any

import pretty_midi

from livegen.errors import LivegenError
from livegen.music.abc.parse import write_midi
from livegen.music.audio import render_wav
from livegen.nets.registry import Net
from livegen.offline.render import RenderRequest, picture_title
from livegen.offline.roll_plot import plot_roll
from livegen.voices.abc import STEPS_PER_BEAT, tune_to_roll
from livegen.voices.abc_tunes import AbcTuneSampler, key_from_pitches, key_name


def tune_fields(request: RenderRequest) -> dict[str, str] | None:
    """The header fields to force from ``key``/``scale`` or ``prime`` (None: model's choice)."""
    if request.key:
        return {"K": key_name(request.key, request.scale or "major")}
    if request.prime is not None:
        path = request.prime
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


def render_tune_files(model: Net, meta: dict[str, Any], request: RenderRequest) -> list[str]:
    """Generate one tune with ``model`` (an ABC char model, else LivegenError) and write the
    requested files; returns one line per file (and one for repairs, if any)."""
    sampler = AbcTuneSampler.from_checkpoint(model, meta, seed=request.seed)
    fields = tune_fields(request)
    gen = sampler.generate(fields=fields, temperature=request.state.temperature)
    tune = gen.tune
    bpm = request.state.tempo
    out = request.out
    out.parent.mkdir(parents=True, exist_ok=True)
    write_midi(tune, out, bpm=bpm, program=request.program)
    title = tune.title or f"tune {tune.number}"
    lines = [f"wrote {out}: {title!r} in {tune.key}, {tune.meter.text}, {len(tune.notes)} notes, "
             f"{tune.length:g} beats at {bpm:g} BPM"
             + (f" ({gen.rejected} drafts rejected)" if gen.rejected else "")
             + (f"; key {fields['K']} forced" if fields else "")]
    if tune.repairs:
        lines.append(f"repairs: {'; '.join(tune.repairs)}")
    if request.abc:
        request.abc.parent.mkdir(parents=True, exist_ok=True)
        request.abc.write_text(gen.text.rstrip("\n") + "\n", encoding="utf-8")
        lines.append(f"wrote {request.abc}")
    if request.png:
        roll, _ = tune_to_roll(tune, STEPS_PER_BEAT)
        plot_roll(request.png, roll.astype(bool), steps_per_beat=STEPS_PER_BEAT,
                  title=f"{title} ({tune.key}, {tune.meter.text}): " + picture_title(request))
        lines.append(f"wrote {request.png}")
    if request.wav:
        render_wav(out, request.wav)
        lines.append(f"wrote {request.wav}")
    return lines
