"""Split a stream of notes into parts (``livegen split``, ``render --parts``): one named MIDI
track per part, each on its own channel with its General MIDI program.

The splitting itself is :mod:`livegen.music.parts`; this module reads and writes MIDI files.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from livegen.errors import LivegenError
from livegen.music.parts import LAYOUTS, Note, Part, layout, split_notes
from livegen.music.roll_midi import load_midi, write_midi_bytes


def parts_layout(name: str) -> tuple[Part, ...]:
    """The built-in layout ``name``.

    Raises:
        LivegenError: no such layout (one line listing them).
    """
    try:
        return layout(name)
    except KeyError:
        raise LivegenError(f"unknown parts {name!r}; choose one of {', '.join(LAYOUTS)}") from None


@dataclass(frozen=True)
class SplitFigures:
    """How a split went.

    Attributes:
        notes: notes per part, in layout order.
        divisi: notes given to a one-voice part that was already singing (more notes at once
            than voices).
        crossings_per_bar: pairs of parts sounding out of pitch order at an onset, per bar.
        ranges: ``(lowest, highest)`` MIDI pitch of each part (``(0, 0)`` for an empty one).
        top_share: of the onsets with two notes or more sounding, the share whose highest
            sounding note is the top part's (the melody's, the soprano's): how often the line a
            listener hears on top is where a DAW's lead track gets it.
    """

    notes: tuple[int, ...]
    divisi: int
    crossings_per_bar: float
    ranges: tuple[tuple[int, int], ...]
    top_share: float = 0.0


#: how many of the cheapest splits so far are followed offline (:func:`~livegen.music.parts.
#: split_notes`): on Bach's chorales 8 gives 98.5% of notes to their true voice, 1 (live) 97.9%
#: (``python -m benchmarks.voices``)
OFFLINE_BEAM = 8


def split_pretty_notes(notes: Sequence[pretty_midi.Note], parts: Sequence[Part], beam: int = OFFLINE_BEAM
                       ) -> tuple[list[pretty_midi.Instrument], list[int]]:
    """One instrument per part (named, with its program) holding exactly ``notes``, and
    the part index of each note (same order as ``notes``)."""
    given = split_notes([Note(n.pitch, n.start, n.end, n.velocity) for n in notes], parts, beam=beam)
    instruments = [pretty_midi.Instrument(program=part.program, name=part.name) for part in parts]
    for note, i in zip(notes, given, strict=True):
        instruments[i].notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch,
                                                     start=note.start, end=note.end))
    for inst in instruments:
        inst.notes.sort(key=lambda n: (n.start, n.pitch))
    return instruments, given


def figures(notes: Sequence[pretty_midi.Note], given: Sequence[int], parts: Sequence[Part],
            bar_s: float) -> SplitFigures:
    """The figures of a split: notes per part, crossings per bar (``bar_s`` seconds a bar)."""
    counts = [0] * len(parts)
    for i in given:
        counts[i] += 1
    crossings = divisi = 0
    active: list[int] = []  # notes sounding, started before the present one (in onset order)
    tops: dict[float, bool] = {}  # onset time -> whether its highest sounding note is the top part's
    for k in sorted(range(len(notes)), key=lambda j: (notes[j].start, notes[j].pitch)):
        note = notes[k]
        active = [j for j in active if notes[j].end > note.start]
        crossings += sum(1 for j in active if (note.pitch - notes[j].pitch) * (given[j] - given[k]) < 0)
        if parts[given[k]].voices == 1:  # a one-voice part with two notes at once
            divisi += any(given[j] == given[k] for j in active)
        active.append(k)
        if len(active) >= 2:  # the last note of an onset decides (notes come by start, then pitch)
            tops[note.start] = given[max(active, key=lambda j: notes[j].pitch)] == 0
    span = max((n.end for n in notes), default=0.0)
    ranges = []
    for i in range(len(parts)):
        pitches = [n.pitch for n, g in zip(notes, given, strict=True) if g == i]
        ranges.append((min(pitches), max(pitches)) if pitches else (0, 0))
    bars = span / bar_s if bar_s > 0 and span > 0 else 1.0
    top = sum(tops.values()) / len(tops) if tops else 0.0
    return SplitFigures(tuple(counts), divisi, crossings / max(bars, 1e-9), tuple(ranges), top)


def merged_notes(pm: pretty_midi.PrettyMIDI) -> list[pretty_midi.Note]:
    """Every pitched note of ``pm`` in one stream, by (start, pitch); a pitch struck on two
    tracks at the same moment is one note (the longer, the louder)."""
    seen: dict[tuple[float, int], pretty_midi.Note] = {}
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for n in inst.notes:
            key = (round(n.start, 6), n.pitch)
            if key in seen:
                old = seen[key]
                seen[key] = pretty_midi.Note(max(old.velocity, n.velocity), n.pitch, old.start, max(old.end, n.end))
            else:
                seen[key] = pretty_midi.Note(n.velocity, n.pitch, n.start, n.end)
    return sorted(seen.values(), key=lambda n: (n.start, n.pitch))


def bar_seconds(pm: pretty_midi.PrettyMIDI, beats_per_bar: int = 4) -> float:
    """Seconds a bar lasts at ``pm``'s first tempo."""
    _, tempi = pm.get_tempo_changes()
    bpm = float(tempi[0]) if len(tempi) else 120.0
    return 60.0 / bpm * beats_per_bar


def split_midi(source: str | os.PathLike[str], parts_name: str, out: str | os.PathLike[str],
               beam: int = OFFLINE_BEAM) -> tuple[list[str], SplitFigures]:
    """Split every note of the MIDI file ``source`` into the parts ``parts_name`` and write
    ``out``: one named track per part (its channel in layout order, its program), the tempo
    map of ``source``. ``beam``: :func:`~livegen.music.parts.split_notes` (1: as live).
    Returns the lines to print and the figures.

    Raises:
        LivegenError: a missing or unreadable file, unknown parts, a file with no notes.
    """
    parts = parts_layout(parts_name)
    pm = load_midi(source)
    notes = merged_notes(pm)
    if not notes:
        raise LivegenError(f"{source}: no notes to split; give a MIDI file with pitched notes")
    instruments, given = split_pretty_notes(notes, parts, beam)
    result = copy.deepcopy(pm)
    result.instruments = instruments
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_midi_bytes(result, out)
    fig = figures(notes, given, parts, bar_seconds(pm))
    lines = [f"wrote {out}: {len(notes)} notes in {len(parts)} parts ({parts_name})"]
    for part, count, (low, high) in zip(parts, fig.notes, fig.ranges, strict=True):
        span = f", {pretty_midi.note_number_to_name(low)}-{pretty_midi.note_number_to_name(high)}" if count else ""
        lines.append(f"  {part.name}: {count} notes{span}")
    lines.append(f"  crossings per bar {fig.crossings_per_bar:.2f}, divisi {fig.divisi} notes")
    return lines, fig
