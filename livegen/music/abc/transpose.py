"""Transpose ABC tunes to another key by rewriting the text, keeping its layout.

Used to multiply the folk tunes a char-level ``abc`` model learns from: a tune in D major is
also shown in G, A, C, ... major, written the way an ABC author would write it there (new
``K:`` line, note letters moved, accidentals respelled), with every bar line, space, beam
and ``!`` line break left where it was.

The move is diatonic: each note letter moves by the same number of scale steps (D -> G is
three steps up) with octave marks adjusted, and each explicit accidental is respelled so the
note sounds exactly ``shift`` semitones away. Notes without an accidental stay without one:
the new key signature supplies the right alteration, and an accidental carried through a
bar keeps applying to the same (moved) letter. Quoted chord symbols (``"Am7"``, ``"D/F#"``)
are moved too; decorations, inline text, comments and header fields other than ``K:`` are
left alone.

Public API::

    key_targets(key_text, fifths_range) -> list[str]       # K: values to transpose into
    transpose_abc(tune_text, target_key) -> str              # raises AbcTransposeError
"""

from __future__ import annotations

import re

from livegen.errors import LivegenError
from livegen.music.abc.header import LETTER_SEMITONES, MODES, AbcKey, key_signature, parse_key

_LETTERS = "CDEFGAB"
_FIFTHS_LETTERS = "FCGDAEB"
_ACC_MARK = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}
_ACC_VALUE = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}

_FIELD_LINE_RE = re.compile(r"^([A-Za-z+]):(?![|:])(.*)$")
_KEY_VALUE_RE = re.compile(r"^(\s*)([A-Ga-g][#b]?)(.*)$", re.DOTALL)
_TOKEN_RE = re.compile(
    r'(?P<quote>"[^"]*")'
    r"|(?P<deco>![^!\s|]{1,30}!)"
    r"|(?P<plus>\+[^+\s|]{1,30}\+)"
    r"|(?P<field>\[[A-Za-z]:[^\]]*\])"
    r"|(?P<comment>%.*$)"
    r"|(?P<loose>(?:(?<=[\s|])|^)[KMLQ]:\S*)"
    r"|(?P<note>(?P<acc>\^\^|\^|__|_|=)?(?P<letter>[A-Ga-g])(?P<octave>[,']*))"
)
_CHORD_ROOT_RE = re.compile(r"([A-G])([#b]?)")


class AbcTransposeError(LivegenError):
    """A tune cannot be written in the requested key (no key, unusual key, double accidentals
    beyond ``^^``/``__``)."""


def tonic_name(fifths: int) -> str:
    """Spelled name of the major tonic ``fifths`` steps round the circle of fifths from C
    (``2`` -> ``"D"``, ``-3`` -> ``"Eb"``, ``6`` -> ``"F#"``)."""
    index = fifths + 1
    letter = _FIFTHS_LETTERS[index % 7]
    sharps = index // 7
    return letter + ("#" * sharps if sharps > 0 else "b" * -sharps)


def key_targets(key_text: str, fifths_range: tuple[int, int] = (-2, 4)) -> list[str]:
    """``K:`` values a tune in ``key_text`` can be transposed into: same mode, signatures from
    ``fifths_range[0]`` to ``fifths_range[1]`` sharps (negative = flats), the tune's own key
    excluded, each written in the style of ``key_text`` (``"D Major"`` -> ``"G Major"``).

    Returns an empty list for keys without a tonic (``none``, ``HP``) or with extra accidentals.
    """
    key = parse_key(key_text)
    if not key.tonic or key.mode not in MODES or _has_extra_accidentals(key):
        return []
    m = _KEY_VALUE_RE.match(key_text)
    if not m:
        return []
    lead, _, rest = m.groups()
    mode_shift = MODES[key.mode]
    out = []
    for fifths in range(fifths_range[0], fifths_range[1] + 1):
        if fifths == key.fifths:
            continue
        tonic = tonic_name(fifths - mode_shift)
        out.append(f"{lead}{tonic}{rest}")
    return out


def _has_extra_accidentals(key: AbcKey) -> bool:
    return key.accidentals != {k: v for k, v in key_signature(key.fifths).items() if v}


def _tonic_semitone(name: str) -> int:
    return LETTER_SEMITONES[name[0].upper()] + name.count("#") - name[1:].count("b")


class _Move:
    """One transposition: ``steps`` letters and ``shift`` semitones."""

    def __init__(self, source: AbcKey, target: AbcKey) -> None:
        raw = (_tonic_semitone(target.tonic) - _tonic_semitone(source.tonic)) % 12
        self.shift = raw - 12 if raw > 5 else raw  # the smaller move: -6..+5 semitones
        step0 = (_LETTERS.index(target.tonic[0]) - _LETTERS.index(source.tonic[0])) % 7
        self.steps = min((step0, step0 - 7), key=lambda s: abs(s * 12 / 7 - self.shift))
        self.source, self.target = source, target
        for i, letter in enumerate(_LETTERS):  # the signatures must map note for note
            new_letter, octave = self._letter(i)
            before = LETTER_SEMITONES[letter] + source.accidentals.get(letter, 0) + self.shift
            after = LETTER_SEMITONES[new_letter] + 12 * octave + target.accidentals.get(new_letter, 0)
            if before != after:
                raise AbcTransposeError(f"key {source} does not map onto {target} note for note")

    def _letter(self, index: int) -> tuple[str, int]:
        """Letter index 0..6 (C..B) -> (new upper-case letter, octaves moved)."""
        octave, new = divmod(index + self.steps, 7)
        return _LETTERS[new], octave

    def note(self, acc: str | None, letter: str, marks: str) -> str:
        """Rewrite one note head (accidental, letter, octave marks)."""
        octave = (1 if letter.islower() else 0) + marks.count("'") - marks.count(",")
        new_letter, moved = self._letter(_LETTERS.index(letter.upper()))
        octave += moved
        text = _write_letter(new_letter, octave)
        if acc is None:
            return text
        sounding = LETTER_SEMITONES[letter.upper()] + _ACC_VALUE[acc] + self.shift
        needed = sounding - LETTER_SEMITONES[new_letter] - 12 * moved
        if needed not in _ACC_MARK:
            raise AbcTransposeError(f"note {acc}{letter} would need a triple accidental in {self.target}")
        return _ACC_MARK[needed] + text

    def chord_symbol(self, text: str) -> str:
        """Move the root (and bass) letters of a quoted chord symbol such as ``"F#m7/C#"``."""
        inner = text[1:-1]
        if not inner or inner[0] not in _LETTERS:  # an annotation ("^text", "<text"), not a chord
            return text

        def move(m: re.Match[str]) -> str:
            letter, acc = m.group(1), m.group(2)
            new_letter, _ = self._letter(_LETTERS.index(letter))
            alter = {"#": 1, "b": -1, "": 0}[acc]
            needed = (LETTER_SEMITONES[letter] + alter + self.shift - LETTER_SEMITONES[new_letter] + 6) % 12 - 6
            if abs(needed) > 1:
                raise AbcTransposeError(f"chord {text} cannot be spelled in {self.target}")
            return new_letter + {1: "#", -1: "b", 0: ""}[needed]

        root = _CHORD_ROOT_RE.sub(move, inner[:2], count=1) + inner[2:]
        if "/" in root:
            head, bass = root.rsplit("/", 1)
            if bass[:1] in _LETTERS:
                root = head + "/" + _CHORD_ROOT_RE.sub(move, bass, count=1)
        return '"' + root + '"'


def _write_letter(letter: str, octave: int) -> str:
    """Upper-case ``letter`` in ABC octave ``octave`` (0 = ``C``..``B``, 1 = ``c``..``b``)."""
    if octave >= 1:
        return letter.lower() + "'" * (octave - 1)
    return letter + "," * (-octave)


def transpose_abc(text: str, target_key: str) -> str:
    """Rewrite one tune in ``target_key`` (a ``K:`` value such as ``"G Major"``).

    Every ``K:`` line and inline ``[K:...]`` field moves by the same interval as the first
    one, so tunes that change key keep their key relations.

    Raises:
        AbcTransposeError: the tune has no usable ``K:`` line, or a note or chord cannot be
            spelled in the new key.
    """
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if first is None:
        raise AbcTransposeError("tune has no K: line to transpose")
    source, target = parse_key(lines[first][2:]), parse_key(target_key)
    if not source.tonic or not target.tonic or source.mode not in MODES or target.mode not in MODES:
        raise AbcTransposeError(f"cannot transpose from K:{lines[first][2:].strip()} to K:{target_key}")
    move = _Move(source, target)
    out = lines[:first] + ["K:" + _restyle(lines[first][2:], target_key)]
    for line in lines[first + 1 :]:
        field = _FIELD_LINE_RE.match(line)
        if field is None:
            text_line, move = _transpose_line(line, move)
            out.append(text_line)
        elif field.group(1) == "K":
            out.append("K:" + _move_key_text(field.group(2), move))
            move = _key_move(move, field.group(2))
        elif field.group(1) in "ML" and re.match(r"^.:\s*\S+\s+\S", line):
            # "M:9/8 EDC DA,B, CDE|!": a meter change written before music (as the parser reads it)
            head = re.match(r"^.:\s*\S+", line)
            assert head is not None
            rest, move = _transpose_line(line[head.end() :], move)
            out.append(line[: head.end()] + rest)
        else:
            out.append(line)
    return "\n".join(out)


def _restyle(source_text: str, target_key: str) -> str:
    """The target key written like the source ``K:`` value (keeps leading space, mode word)."""
    m = _KEY_VALUE_RE.match(source_text)
    t = _KEY_VALUE_RE.match(target_key)
    if not m or not t:
        return target_key
    return m.group(1) + t.group(2) + m.group(3)


def _move_key_text(value: str, move: _Move) -> str:
    """A later ``K:`` value moved by the interval of ``move``."""
    m = _KEY_VALUE_RE.match(value)
    if not m:
        return value
    lead, tonic, rest = m.groups()
    moved = move.chord_symbol('"' + tonic[0].upper() + tonic[1:] + '"')[1:-1]
    return lead + moved + rest


def _key_move(move: _Move, value: str) -> _Move:
    """The move that applies after a key change to ``value``, keeping the interval."""
    source = parse_key(value)
    if not source.tonic or source.mode not in MODES:
        raise AbcTransposeError(f"cannot transpose through K:{value.strip()}")
    target = parse_key(_move_key_text(value, move))
    return _Move(source, target)


def _transpose_line(line: str, move: _Move) -> tuple[str, _Move]:
    """Rewrite the notes, chord symbols and inline ``[K:]`` fields of one music line; also
    returns the move in force at its end (an inline key change replaces it)."""
    pieces: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(line):
        pieces.append(line[pos : m.start()])
        pos = m.end()
        kind = m.lastgroup
        token = m.group(0)
        if kind == "note":
            pieces.append(move.note(m.group("acc"), m.group("letter"), m.group("octave")))
        elif kind == "quote":
            pieces.append(move.chord_symbol(token))
        elif kind == "field" and token[1] == "K":
            value = token[3:-1]
            pieces.append(f"[K:{_move_key_text(value, move)}]")
            move = _key_move(move, value)
        elif kind == "loose" and token[0] == "K":
            pieces.append("K:" + _move_key_text(token[2:], move))
            move = _key_move(move, token[2:])
        else:
            pieces.append(token)
    pieces.append(line[pos:])
    return "".join(pieces), move
