"""ABC folk-tune notation -> notes and MIDI.

A small hand-written parser for the ABC found in folk-tune collections (``irish.abc``) and
produced by the char-level ``abc`` LSTM. It is written here rather than taken from music21,
which would be a very heavy dependency for this one job.

Public API::

    split_abc(text) -> list[str]                       # a collection -> one text per X: tune
    parse_abc(text, repair=False) -> AbcTune           # one tune -> header values + notes
    tune_to_midi(tune, bpm=None, program=0) -> pretty_midi.PrettyMIDI
    write_midi(tune, path, bpm=None, program=0) -> Path

Times are in beats, where a beat is always a quarter note (whatever the meter); the tempo is
quarter notes per minute. Notes come with repeats and first/second endings expanded and tied
notes merged. What is understood:

- header fields X T M L K Q (others such as Z R C S N W w I are ignored); K: with modes
  (``D Major``, ``Ador``, ``Gmix``, ``F#m``, ``HP``, ``none``, ``exp`` and extra accidentals);
  M: ``C`` and ``C|``; defaults per the ABC standard (L:1/8, or 1/16 under 3/4; free meter
  counts as 4/4; tempo 120);
- notes ``A-G a-g`` with ``'`` and ``,``; accidentals ``^ ^^ _ __ =`` applied over the key
  signature, an explicit accidental carrying to the end of the bar for the same letter in the
  same octave (the ABC 2.1 rule; ``abc2midi`` needs ``%%propagate-accidentals octave`` to agree);
- lengths ``2 /2 / 3/2 //``, broken rhythm ``> >> <``, rests ``z x`` and bar rests ``Z X``;
  tuplets ``(3 (2 (4 (p:q:r``; chords ``[CEG]2``; ties ``-``;
- bar lines ``| || |] [|``, repeats ``|: :| ::``, endings ``[1 [2 |1 |2 :|2 [1,3``;
- skipped: slurs ``()``, decorations ``!trill!`` ``+trill+`` ``~ . H L M O P S T u v``,
  chord symbols ``"Am7"``, grace notes ``{g}``, comments ``%``; inline fields ``[K:..]``
  ``[M:..]`` ``[L:..]`` are applied. A ``!`` that does not close a decoration on the same line
  is the old line-break mark (every line of ``irish.abc`` ends with one) and is ignored.
- not supported: several voices (``V:`` lines are ignored, so voices would play one after
  the other), tempo changes after the header, ``P:`` part orders, microtones. Blank lines
  inside a tune are skipped rather than ending it (two tunes of ``irish.abc`` have one right
  after ``K:``).

Repeats are expanded as :mod:`livegen.music.abc.timeline` describes.

Unknown symbols are skipped and counted in :attr:`AbcTune.repairs` in both modes. With
``repair=False`` missing ``X:``/``K:`` headers, unclosed chords and out-of-range pitches raise
:class:`LivegenError`; with ``repair=True`` (for generated text) they are fixed (headers from
the defaults ``X:1``, ``M:4/4``, ``L:1/8``, ``K:C``; chords closed; such notes dropped) and
each fix is listed in :attr:`AbcTune.repairs`. Text without a single note is always rejected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import pretty_midi

from livegen.errors import LivegenError
from livegen.music.abc.body import TICKS_PER_WHOLE, BodyParser, Item, Sound
from livegen.music.abc.header import (
    C_MAJOR,
    COMMON_TIME,
    AbcKey,
    AbcMeter,
    default_unit_length,
    parse_key,
    parse_meter,
    parse_tempo,
    parse_unit_length,
)
from livegen.music.abc.repair import RepairLog
from livegen.music.abc.timeline import playback_order, timed_notes

__all__ = [
    "DEFAULT_BPM",
    "AbcKey",
    "AbcMeter",
    "AbcNote",
    "AbcTune",
    "parse_abc",
    "split_abc",
    "tune_to_midi",
    "write_midi",
]

log = logging.getLogger(__name__)

#: quarter notes per minute when neither Q: nor the caller gives a tempo.
DEFAULT_BPM = 120.0

_X_LINE_RE = re.compile(r"^X:", re.MULTILINE)
_FIELD_RE = re.compile(r"^([A-Za-z+]):(?![|:])(.*)$")


@dataclass(frozen=True)
class AbcNote:
    """One sounding note.

    Attributes:
        pitch: MIDI note number (60 = middle C = ABC ``C``).
        start: onset in beats (quarter notes) from the start of the tune.
        duration: length in beats (tied notes merged).
        velocity: MIDI velocity 1..127 (accented on bar and beat starts).
    """

    pitch: int
    start: float
    duration: float
    velocity: int

    @property
    def end(self) -> float:
        """Release time in beats."""
        return self.start + self.duration


@dataclass(frozen=True)
class AbcTune:
    """A parsed tune.

    Attributes:
        number: the ``X:`` reference number.
        title: the first ``T:`` line (``""`` if none).
        meter: the starting meter (``meter.text`` is ``"6/8"``, ``"C|"``, ...).
        key: the starting key (``str(key)`` is ``"D mixolydian"``; ``key.accidentals``).
        unit_length: the starting ``L:`` as a whole-note fraction (``Fraction(1, 8)``).
        tempo: quarter notes per minute from ``Q:``, or None.
        notes: the notes sorted by start then pitch, repeats expanded.
        length: the tune's length in beats, trailing rests included.
        repairs: what was skipped, assumed or fixed (empty for clean text).
        text: the text that was parsed.
        body: the body's sounds, bar lines, endings and meter changes in written order
            (see :mod:`livegen.music.abc.body`), as read with the repairs.
    """

    number: int
    title: str
    meter: AbcMeter
    key: AbcKey
    unit_length: Fraction
    tempo: float | None
    notes: tuple[AbcNote, ...]
    length: float
    repairs: tuple[str, ...]
    text: str
    body: tuple[Item, ...] = field(default=(), repr=False, compare=False)

    @property
    def bpm(self) -> float:
        """The tempo to play at: ``tempo`` or :data:`DEFAULT_BPM`."""
        return self.tempo if self.tempo is not None else DEFAULT_BPM


def split_abc(text: str) -> list[str]:
    """Split a collection into tunes, each starting at an ``X:`` line.

    Each tune's text is kept verbatim (line endings included) up to the next ``X:`` line, with
    trailing blank lines removed. Text before the first ``X:`` (a file header) is dropped.
    """
    starts = [m.start() for m in _X_LINE_RE.finditer(text)]
    if not starts:
        return []
    tunes = []
    for a, b in zip(starts, [*starts[1:], len(text)], strict=True):
        lines = text[a:b].split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        tunes.append("\n".join(lines))
    return tunes


def parse_abc(text: str, repair: bool = False) -> AbcTune:
    """Parse one ABC tune into header values and notes.

    Args:
        text: one tune (``X:`` ... ``K:`` header, then the body); CRLF is fine.
        repair: fix what has a clear fix (missing headers, unclosed chords, impossible pitches,
            extra tunes after the first) instead of raising; for text generated by a model.

    Returns:
        the tune; :attr:`AbcTune.repairs` lists what was skipped or fixed (also logged at INFO).

    Raises:
        LivegenError: the text has no notes, or (``repair=False``) needs a repair, or a header
            value (``K:``, ``M:``, ``L:``) cannot be read.
    """
    fixes = RepairLog(repair)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _header_start(lines, fixes)
    end_header, fields = _read_header(lines, start, fixes)

    number = _first_int(fields.get("X"), fixes)
    meter = _header_value(fields, "M", parse_meter, COMMON_TIME, fixes)
    unit_length = _header_value(fields, "L", parse_unit_length, default_unit_length(meter), fixes)
    key = _header_value(fields, "K", parse_key, C_MAJOR, fixes)
    tempo = parse_tempo(fields["Q"], unit_length) if "Q" in fields else None

    body = BodyParser(key=key, meter=meter, unit_length=unit_length, log=fixes)
    for line_no in range(end_header, len(lines)):
        line = lines[line_no]
        if _X_LINE_RE.match(line):
            fixes.fail(f"line {line_no + 1}: a second tune starts here (X:)",
                       "parse one tune at a time (split_abc)", "kept only the first tune")
            break
        body.parse_line(line, line_no + 1)

    playback = playback_order(body.items)
    timed = timed_notes(playback, meter)
    if not timed:
        raise LivegenError("the ABC text has no notes to play; give a tune with notes after its K: line")
    total = sum(it.advance for it in playback if isinstance(it, Sound))
    beat = TICKS_PER_WHOLE / 4
    notes = tuple(AbcNote(n.pitch, n.start / beat, n.length / beat, n.velocity) for n in timed)
    repairs = tuple(fixes.messages())
    title = fields.get("T", "").strip()
    for message in repairs:
        log.info("ABC tune %r: %s", title or number, message)
    return AbcTune(number=number, title=title, meter=meter, key=key, unit_length=unit_length,
                   tempo=tempo, notes=notes, length=total / beat, repairs=repairs, text=text,
                   body=tuple(body.items))


def _header_start(lines: list[str], fixes: RepairLog) -> int:
    """Index of the X: line; free text before it is dropped (repair) or an error."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if line.startswith("X:"):
            return i
        if stripped and not stripped.startswith("%") and not _FIELD_RE.match(stripped):
            break
    has_x = any(line.startswith("X:") for line in lines)
    if has_x:
        fixes.fail("text before the X: line", "start the tune with its X: line", "dropped that text")
        return next(i for i, line in enumerate(lines) if line.startswith("X:"))
    fixes.fail("no X: field", "start the tune with a line like X:1", "added missing header X:1")
    return 0


def _read_header(lines: list[str], start: int, fixes: RepairLog) -> tuple[int, dict[str, str]]:
    """Read field lines from ``start`` up to and including ``K:``; fill in missing ones.

    Returns:
        (index of the first body line, field letter -> first value).
    """
    fields: dict[str, str] = {}
    i = start
    found_key = False
    while i < len(lines) and not found_key:
        stripped = lines[i].strip()
        m = _FIELD_RE.match(stripped)
        if m is None and stripped and not stripped.startswith("%"):
            break  # music before any K:
        if m is not None and m.group(1) == "X" and "X" in fields:
            break  # the next tune
        i += 1
        if m is not None:
            fields.setdefault(m.group(1), m.group(2).strip())
            found_key = m.group(1) == "K"
    if not found_key:
        fixes.fail("no K: field before the music", "end the header with a key line like K:C",
                   "added missing header K:C")
        fields["K"] = "C"
    if fixes.repair and "M" not in fields:
        fields["M"] = "4/4"
        fixes.note("added missing header M:4/4")
    if fixes.repair and "L" not in fields:
        fixes.note(f"added missing header L:{default_unit_length(_safe_meter(fields))}")
    return i, fields


def _safe_meter(fields: dict[str, str]) -> AbcMeter | None:
    try:
        return parse_meter(fields["M"]) if "M" in fields else None
    except LivegenError:
        return None


_T = TypeVar("_T")


def _header_value(fields: dict[str, str], name: str, parse: Callable[[str], _T], default: _T,
                  fixes: RepairLog) -> _T:
    """Parse header field ``name`` with ``parse``; the default when absent or (repair) bad."""
    if name not in fields:
        return default
    try:
        return parse(fields[name])
    except LivegenError as exc:
        if not fixes.repair:
            raise
        fixes.note(f"{exc}: used the default")
        return default


def _first_int(value: str | None, fixes: RepairLog) -> int:
    m = re.match(r"\s*(\d+)", value or "")
    if m is None:
        if value is not None:
            fixes.note(f"X:{value} is not a number: used 1")
        return 1
    return int(m.group(1))


def tune_to_midi(tune: AbcTune, bpm: float | None = None, program: int = 0) -> pretty_midi.PrettyMIDI:
    """A one-instrument MIDI of the tune.

    Args:
        tune: a parsed tune.
        bpm: quarter notes per minute; default the tune's ``Q:`` or :data:`DEFAULT_BPM`.
        program: General MIDI program 0..127 (0 piano, 73 flute, 40 violin, 109 bagpipe).

    Returns:
        a PrettyMIDI with the tempo, the time signature (when MIDI can hold it) and the key.
    """
    tempo = tune.bpm if bpm is None else float(bpm)
    if not tempo > 0:
        raise LivegenError(f"tempo must be positive, got {bpm}; pass e.g. bpm=120")
    if not 0 <= program <= 127:
        raise LivegenError(f"MIDI program must be 0..127, got {program}")
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    instrument = pretty_midi.Instrument(program=program, name=tune.title or f"tune {tune.number}")
    seconds = 60.0 / tempo
    for note in tune.notes:
        instrument.notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch,
                                                 start=note.start * seconds, end=note.end * seconds))
    midi.instruments.append(instrument)
    num, den = tune.meter.numerator, tune.meter.denominator
    if den & (den - 1) == 0 and 0 < num < 256:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    if tune.key.mode not in ("none", "HP", "Hp") or tune.key.fifths:
        midi.key_signature_changes.append(pretty_midi.KeySignature((7 * tune.key.fifths) % 12, 0.0))
    return midi


def write_midi(tune: AbcTune, path: str | Path, bpm: float | None = None, program: int = 0) -> Path:
    """Write the tune as a ``.mid`` file (see :func:`tune_to_midi`); returns the path.

    Raises:
        LivegenError: the folder does not exist.
    """
    out = Path(path)
    if not out.parent.is_dir():
        raise LivegenError(f"cannot write {out}: folder {out.parent} does not exist; create it first")
    tune_to_midi(tune, bpm=bpm, program=program).write(str(out))
    return out
