"""Write a parsed ABC tune back as ABC that every reader plays alike.

:func:`print_tune` writes the tune livegen plays (:attr:`AbcTune.body`, what was read after
the repairs) in a plain subset of ABC that ``abc2midi`` and livegen read note for note the
same, where the text a model wrote may not be (symbols one reader skips and the other reads,
accidentals carried to other octaves, repeats that go back to a ``||``):

- the header lines as written (``X:`` to ``K:``), with any field the parser had to repair or
  add written as it was read; other lines (comments, chord symbols, decorations, grace
  notes, inline key changes) are not kept;
- every note spelled in the header's key, an explicit accidental wherever the key does not
  give the pitch or its letter was altered earlier in the bar (so it makes no difference
  whether a reader carries accidentals to other octaves);
- lengths in the header's ``L:`` unit; ``>``/``<`` for dotted pairs; tuplets as ``(3`` or
  ``(p:q:r``; ties, chords and rests as read; a space before each beat;
- bar lines, repeats and endings as read, and an explicit ``|:`` (or ``::``) wherever a
  repeat goes back to, so no reader has to guess; a tune whose repeats cannot be written so
  that livegen reads them back the same is written out in full, repeats played through.

:func:`print_tune` checks its output by parsing it again: the same notes (pitch, onset,
length, velocity) or :class:`~livegen.errors.LivegenError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from livegen.errors import LivegenError
from livegen.music.abc.body import TICKS_PER_WHOLE, Bar, Ending, Head, Item, Sound, to_ticks
from livegen.music.abc.header import (
    LETTER_SEMITONES,
    AbcKey,
    AbcMeter,
    parse_key,
    parse_meter,
    parse_unit_length,
)
from livegen.music.abc.parse import AbcTune, parse_abc
from livegen.music.abc.timeline import playback_order

__all__ = ["print_tune"]

_FIELD_RE = re.compile(r"^([A-Za-z+]):(?![|:])(.*)$")
_MARK = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}
_LETTERS = "CDEFGAB"
_BAR_TOKENS = frozenset({"|", "||", "|]", "[|", "|:", ":|", "::"})

#: header fields that describe the tune (title, composer, origin, rhythm, notes, ...): kept.
_KEPT_FIELDS = frozenset("TCOARZNSBDFGHW")

#: tuplets tried for lengths that are not a power-of-two fraction of the unit: (p, q).
_TUPLETS = ((3, 2), (5, 4), (7, 4), (9, 8), (5, 2), (7, 8), (9, 4), (6, 4), (3, 4))


def print_tune(tune: AbcTune) -> str:
    """ABC text of ``tune`` as livegen plays it (see the module docstring); ends with a newline.

    Raises:
        LivegenError: the tune has a length no ABC note can be written with (finer than
            the ticks of a 1/512 note or a tuplet of more than 9).
    """
    header, key = _header_lines(tune)
    items = list(tune.body)
    jumps: dict[int, int] = {}
    playback_order(items, jumps)
    writer = _BodyWriter(key, tune.meter, to_ticks(tune.unit_length))
    text = "\n".join([*header, *writer.lines(items, _explicit_starts(items, jumps))]) + "\n"
    if _reads_back(text, tune):
        return text
    played = [it for it in playback_order(items) if not isinstance(it, Ending)]
    flat: list[Item] = [Bar("|" if it.kind in (":|", "|:", "::") else it.kind) if isinstance(it, Bar) else it
                        for it in played]
    writer = _BodyWriter(key, tune.meter, to_ticks(tune.unit_length))
    text = "\n".join([*header, *writer.lines(flat, {})]) + "\n"
    if not _reads_back(text, tune):
        raise LivegenError("this tune cannot be written back as ABC that plays the same notes")
    return text


def _reads_back(text: str, tune: AbcTune) -> bool:
    try:
        again = parse_abc(text)
    except LivegenError:
        return False
    return again.notes == tune.notes and not again.repairs


# -- header ------------------------------------------------------------------------------------

def _header_lines(tune: AbcTune) -> tuple[list[str], AbcKey]:
    """The tune's header lines from ``X:`` to ``K:`` (repaired fields written as read; only
    fields that describe the tune are kept), and the key its ``K:`` line gives."""
    lines = tune.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("X:")), len(lines))
    out: list[str] = [f"X:{tune.number}"]
    seen = {"X"}
    k_line: str | None = None
    for line in lines[start + 1:]:
        m = _FIELD_RE.match(line.strip())
        if m is None:
            if line.strip() and not line.strip().startswith("%"):
                break  # music before K:
            continue
        name, value = m.group(1), m.group(2).strip()
        if name == "K":
            k_line = line.strip()
            break
        if name == "X":
            break
        if name in seen and name in "MLQ":
            continue
        seen.add(name)
        if name == "M":
            out.append(line.strip() if _same(parse_meter, value, tune.meter) else f"M:{tune.meter.text}")
        elif name == "L":
            keep = _same(parse_unit_length, value, tune.unit_length)
            out.append(line.strip() if keep else f"L:{_fraction(tune.unit_length)}")
        elif name == "Q":
            if tune.tempo is not None:
                out.append(line.strip())
        elif name in _KEPT_FIELDS:
            out.append(line.strip())
    if "M" not in seen:
        out.append(f"M:{tune.meter.text}")
    if "L" not in seen:
        out.append(f"L:{_fraction(tune.unit_length)}")
    if k_line is None or not _same(parse_key, k_line[2:], tune.key):
        k_line = f"K:{_key_text(tune.key)}"
    out.append(k_line)
    return out, parse_key(k_line[2:])


def _same(parse: object, value: str, expected: object) -> bool:
    try:
        return bool(parse(value) == expected)  # type: ignore[operator]
    except LivegenError:
        return False


def _fraction(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _key_text(key: AbcKey) -> str:
    """A ``K:`` value for the key's tonic and mode (extra accidentals are then written on
    the notes)."""
    if key.mode in ("HP", "Hp", "none") or not key.tonic:
        return key.mode if key.mode in ("HP", "Hp") else "none"
    return f"{key.tonic} {key.mode}"


# -- body --------------------------------------------------------------------------------------

def _explicit_starts(items: list[Item], jumps: dict[int, int]) -> dict[int, str]:
    """Bar lines to write as another kind so that every repeat's target is marked:
    ``index -> kind``."""
    out: dict[int, str] = {}
    for target in jumps.values():
        if target == 0:
            continue
        before = items[target - 1]
        if isinstance(before, Bar) and before.kind not in ("|:", "::"):
            out[target - 1] = "::" if before.kind == ":|" else "|:"
    return out


@dataclass
class _Spelled:
    letter: str
    octave: int
    accidental: int


class _BodyWriter:
    """Turns body items into lines of ABC (see :func:`print_tune`)."""

    def __init__(self, key: AbcKey, meter: AbcMeter, unit_ticks: int) -> None:
        self.key = key
        self.unit = unit_ticks
        self.beat = to_ticks(meter.beat_length)
        self.altered: dict[str, int] = {}  # letter -> last accidental written in this bar

    def lines(self, items: list[Item], kinds: dict[int, str]) -> list[str]:
        out: list[str] = []
        line: list[str] = []
        line_no: int | None = None
        pos = 0
        i, n = 0, len(items)
        while i < n:
            item = items[i]
            if isinstance(item, Sound):
                if line_no is not None and item.line != line_no and line and _ends_bar(line):
                    out.append("".join(line).strip())
                    line = []
                line_no = item.line
                run = self._tuplet_run(items, i)
                if run is not None:
                    p, q, count = run
                    if pos % self.beat == 0 and line and line[-1] not in _BAR_TOKENS:
                        line.append(" ")
                    line.append(f"({p}" if (p, q) == (3, 2) and count == 3 else f"({p}:{q}:{count}")
                    for k in range(count):
                        sound = items[i + k]
                        assert isinstance(sound, Sound)
                        line.append(self._sound(sound, Fraction(q, p)))
                        pos += sound.advance
                    i += count
                    continue
                pair = self._broken_pair(items, i)
                if pos % self.beat == 0 and line and line[-1] not in _BAR_TOKENS and line[-1] != " ":
                    line.append(" ")
                if pair is not None:
                    mark, factor = pair
                    second = items[i + 1]
                    assert isinstance(second, Sound)
                    line.append(self._sound(item, factor) + mark + self._sound(second, 2 - factor))
                    pos += item.advance + second.advance
                    i += 2
                    continue
                line.append(self._sound(item, Fraction(1)))
                pos += item.advance
            elif isinstance(item, Bar):
                line.append(kinds.get(i, item.kind))
                self.altered.clear()
                pos = 0
            elif isinstance(item, Ending):
                line.append("[" + ",".join(str(k) for k in sorted(item.numbers)))
            elif isinstance(item, AbcMeter):
                line.append(f"[M:{item.text}]")
                self.beat = to_ticks(item.beat_length)
            i += 1
        if line:
            out.append("".join(line).strip())
        return out

    # -- sounds ------------------------------------------------------------------------------
    def _units(self, ticks: int, factor: Fraction) -> Fraction:
        return Fraction(ticks, self.unit) * factor

    def _sound(self, sound: Sound, factor: Fraction) -> str:
        """One note, chord or rest with its lengths divided by ``factor`` (a tuplet's q/p, a
        broken pair's 3/2 or 1/2)."""
        if not sound.heads:
            return "z" + _length(self._units(sound.advance, 1 / factor))
        if len(sound.heads) == 1:
            head = sound.heads[0]
            return self._head(head, factor) + ("-" if head.tie else "")
        return "[" + "".join(self._head(h, factor) + ("-" if h.tie else "") for h in sound.heads) + "]"

    def _head(self, head: Head, factor: Fraction) -> str:
        spelled = self._spell(head.pitch)
        mark = ""
        if spelled.letter in self.altered or spelled.accidental != self.key.accidentals.get(spelled.letter, 0):
            mark = _MARK[spelled.accidental]
            self.altered[spelled.letter] = spelled.accidental
        return mark + _letter(spelled.letter, spelled.octave) + _length(self._units(head.length, 1 / factor))

    def _spell(self, pitch: int) -> _Spelled:
        """Letter, octave (0 = the octave of ``C``) and accidental for a MIDI pitch: the
        key's own spelling, else the natural, else a sharp in sharp keys, a flat in flat ones."""
        choices: list[tuple[int, str, int]] = []
        for letter in _LETTERS:
            for acc in (-1, 0, 1):
                if (LETTER_SEMITONES[letter] + acc - pitch) % 12:
                    continue
                if acc == self.key.accidentals.get(letter, 0):
                    rank = 0
                elif acc == 0:
                    rank = 1
                else:
                    rank = 2 if (acc > 0) == (self.key.fifths >= 0) else 3
                choices.append((rank, letter, acc))
        _, letter, acc = min(choices)
        octave = (pitch - acc - LETTER_SEMITONES[letter] - 60) // 12
        return _Spelled(letter, octave, acc)

    def _tuplet_run(self, items: list[Item], i: int) -> tuple[int, int, int] | None:
        """``(p, q, count)`` when the sound at ``i`` starts a run of tuplet notes."""
        first = items[i]
        assert isinstance(first, Sound)
        pq = self._tuplet_of(first)
        if pq is None:
            return None
        count = 0
        while i + count < len(items) and count < 9:
            item = items[i + count]
            if not isinstance(item, Sound) or self._tuplet_of(item) != pq:
                break
            count += 1
        p = pq[0]
        if count >= p and count % p == 0:
            count = p
        return pq[0], pq[1], count

    def _tuplet_of(self, sound: Sound) -> tuple[int, int] | None:
        lengths = [sound.advance, *(h.length for h in sound.heads)]
        if all(_dyadic(Fraction(t, self.unit)) for t in lengths):
            return None
        for p, q in _TUPLETS:
            if all(_dyadic(Fraction(t, self.unit) * Fraction(p, q)) for t in lengths):
                return p, q
        raise LivegenError(f"a length of {Fraction(sound.advance, TICKS_PER_WHOLE)} of a whole note cannot "
                           "be written in ABC")

    def _broken_pair(self, items: list[Item], i: int) -> tuple[str, Fraction] | None:
        """``(">", 3/2)`` or ``("<", 1/2)`` when the sounds at ``i`` and ``i + 1`` are a
        dotted pair that plain lengths would write with fractions (``A3/2B/``), each sound's
        heads all as long as it advances."""
        if i + 1 >= len(items):
            return None
        a, b = items[i], items[i + 1]
        if not (isinstance(a, Sound) and isinstance(b, Sound)):
            return None
        if any(h.length != s.advance for s in (a, b) for h in s.heads):
            return None
        if a.advance == 3 * b.advance:
            mark, factor = ">", Fraction(3, 2)
        elif b.advance == 3 * a.advance:
            mark, factor = "<", Fraction(1, 2)
        else:
            return None
        plain = (self._units(a.advance, Fraction(1)), self._units(b.advance, Fraction(1)))
        if all(u.denominator == 1 for u in plain) or not _dyadic(self._units(a.advance, 1 / factor)):
            return None  # A3B reads better than A2>B2
        return mark, factor


def _ends_bar(line: list[str]) -> bool:
    return line[-1] in _BAR_TOKENS


def _dyadic(value: Fraction) -> bool:
    den = value.denominator
    return value > 0 and den & (den - 1) == 0


def _length(units: Fraction) -> str:
    """A length suffix for ``units`` times the unit: ``""``, ``"2"``, ``"/"``, ``"3/2"``, ``"/4"``."""
    if units == 1:
        return ""
    num, den = units.numerator, units.denominator
    if den == 1:
        return str(num)
    if num == 1:
        return "/" if den == 2 else f"/{den}"
    return f"{num}/{den}"


def _letter(letter: str, octave: int) -> str:
    if octave >= 1:
        return letter.lower() + "'" * (octave - 1)
    return letter + "," * (-octave)
