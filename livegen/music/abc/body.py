"""ABC tune body -> a flat list of sounds, bar lines and endings, in written order.

:class:`BodyParser` reads the lines after the header one at a time. It resolves what is local
to the written text: pitches (key signature, explicit accidentals carried to the end of the
bar for the same letter and octave, octave marks), lengths (unit length, multipliers, broken
rhythm ``>``/``<``, tuplets ``(3``/``(p:q:r``), chords and ties. Repeats and endings stay
markers here; :mod:`livegen.music.abc.timeline` expands them into playback order.

Everything that is skipped or fixed is recorded in a :class:`RepairLog`; what cannot be read
without guessing (an unclosed chord, a pitch outside MIDI) raises :class:`LivegenError` unless
the log was made with ``repair=True``. Lengths and times are integer ticks,
:data:`TICKS_PER_WHOLE` to a whole note (exact for lengths down to 1/512 and tuplets of 3, 5,
7, 9 and their products; anything finer is rounded to the nearest tick).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from livegen.errors import LivegenError
from livegen.music.abc.header import (
    LETTER_SEMITONES,
    AbcKey,
    AbcMeter,
    parse_key,
    parse_meter,
    parse_unit_length,
)
from livegen.music.abc.repair import RepairLog

#: ticks in a whole note: 2**9 * 3**3 * 5 * 7.
TICKS_PER_WHOLE = 483_840

#: single-character decorations (ABC 2.1 defaults): skipped.
DECORATION_SHORTCUTS = frozenset("~.HLMOPSTuv")

_ACCIDENTALS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_NOTE_RE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)(\d*(?:/\d*)*)")
_LENGTH_RE = re.compile(r"\d*(?:/\d*)*")
_REST_RE = re.compile(r"[zx](\d*(?:/\d*)*)")
_TUPLET_RE = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_BAR_RE = re.compile(r"(:*)(\[?\|+\]?)(:*)|::+")
_ENDING_RE = re.compile(r"\d+(?:[,-]\d+)*")
_INLINE_FIELD_RE = re.compile(r"\[([A-Za-z]):([^\]]*)\]")
_DECORATION_RE = re.compile(r"!([^!\s|]{1,30})!")
_PLUS_DECORATION_RE = re.compile(r"\+([^+\s|]{1,30})\+")
_FIELD_LINE_RE = re.compile(r"^([A-Zmrsw+]):(?![|:])(.*)$")
_LOOSE_FIELD_RE = re.compile(r"([KMLQ]):(?![|:])(\S*)")

#: tuplet (p -> q): p notes in the time of q; 5, 7, 9 take 3 in compound meters, else 2.
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}

#: the field letters whose value changes how notes sound.
_MUSIC_FIELDS = frozenset("KML")


@dataclass
class Head:
    """One pitch of a sound: MIDI ``pitch``, ``length`` in ticks, tied onward?"""

    pitch: int
    length: int
    tie: bool = False


@dataclass
class Sound:
    """A note, chord (several heads) or rest (no heads) taking ``advance`` ticks."""

    heads: list[Head]
    advance: int
    line: int = 0

    def scale(self, factor: Fraction) -> None:
        """Multiply every length by ``factor`` (broken rhythm, tuplets), to the nearest tick."""
        self.advance = scale_ticks(self.advance, factor)
        for head in self.heads:
            head.length = scale_ticks(head.length, factor)


@dataclass(frozen=True)
class Bar:
    """A bar line: ``kind`` is one of ``| || |] [| |: :| ::``."""

    kind: str


@dataclass(frozen=True)
class Ending:
    """The start of a first/second/... ending, played on the passes in ``numbers``."""

    numbers: frozenset[int]


Item = Sound | Bar | Ending | AbcMeter


def to_ticks(length: Fraction) -> int:
    """A whole-note fraction in ticks (nearest)."""
    return scale_ticks(TICKS_PER_WHOLE, length)


def scale_ticks(ticks: int, factor: Fraction) -> int:
    """``ticks * factor`` rounded to the nearest tick."""
    num, den = factor.numerator, factor.denominator
    return (ticks * num + den // 2) // den


@lru_cache(maxsize=1024)
def length_ticks(unit_ticks: int, text: str) -> int:
    """Ticks of a note with length suffix ``text`` when the unit is ``unit_ticks``."""
    return scale_ticks(unit_ticks, parse_length(text))


def parse_length(text: str) -> Fraction:
    """A note-length suffix as a multiple of the unit: ``""`` 1, ``"2"``, ``"3/2"``, ``"/"`` 1/2,
    ``"//"`` 1/4, ``"/4"`` 1/4, ``"3/"`` 3/2. Zero when the text says 0 (``"0"``, ``"/0"``)."""
    m = re.match(r"(\d*)(.*)", text)
    assert m is not None
    value = Fraction(int(m.group(1)) if m.group(1) else 1)
    for part in re.findall(r"/(\d*)", m.group(2)):
        divisor = int(part) if part else 2
        value = value / divisor if divisor else Fraction(0)
        if value == 0:
            break
    return value


def _bar_kind(left: int, core: str, right: int) -> str:
    if left and right:
        return "::"
    if left:
        return ":|"
    if right:
        return "|:"
    if core.startswith("["):
        return "[|"
    if core.endswith("]"):
        return "|]"
    return "|" if core == "|" else "||"


@dataclass
class BodyParser:
    """Turns body lines into :data:`Item` s; create one per tune.

    Attributes:
        key, meter, unit_length: the current values (changed by K:/M:/L: fields).
        log: where skipped and repaired things are recorded.
        items: the parsed sounds, bars, endings and meter changes in written order.
    """

    key: AbcKey
    meter: AbcMeter
    unit_length: Fraction
    log: RepairLog
    items: list[Item] = field(default_factory=list)
    _bar_acc: dict[tuple[str, int], int] = field(default_factory=dict)
    _tuplet_left: int = 0
    _tuplet_factor: Fraction = Fraction(1)
    _pending_broken: Fraction = Fraction(1)
    _unit_ticks: int = 0

    def __post_init__(self) -> None:
        self._unit_ticks = to_ticks(self.unit_length)

    def fork(self) -> BodyParser:
        """A copy in the same state (key, meter, unit, tuplet, accidentals of the bar) with no
        items and a fresh log of its own: parse text with it without touching this one."""
        twin = copy.copy(self)
        twin.items = []
        twin.log = RepairLog(self.log.repair)
        twin._bar_acc = dict(self._bar_acc)
        return twin

    # -- fields --------------------------------------------------------------------------------
    def apply_field(self, name: str, value: str, line_no: int) -> None:
        """Apply a K:, M: or L: change (others are ignored); bad values are skipped and logged."""
        try:
            if name == "K":
                self.key = parse_key(value)
                self._bar_acc.clear()
            elif name == "M":
                self.meter = parse_meter(value)
                self.items.append(self.meter)
            elif name == "L":
                self.unit_length = parse_unit_length(value)
                self._unit_ticks = to_ticks(self.unit_length)
        except LivegenError as exc:
            self.log.note(f"line {line_no}: ignored {exc}")

    # -- lines ---------------------------------------------------------------------------------
    def parse_line(self, line: str, line_no: int) -> None:
        """Parse one body line: a field line (``K:``, ``M:``, ...), a comment or music."""
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            return
        m = _FIELD_LINE_RE.match(stripped)
        if m:
            name, value = m.group(1), m.group(2)
            if name in "ML":
                # irish.abc has "M:9/8 EDC DA,B, CDE|!": a meter change written before music
                parts = value.split("%", 1)[0].strip().split(None, 1)
                value = parts[0] if parts else ""
                if len(parts) > 1 and parts[1].strip("! \t"):
                    self.apply_field(name, value, line_no)
                    self.log.note(f"line {line_no}: read the music after {name}:{value} as notes")
                    self.parse_music(parts[1], line_no)
                    return
            if name in _MUSIC_FIELDS:
                self.apply_field(name, value, line_no)
            return
        self.parse_music(line, line_no)

    def parse_music(self, line: str, line_no: int) -> None:
        """Parse one line of notes, bars and decorations."""
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c == "%":
                break
            if c in " \t`\\$y\r":
                i += 1
            elif c == "!":
                m = _DECORATION_RE.match(line, i)
                # otherwise a lone "!" is the old line-break mark (irish.abc ends lines with it)
                i = m.end() if m else i + 1
            elif c == "+":
                m = _PLUS_DECORATION_RE.match(line, i)
                if not m:
                    self.log.drop(c)
                i = m.end() if m else i + 1
            elif c == '"':
                end = line.find('"', i + 1)
                if end < 0:
                    self.log.note(f"line {line_no}: unclosed chord-symbol quote skipped to end of line")
                    return
                i = end + 1
            elif c == "{":
                end = line.find("}", i + 1)
                if end < 0:
                    self.log.note(f"line {line_no}: unclosed grace-note brace skipped to end of line")
                    return
                i = end + 1  # grace notes take no time here: skipped
            elif c in "KMLQ" and (m := self._loose_field(line, i)):
                i = m.end()
                self.apply_field(m.group(1), m.group(2), line_no)
                self.log.note(f"line {line_no}: read {m.group(0)!r} as an inline field")
            elif c in DECORATION_SHORTCUTS or c == ")":
                i += 1
            elif c == "(":
                i = self._tuplet(line, i)
            elif c == "-":
                last = self._last_sound()
                if last is not None and last.heads:
                    for head in last.heads:
                        head.tie = True
                else:
                    self.log.drop(c)
                i += 1
            elif c in "<>":
                i = self._broken(line, i)
            elif c == "[":
                i = self._bracket(line, i, line_no)
            elif c in "|:":
                i = self._bar(line, i)
            elif c in "^_=" or c in "ABCDEFGabcdefg":
                i = self._note(line, i, line_no)
            elif c in "zx":
                m = _REST_RE.match(line, i)
                assert m is not None
                self._emit([], length_ticks(self._unit_ticks, m.group(1)), line_no)
                i = m.end()
            elif c in "ZX":
                m = _LENGTH_RE.match(line, i + 1)
                assert m is not None
                bars = int(m.group(0)) if m.group(0).isdigit() else 1
                self._emit([], to_ticks(self.meter.bar_length) * bars, line_no)
                i = m.end()
            else:
                self.log.drop(c)
                i += 1

    # -- pieces ------------------------------------------------------------------------------
    @staticmethod
    def _loose_field(line: str, i: int) -> re.Match[str] | None:
        """An unbracketed ``M:4/4`` in the middle of a music line (after a space or bar)."""
        if i > 0 and line[i - 1] not in " \t|":
            return None
        return _LOOSE_FIELD_RE.match(line, i)

    def _last_sound(self) -> Sound | None:
        last = self.items[-1] if self.items else None
        return last if isinstance(last, Sound) else None

    def _emit(self, heads: list[Head], advance: int, line_no: int) -> None:
        sound = Sound(heads, advance, line_no)
        if advance <= 0:
            self.log.note(f"line {line_no}: skipped a zero-length note or rest")
            return
        if self._pending_broken != 1:
            sound.scale(self._pending_broken)
            self._pending_broken = Fraction(1)
        if self._tuplet_left > 0:
            sound.scale(self._tuplet_factor)
            self._tuplet_left -= 1
        self.items.append(sound)

    def _pitch(self, acc_mark: str | None, letter: str, octave_marks: str, line_no: int) -> int | None:
        octave = (1 if letter.islower() else 0) + octave_marks.count("'") - octave_marks.count(",")
        upper = letter.upper()
        slot = (upper, octave)
        if acc_mark is not None:
            self._bar_acc[slot] = _ACCIDENTALS[acc_mark]
        offset = self._bar_acc.get(slot, self.key.accidentals.get(upper, 0))
        pitch = 60 + 12 * octave + LETTER_SEMITONES[upper] + offset
        if not 0 <= pitch <= 127:
            self.log.fail(f"line {line_no}: note {letter}{octave_marks} is outside the MIDI range",
                          "remove octave marks", "dropped it")
            return None
        return pitch

    def _note(self, line: str, i: int, line_no: int) -> int:
        m = _NOTE_RE.match(line, i)
        if m is None:  # an accidental not followed by a note
            self.log.drop(line[i])
            return i + 1
        pitch = self._pitch(m.group(1), m.group(2), m.group(3), line_no)
        length = length_ticks(self._unit_ticks, m.group(4))
        if pitch is not None:
            self._emit([Head(pitch, length)], length, line_no)
        return m.end()

    def _tuplet(self, line: str, i: int) -> int:
        m = _TUPLET_RE.match(line, i)
        if m is None:
            return i + 1  # a slur: ignored
        p = int(m.group(1))
        q_text, r_text = m.group(2), m.group(3)
        default_q = _TUPLET_Q.get(p, 3 if self.meter.compound else 2)
        q = int(q_text) if q_text else default_q
        r = int(r_text) if r_text else p
        if p < 2 or q < 1 or r < 1:
            self.log.drop(m.group(0))
            return m.end()
        self._tuplet_factor = Fraction(q, p)
        self._tuplet_left = r
        return m.end()

    def _broken(self, line: str, i: int) -> int:
        j = i
        while j < len(line) and line[j] == line[i]:
            j += 1
        count = j - i
        last = self._last_sound()
        if last is None:
            self.log.drop(line[i])
            return j
        short = Fraction(1, 2**count)
        long = 2 - short
        first, second = (long, short) if line[i] == ">" else (short, long)
        last.scale(first)
        self._pending_broken = second
        return j

    def _bar(self, line: str, i: int) -> int:
        m = _BAR_RE.match(line, i)
        if m is None or m.end() == i:  # a lone ":"
            self.log.drop(line[i])
            return i + 1
        kind = "::" if m.group(2) is None else _bar_kind(len(m.group(1)), m.group(2), len(m.group(3)))
        self.items.append(Bar(kind))
        self._bar_acc.clear()
        end = m.end()
        if m.group(2) is not None and "]" not in m.group(2):
            e = _ENDING_RE.match(line, end)
            if e:
                self.items.append(Ending(_ending_numbers(e.group(0))))
                end = e.end()
        return end

    def _bracket(self, line: str, i: int, line_no: int) -> int:
        m = _INLINE_FIELD_RE.match(line, i)
        if m:
            self.apply_field(m.group(1), m.group(2), line_no)
            return m.end()
        if line.startswith("[|", i):
            return self._bar(line, i)
        e = _ENDING_RE.match(line, i + 1)
        if e:
            self.items.append(Ending(_ending_numbers(e.group(0))))
            return e.end()
        return self._chord(line, i, line_no)

    def _chord(self, line: str, i: int, line_no: int) -> int:
        heads: list[Head] = []
        j, n = i + 1, len(line)
        closed = False
        while j < n:
            c = line[j]
            if c == "]":
                closed, j = True, j + 1
                break
            if c in "|:%":
                break
            if c in " \t" or c in DECORATION_SHORTCUTS:
                j += 1
            elif c == "!" and (d := _DECORATION_RE.match(line, j)):
                j = d.end()
            elif c == "-" and heads:
                heads[-1].tie = True
                j += 1
            elif (note := _NOTE_RE.match(line, j)) is not None:
                pitch = self._pitch(note.group(1), note.group(2), note.group(3), line_no)
                if pitch is not None:
                    heads.append(Head(pitch, length_ticks(self._unit_ticks, note.group(4))))
                j = note.end()
            else:
                self.log.drop(c)
                j += 1
        if not closed:
            self.log.fail(f"line {line_no}: unclosed chord bracket '['", "close it with ']'", "closed it")
        m = _LENGTH_RE.match(line, j) if closed else None
        multiplier = parse_length(m.group(0)) if m and m.group(0) else Fraction(1)
        if m:
            j = m.end()
        if not heads:
            self.log.note(f"line {line_no}: skipped an empty chord")
            return j
        if multiplier != 1:
            for head in heads:
                head.length = scale_ticks(head.length, multiplier)
        self._emit(heads, heads[0].length, line_no)
        return j


def _ending_numbers(text: str) -> frozenset[int]:
    """``"1"`` -> {1}, ``"1,3"`` -> {1, 3}, ``"1-3"`` -> {1, 2, 3}."""
    numbers: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            numbers.update(range(lo, min(hi, lo + 16) + 1))
        else:
            numbers.add(int(part))
    return frozenset(numbers)
