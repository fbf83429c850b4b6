"""Piano roll <-> notes <-> MIDI (pretty_midi), on an exact step grid.

A roll is a ``(T, 88)`` uint8/bool array: row ``t`` is one time step, column ``j`` is MIDI
pitch ``j + 21`` (A0..C8). Consecutive 1s in a column are one held note: a note starts
where a column goes 0 -> 1 and ends where it goes 1 -> 0 (so two notes of one pitch that
touch become one held note, as in the standard polyphonic datasets). A note is a tuple
``(pitch, start_step, end_step)`` with ``end_step`` exclusive.

Writing: one step lasts ``60 / bpm / steps_per_beat`` seconds; the file's resolution is a
multiple of ``steps_per_beat`` so every note lands on a whole tick, and a text event at the
roll's last step keeps trailing silence. Reading maps note times to quarter notes through
the file's own tempo map, so files with tempo changes still land on the grid. The round trip
``roll -> MIDI -> roll`` is exact for every roll.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from livegen.errors import LivegenError
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS

log = logging.getLogger(__name__)

HIGHEST_PITCH = LOWEST_PITCH + N_KEYS - 1  # C8

#: text event written at the roll's end so trailing silence survives a round trip.
END_MARKER = "livegen:end"
#: MIDI stores tempo as whole microseconds per quarter note in 3 bytes.
_MAX_TEMPO_US = 0xFFFFFF
#: ticks per step aimed for when choosing a file resolution (480 ppqn at 1 step per beat).
_TARGET_PPQN = 480
#: a roll longer than this many steps is refused when reading (a damaged file, not music).
DEFAULT_MAX_STEPS = 1_000_000

Note = tuple[int, int, int]


@dataclass(frozen=True)
class MidiRollStats:
    """What :func:`midi_to_roll` did to one file's notes.

    Attributes:
        notes_in: pitched (non-drum) notes in the file.
        drum_notes: notes on drum instruments, skipped.
        folded: notes outside A0..C8 moved by whole octaves into range.
        dropped: notes outside A0..C8 dropped (``out_of_range="drop"``).
        short: notes that round to zero steps (much shorter than a step), kept as one step.
        merged: notes that overlapped or touched another note of the same pitch and became
            part of one held note.
        notes_out: held notes in the resulting roll.
        n_steps: rows of the resulting roll.
    """

    notes_in: int = 0
    drum_notes: int = 0
    folded: int = 0
    dropped: int = 0
    short: int = 0
    merged: int = 0
    notes_out: int = 0
    n_steps: int = 0


def _check_roll(roll: np.ndarray) -> np.ndarray:
    """Return ``roll`` as a bool array after checking its ``(T, 88)`` shape."""
    arr = np.asarray(roll)
    if arr.ndim != 2 or arr.shape[1] != N_KEYS:
        raise LivegenError(f"a piano roll must have shape (T, 88); got {arr.shape}")
    return arr.astype(bool, copy=False)


def roll_to_notes(roll: np.ndarray) -> list[Note]:
    """Split a ``(T, 88)`` roll into held notes.

    Returns:
        ``(pitch, start_step, end_step)`` tuples, ``end_step`` exclusive, sorted by start step
        then pitch.
    """
    on = _check_roll(roll)
    n_steps = on.shape[0]
    padded = np.zeros((N_KEYS, n_steps + 2), dtype=np.int8)
    padded[:, 1:-1] = on.T
    edges = np.diff(padded, axis=1)  # (88, T + 1): +1 at a start step, -1 at an end step
    starts = np.argwhere(edges == 1)  # sorted by key, then step: starts and ends pair up
    ends = np.argwhere(edges == -1)
    order = np.lexsort((starts[:, 0], starts[:, 1]))
    return [
        (int(starts[i, 0]) + LOWEST_PITCH, int(starts[i, 1]), int(ends[i, 1])) for i in order
    ]


def split_at_strikes(notes: Sequence[Note], velocities: np.ndarray) -> list[Note]:
    """Split each held note where ``velocities`` ``(T, 88)`` marks its key struck again
    (a velocity 1..127 after the note's first step, no gap in the roll: a re-strike)."""
    out: list[Note] = []
    for pitch, start, end in notes:
        column = velocities[start + 1:min(end, len(velocities)), pitch - LOWEST_PITCH]
        cuts = [start] + [start + 1 + int(i) for i in np.flatnonzero(column > 0)] + [end]
        out += [(pitch, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return sorted(out, key=lambda n: (n[1], n[0]))


def notes_to_roll(notes: Sequence[Note], n_steps: int | None = None) -> np.ndarray:
    """Draw notes into a ``(n_steps, 88)`` uint8 roll (the inverse of :func:`roll_to_notes`).

    Notes of one pitch that overlap or touch become one held note.

    Args:
        notes: ``(pitch, start_step, end_step)``, ``end_step`` exclusive, pitch in 21..108.
        n_steps: rows of the roll; default the latest ``end_step``.

    Raises:
        LivegenError: a note off the keyboard, empty, or past ``n_steps``.
    """
    last = max((int(n[2]) for n in notes), default=0)
    n_steps = last if n_steps is None else int(n_steps)
    roll = np.zeros((n_steps, N_KEYS), dtype=np.uint8)
    for pitch, start, end in notes:
        if not LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
            raise LivegenError(f"note pitch {pitch} is off the 88 keys; use 21 (A0) to 108 (C8)")
        if not 0 <= start < end <= n_steps:
            raise LivegenError(
                f"note ({pitch}, {start}, {end}) must satisfy 0 <= start < end <= {n_steps} steps"
            )
        roll[start:end, pitch - LOWEST_PITCH] = 1
    return roll


def _tempo_us(bpm: float) -> int:
    """Whole microseconds per quarter note for ``bpm``, checked against MIDI's 3-byte field."""
    if not (isinstance(bpm, int | float) and math.isfinite(bpm) and bpm > 0):
        raise LivegenError(f"tempo {bpm!r} bpm is not a positive number")
    us = round(60_000_000 / bpm)
    if not 1 <= us <= _MAX_TEMPO_US:
        raise LivegenError(f"tempo {bpm} bpm does not fit a MIDI file; use 4 to 60000000 bpm")
    return us


def roll_to_midi(
    roll: np.ndarray | None,
    steps_per_beat: int,
    bpm: float,
    program: int = 0,
    velocity: int = 80,
    tracks: Mapping[str, np.ndarray] | None = None,
    velocities: Mapping[str, np.ndarray] | None = None,
) -> pretty_midi.PrettyMIDI:
    """Turn a roll (or several named rolls) into a MIDI object on an exact step grid.

    Args:
        roll: ``(T, 88)`` roll, written as one instrument named ``livegen``. When ``tracks``
            is given the tracks are written instead and ``roll`` (may be ``None``) only
            counts towards the file's length.
        steps_per_beat: steps per quarter note; one step lasts ``60 / bpm / steps_per_beat``
            seconds (MIDI stores the tempo in whole microseconds per quarter note).
        bpm: quarter notes per minute.
        program: General MIDI program (0..127) of every instrument.
        velocity: note-on velocity (1..127) of every note.
        tracks: name -> ``(T_i, 88)`` roll, each written as its own instrument in the given
            order (e.g. ``{"prime": prime_roll, "livegen": generated_roll}``); the rolls share
            step 0.
        velocities: name -> ``(T_i, 88)`` velocities (1..127) at each note's first step, for
            the tracks (or ``livegen``) that have them; elsewhere ``velocity``. A velocity
            inside a held run marks the key struck again there: the run becomes two notes.

    Returns:
        A ``PrettyMIDI`` whose resolution is a multiple of ``steps_per_beat``, with one
        tempo, notes sorted by (start, pitch) and a text event :data:`END_MARKER` at the
        longest roll's last step.
    """
    if tracks is None:
        if roll is None:
            raise LivegenError("roll_to_midi needs a roll or a tracks mapping")
        named = {"livegen": roll}
    else:
        named = dict(tracks)
        if not named:
            raise LivegenError("roll_to_midi got an empty tracks mapping; pass at least one roll")
    if not (isinstance(steps_per_beat, int | np.integer) and 1 <= steps_per_beat <= 32767):
        raise LivegenError(f"steps_per_beat must be a whole number in 1..32767; got {steps_per_beat!r}")
    if not 0 <= int(program) <= 127:
        raise LivegenError(f"program {program} is not a General MIDI program; use 0..127")
    if not 1 <= int(velocity) <= 127:
        raise LivegenError(f"velocity {velocity} is out of range; use 1..127")
    spb = int(steps_per_beat)
    ticks_per_step = max(1, round(_TARGET_PPQN / spb))
    resolution = ticks_per_step * spb  # about 480 ppqn, or spb itself above 960 steps per beat
    tempo_us = _tempo_us(bpm)
    # pretty_midi truncates the tempo it writes; nudge by a thousandth of a microsecond so the
    # file holds exactly tempo_us, and time the notes with that same tempo.
    file_bpm = 60_000_000 / (tempo_us + 1e-3)
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=file_bpm)
    step_s = 60.0 / file_bpm / spb
    n_steps = 0 if roll is None else _check_roll(roll).shape[0]
    for name, track_roll in named.items():
        on = _check_roll(track_roll)
        n_steps = max(n_steps, on.shape[0])
        inst = pretty_midi.Instrument(program=int(program), name=str(name))
        vel = None if velocities is None else velocities.get(name)
        notes = roll_to_notes(on) if vel is None else split_at_strikes(roll_to_notes(on), vel)
        for pitch, start, end in notes:
            v = int(velocity)
            if vel is not None and start < len(vel) and 1 <= int(vel[start, pitch - LOWEST_PITCH]) <= 127:
                v = int(vel[start, pitch - LOWEST_PITCH])
            inst.notes.append(pretty_midi.Note(velocity=v, pitch=pitch, start=start * step_s, end=end * step_s))
        pm.instruments.append(inst)
    pm.text_events.append(pretty_midi.Text(END_MARKER, n_steps * step_s))
    return pm


def _sorted_copy(pm: pretty_midi.PrettyMIDI) -> pretty_midi.PrettyMIDI:
    """A deep copy of ``pm`` with every event list in one canonical order."""
    out = copy.deepcopy(pm)
    for inst in out.instruments:
        inst.notes.sort(key=lambda n: (n.start, n.pitch, n.end, n.velocity))
        inst.pitch_bends.sort(key=lambda b: (b.time, b.pitch))
        inst.control_changes.sort(key=lambda c: (c.time, c.number, c.value))
    out.text_events.sort(key=lambda e: (e.time, e.text))
    out.lyrics.sort(key=lambda e: (e.time, e.text))
    return out


def midi_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """The Standard MIDI File bytes of ``pm``, identical for identical input.

    pretty_midi/mido write nothing time- or machine-dependent (no timestamps, no paths);
    the only freedom is the order of simultaneous events, fixed here by sorting a copy of
    every event list before writing.
    """
    buf = io.BytesIO()
    _sorted_copy(pm).write(buf)
    return buf.getvalue()


def write_midi_bytes(pm: pretty_midi.PrettyMIDI, path: str | os.PathLike[str]) -> bytes:
    """Write ``pm`` to ``path`` byte-identically for identical input; return the bytes."""
    data = midi_bytes(pm)
    target = Path(path)
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise LivegenError(f"cannot write MIDI file {target}: {exc.strerror or exc}") from None
    return data


def load_midi(source: str | os.PathLike[str]) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file.

    Raises:
        LivegenError: the file is missing or not a readable Standard MIDI File.
    """
    path = Path(source)
    if not path.is_file():
        raise LivegenError(f"MIDI file {path} not found; check the path")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise many types for a damaged file
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LivegenError(f"{path}: not a readable MIDI file ({detail}); re-export or remove it") from None
    for w in caught:
        log.debug("%s: %s", path, w.message)
    return pm


def _quarters(pm: pretty_midi.PrettyMIDI, times: np.ndarray) -> np.ndarray:
    """Map times in seconds to quarter notes through ``pm``'s tempo map."""
    tempo_s, tempo_bpm = pm.get_tempo_changes()  # pretty_midi is untyped: two float arrays
    change_s, bpms = np.asarray(tempo_s, dtype=np.float64), np.asarray(tempo_bpm, dtype=np.float64)
    if len(change_s) == 0:
        change_s, bpms = np.zeros(1), np.full(1, 120.0)
    seg_q = np.zeros(len(change_s))
    seg_q[1:] = np.cumsum(np.diff(change_s) * bpms[:-1] / 60.0)
    idx = np.clip(np.searchsorted(change_s, times, side="right") - 1, 0, len(change_s) - 1)
    return seg_q[idx] + (times - change_s[idx]) * bpms[idx] / 60.0


def _fold(pitches: np.ndarray) -> np.ndarray:
    """Move pitches outside A0..C8 by whole octaves onto the keyboard."""
    low = pitches < LOWEST_PITCH
    high = pitches > HIGHEST_PITCH
    out = pitches.copy()
    out[low] += 12 * ((LOWEST_PITCH - pitches[low] + 11) // 12)
    out[high] -= 12 * ((pitches[high] - HIGHEST_PITCH + 11) // 12)
    return out


def midi_to_roll(
    source: str | os.PathLike[str] | pretty_midi.PrettyMIDI,
    steps_per_beat: int = 4,
    *,
    out_of_range: str = "fold",
    n_steps: int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> tuple[np.ndarray, MidiRollStats]:
    """Quantise a MIDI file (or object) to a ``(T, 88)`` uint8 roll.

    Note times follow the file's tempo map: each onset/offset is converted to quarter notes
    and rounded to the nearest of ``steps_per_beat`` steps per quarter. Drum instruments are
    skipped; notes shorter than a step after rounding keep one step; overlapping or touching
    notes of one pitch merge into one held note.

    Args:
        source: a path or a ``PrettyMIDI``.
        steps_per_beat: steps per quarter note.
        out_of_range: ``"fold"`` moves notes outside A0..C8 by octaves into range,
            ``"drop"`` discards them.
        n_steps: rows of the roll; default the file's end (its last event, so trailing
            silence is kept), at least the last note's end.
        max_steps: refuse a file longer than this many steps (a damaged file).

    Returns:
        ``(roll, stats)``.

    Raises:
        LivegenError: unreadable file (naming it), bad option, or a file too long.
    """
    if out_of_range not in ("fold", "drop"):
        raise LivegenError(f"out_of_range must be 'fold' or 'drop'; got {out_of_range!r}")
    if not (isinstance(steps_per_beat, int | np.integer) and steps_per_beat >= 1):
        raise LivegenError(f"steps_per_beat must be a positive whole number; got {steps_per_beat!r}")
    pm = source if isinstance(source, pretty_midi.PrettyMIDI) else load_midi(source)
    label = "MIDI object" if isinstance(source, pretty_midi.PrettyMIDI) else str(source)
    notes = [(n.pitch, n.start, n.end) for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    drum_notes = sum(len(inst.notes) for inst in pm.instruments if inst.is_drum)
    raw = np.array(notes, dtype=np.float64).reshape(-1, 3)
    pitches = raw[:, 0].astype(np.int64)
    outside = (pitches < LOWEST_PITCH) | (pitches > HIGHEST_PITCH)
    n_outside = int(outside.sum())
    if out_of_range == "fold":
        pitches = _fold(pitches)
    else:
        raw, pitches = raw[~outside], pitches[~outside]
    spb = int(steps_per_beat)
    starts = np.floor(_quarters(pm, raw[:, 1]) * spb + 0.5).astype(np.int64)
    ends = np.floor(_quarters(pm, raw[:, 2]) * spb + 0.5).astype(np.int64)
    starts = np.maximum(starts, 0)
    short = ends <= starts
    ends = np.where(short, starts + 1, ends)
    file_end = int(np.floor(_quarters(pm, np.array([pm.get_end_time()]))[0] * spb + 0.5))
    length = max(int(ends.max(initial=0)), file_end) if n_steps is None else int(n_steps)
    if length > max_steps:
        raise LivegenError(
            f"{label}: {length} steps at {spb} steps per beat is longer than {max_steps}; "
            "the file is likely damaged (or raise max_steps)"
        )
    roll = np.zeros((length, N_KEYS), dtype=np.uint8)
    for p, s, e in zip(pitches - LOWEST_PITCH, starts, ends, strict=True):
        if s < length:
            roll[s:e, p] = 1
    notes_out = int((np.diff(roll.astype(np.int8), axis=0, prepend=0) == 1).sum())
    placed = int((starts < length).sum())
    stats = MidiRollStats(
        notes_in=len(notes),
        drum_notes=drum_notes,
        folded=n_outside if out_of_range == "fold" else 0,
        dropped=n_outside if out_of_range == "drop" else 0,
        short=int(short.sum()),
        merged=placed - notes_out,
        notes_out=notes_out,
        n_steps=length,
    )
    return roll, stats
