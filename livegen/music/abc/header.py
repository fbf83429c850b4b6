"""ABC header field values: key signatures (K:), meters (M:), unit lengths (L:), tempo (Q:).

Pure string -> value parsing used by :mod:`livegen.music.abc.parse`. Lengths are exact
:class:`~fractions.Fraction` s of a whole note (``Fraction(1, 8)`` is an eighth note).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from livegen.errors import LivegenError

#: semitones above C of each natural note letter.
LETTER_SEMITONES: dict[str, int] = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

#: position of each natural tonic on the circle of fifths (C = 0, sharps positive).
_TONIC_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
_SHARP_ORDER = "FCGDAEB"
_FLAT_ORDER = "BEADGCF"

#: mode name -> shift on the circle of fifths relative to the major key on the same tonic.
MODES: dict[str, int] = {
    "major": 0, "ionian": 0, "lydian": 1, "mixolydian": -1, "dorian": -2,
    "minor": -3, "aeolian": -3, "phrygian": -4, "locrian": -5,
}
_MODE_PREFIX = {name[:3]: name for name in MODES}
_MODE_PREFIX["maj"] = "major"
_MODE_PREFIX["min"] = "minor"

_ACCIDENTAL_MARKS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_KEY_RE = re.compile(r"^([A-Ga-g])([#b]?)\s*(.*)$")
_KEY_ACC_RE = re.compile(r"^(\^\^|\^|=|__|_)([A-Ga-g])$")


@dataclass(frozen=True)
class AbcKey:
    """A key signature.

    Attributes:
        tonic: note name as written, normalised (``"D"``, ``"F#"``, ``"Bb"``; ``""`` for ``K:none``).
        mode: ``"major"``, ``"minor"``, ``"dorian"``, ... or ``"none"`` / ``"HP"`` / ``"Hp"``.
        accidentals: note letter (upper case) -> semitone offset (-2..2) applied to every octave.
        fifths: sharps (positive) or flats (negative) of the standard signature of tonic and
            mode, before extra accidentals; 0 for ``none``, ``exp`` and 2 for the pipe keys.
    """

    tonic: str
    mode: str
    accidentals: dict[str, int] = field(default_factory=dict)
    fifths: int = 0

    def __str__(self) -> str:
        return f"{self.tonic} {self.mode}".strip()


C_MAJOR = AbcKey("C", "major", {}, 0)


def key_signature(fifths: int) -> dict[str, int]:
    """Letter -> semitone offset for a signature of ``fifths`` sharps (or ``-fifths`` flats)."""
    acc: dict[str, int] = {}
    order, step = (_SHARP_ORDER, 1) if fifths > 0 else (_FLAT_ORDER, -1)
    for i in range(abs(fifths)):
        letter = order[i % 7]
        acc[letter] = acc.get(letter, 0) + step
    return acc


def parse_key(value: str) -> AbcKey:
    """Parse a ``K:`` value: ``"D Major"``, ``"Ador"``, ``"F#m"``, ``"Bb mix"``, ``"HP"``, ``"none"``,
    ``"D exp ^c"``, ``"G ^f"`` (extra accidentals), ``"C clef=bass"`` (clef and other
    ``name=value`` words ignored). An empty value is C major.

    Raises:
        LivegenError: the tonic or the mode is not recognised.
    """
    text = value.split("%", 1)[0].strip()
    words = [w for w in text.split() if "=" not in w or _KEY_ACC_RE.match(w)]
    # drop clef names that may follow the key
    words = [w for w in words if w.lower() not in {"treble", "bass", "alto", "tenor", "perc"}]
    if not words:
        return C_MAJOR
    head = words[0]
    if head in ("HP", "Hp"):
        # abc2midi (and pipers) play both with the bagpipe scale: F sharp, C sharp
        return AbcKey("", head, {"F": 1, "C": 1}, 2)
    if head.lower() == "none":
        return AbcKey("", "none", {})
    rest_words = words[1:]
    explicit = False
    tonic, mode = "", "major"
    if not _KEY_ACC_RE.match(head):
        m = _KEY_RE.match(head)
        if not m:
            raise LivegenError(f"unknown key {value.strip()!r} in K: field; write e.g. K:G, K:Ador, K:F#m or K:none")
        tonic = m.group(1).upper() + m.group(2)
        mode_word = m.group(3)
        if not mode_word and rest_words and not _KEY_ACC_RE.match(rest_words[0]) and rest_words[0] != "exp":
            mode_word, rest_words = rest_words[0], rest_words[1:]
        if mode_word:
            low = mode_word.lower()
            if low == "m":
                mode = "minor"
            elif low[:3] in _MODE_PREFIX:
                mode = _MODE_PREFIX[low[:3]]
            else:
                raise LivegenError(
                    f"unknown mode {mode_word!r} in K:{value.strip()}; use major, minor, dorian, mixolydian, ...")
    else:
        rest_words = words
        tonic, mode = "C", "major"
    if rest_words and rest_words[0] == "exp":
        explicit, rest_words = True, rest_words[1:]
    fifths = _TONIC_FIFTHS[tonic[0]] + MODES[mode]
    fifths += 7 * (tonic[1:] == "#") - 7 * (tonic[1:] == "b")
    if explicit:
        acc: dict[str, int] = {}
        fifths = 0
    else:
        acc = key_signature(fifths)
    for word in rest_words:
        m = _KEY_ACC_RE.match(word)
        if m:
            acc[m.group(2).upper()] = _ACCIDENTAL_MARKS[m.group(1)]
    acc = {k: v for k, v in acc.items() if v != 0}
    return AbcKey(tonic, mode, acc, fifths)


@dataclass(frozen=True)
class AbcMeter:
    """A time signature.

    Attributes:
        text: as written, normalised (``"6/8"``, ``"C"``, ``"C|"``, ``"none"``).
        numerator, denominator: the fraction it stands for (``C`` is 4/4, ``C|`` is 2/2,
            free meter ``none`` is treated as 4/4).
    """

    text: str
    numerator: int
    denominator: int

    @property
    def bar_length(self) -> Fraction:
        """Length of one bar as a fraction of a whole note."""
        return Fraction(self.numerator, self.denominator)

    @property
    def compound(self) -> bool:
        """True for 6/8, 9/8, 12/8, ... (beats are dotted)."""
        return self.numerator % 3 == 0 and self.numerator > 3

    @property
    def beat_length(self) -> Fraction:
        """Length of one metrical beat (a whole-note fraction): 3/8 in 6/8, 1/2 in C|."""
        base = Fraction(1, self.denominator)
        return 3 * base if self.compound else base


FREE_METER = AbcMeter("none", 4, 4)
COMMON_TIME = AbcMeter("4/4", 4, 4)


def parse_meter(value: str) -> AbcMeter:
    """Parse an ``M:`` value: ``"6/8"``, ``"C"``, ``"C|"``, ``"2+3/8"``, ``"none"``.

    Raises:
        LivegenError: not a meter.
    """
    text = value.split("%", 1)[0].strip()
    if text in ("", "none"):
        return FREE_METER
    if text == "C":
        return AbcMeter("C", 4, 4)
    if text == "C|":
        return AbcMeter("C|", 2, 2)
    m = re.fullmatch(r"\(?(\d+(?:\+\d+)*)\)?/(\d+)", text.replace(" ", ""))
    if not m or int(m.group(2)) == 0 or sum(int(x) for x in m.group(1).split("+")) == 0:
        raise LivegenError(f"unknown meter {value.strip()!r} in M: field; write e.g. M:6/8, M:C or M:C|")
    return AbcMeter(text.replace(" ", ""), sum(int(x) for x in m.group(1).split("+")), int(m.group(2)))


def default_unit_length(meter: AbcMeter | None) -> Fraction:
    """The ABC default ``L:``: 1/16 for meters shorter than 3/4, else 1/8."""
    if meter is not None and meter is not FREE_METER and meter.bar_length < Fraction(3, 4):
        return Fraction(1, 16)
    return Fraction(1, 8)


def parse_unit_length(value: str) -> Fraction:
    """Parse an ``L:`` value such as ``"1/8"`` (a whole-note fraction).

    Raises:
        LivegenError: not a positive fraction.
    """
    text = value.split("%", 1)[0].strip()
    m = re.fullmatch(r"(\d+)(?:/(\d+))?", text)
    if not m or int(m.group(1)) == 0 or (m.group(2) is not None and int(m.group(2)) == 0):
        raise LivegenError(f"unknown unit note length {value.strip()!r} in L: field; write e.g. L:1/8")
    return Fraction(int(m.group(1)), int(m.group(2) or 1))


def parse_tempo(value: str, unit_length: Fraction) -> float | None:
    """Parse a ``Q:`` value to quarter notes per minute, or None when it names no speed.

    Accepts ``"1/4=120"``, ``"3/8=100"`` (dotted quarters), ``"1/8 3/8=40"`` (beat parts add),
    ``"\\"Allegro\\" 1/4=120"``, ``"C=120"`` and the legacy ``"120"`` (unit lengths per minute).
    """
    text = re.sub(r'"[^"]*"?', " ", value.split("%", 1)[0]).strip()
    if not text:
        return None
    if "=" in text:
        beat_text, bpm_text = text.split("=", 1)
        beats = re.findall(r"(\d+)/(\d+)", beat_text)
        beat = sum((Fraction(int(a), int(b)) for a, b in beats if int(b)), Fraction(0))
        if beat == 0:
            beat = unit_length  # "C=120" and friends: the unit length
    else:
        beat, bpm_text = unit_length, text
    m = re.match(r"\s*(\d+(?:\.\d+)?)", bpm_text)
    if not m or float(m.group(1)) <= 0:
        return None
    return float(m.group(1)) * float(beat / Fraction(1, 4))
