"""Parts: one stream of notes split into voices (melody, chords, bass; soprano, alto, tenor, bass).

A :class:`PartSplitter` follows the notes in time, one onset at a time, as a musician reading a
short score would: a note keeps its part while it sounds, a part that is one voice sings one
note at a time, and the new notes at each onset go to the free parts so that every voice
moves as little as it can from its last note and the voices cross as rarely as they can
(voice tracking across onsets, not a new split per frame). Every note goes to exactly one
part, so the union of the parts is the stream itself.

When more notes sound at once than there are voices free (five notes for SATB), the notes
left over go to the nearest part in pitch, which then sings two notes for as long as they
overlap (a *divisi*, as a choir does); :attr:`PartSplitter.divisi` counts them.

Pure: no I/O, no clock. Pitches are MIDI numbers; time is whatever unit the caller uses
(steps live, seconds or ticks offline), only its order matters.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: crossing cost, in semitones of movement: one pair of voices out of order costs as much as
#: a leap of this size, so a voice leaps up to it rather than cross another.
CROSSING = 12.0
#: cost of a voice's move from its last note, per semitone.
SMOOTH = 1.0
#: the longest move the smoothness cost counts, in semitones: a part silent for a while, or a
#: bass that leaps, still takes the note whose place is its own.
LEAP = 12.0
#: cost per part of distance between a note's part and its rank by pitch among the notes
#: sounding (the top note's part is the first, the lowest note's the last), in semitones: a
#: voice moves smoothly, but not at the price of leaving its place in the chord.
RANK = 2.0
#: cost of giving a note to a part of many voices (chords) instead of a free one-voice part
#: (melody, bass), in semitones: the outer voices take what fits them first.
INNER = 4.0
#: cost of giving the chords part a note whose place by pitch is an outer one-voice part
#: (the top note: the melody's; the lowest: the bass's) while that part is free, in semitones:
#: more than the longest move counted (:data:`LEAP`), so a free melody takes the top note
#: however far it leaps, as a listener hears the top line as the tune.
OUTER = LEAP + 1.0
#: notes sounding (with the new ones) from which :data:`OUTER` counts: a note alone has no
#: outer place, its part is the one it moves least to.
OUTER_MIN = 2


@dataclass(frozen=True)
class Part:
    """One part of a layout.

    Attributes:
        name: its name (``soprano``, ``bass``, ...): the MIDI track's name and the OSC address.
        voices: 1 for a part that sings one note at a time, 0 for one of any number (chords).
        centre: the MIDI pitch it sings around, before it has sung (orders its first note).
        program: its General MIDI program, 0-127 (0: acoustic grand piano).
    """

    name: str
    voices: int
    centre: int
    program: int = 0


#: the built-in layouts, top part first (order is pitch order: a part never sits above the one
#: before it without a crossing).
LAYOUTS: dict[str, tuple[Part, ...]] = {
    "one": (Part("all", 0, 60),),
    "melody-chords-bass": (Part("melody", 1, 74, 73), Part("chords", 0, 62, 48), Part("bass", 1, 43, 32)),
    "satb": (Part("soprano", 1, 69, 52), Part("alto", 1, 63, 52), Part("tenor", 1, 57, 52),
             Part("bass", 1, 50, 52)),
}


def layout(name: str) -> tuple[Part, ...]:
    """The built-in layout ``name``.

    Raises:
        KeyError: no such layout (the message lists them).
    """
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"no parts layout {name!r}: choose one of {', '.join(LAYOUTS)}") from None


class PartSplitter:
    """Gives each note a part, onset by onset (see the module docstring).

    Args:
        parts: the layout, top part first.
    """

    def __init__(self, parts: Sequence[Part]) -> None:
        if not parts:
            raise ValueError("a layout has at least one part")
        self.parts = tuple(parts)
        self._poly = [i for i, p in enumerate(self.parts) if p.voices == 0]
        self._mono = [i for i, p in enumerate(self.parts) if p.voices == 1]
        self.reset()

    def reset(self) -> None:
        """Forget every sounding note and every part's last pitch."""
        #: sounding pitch -> part index (a pitch sounds at most once at a time)
        self.sounding: dict[int, int] = {}
        self._last: list[float | None] = [None] * len(self.parts)  # before a part has sung
        #: notes given to a one-voice part that was already singing
        self.divisi = 0

    def note_off(self, pitch: int) -> int | None:
        """``pitch`` ended: the part it was in (None: it was not sounding)."""
        return self.sounding.pop(pitch, None)

    def part_of(self, pitch: int) -> int | None:
        """The part a sounding ``pitch`` is in (None: not sounding)."""
        return self.sounding.get(pitch)

    def onset(self, pitches: Iterable[int]) -> dict[int, int]:
        """New notes ``pitches`` start together (notes already sounding keep their parts):
        their parts, by pitch, the cheapest way (:meth:`choices`). A pitch already sounding is
        struck again in its own part."""
        cost, given = min(self.choices(pitches), key=lambda c: c[0])
        self.apply(given)
        return given

    def choices(self, pitches: Iterable[int]) -> list[tuple[float, dict[int, int]]]:
        """Every way to give the new notes ``pitches`` parts, with its cost (semitones of
        movement, crossings, places left in the chord; see the module's constants); nothing
        changes. Pitches already sounding keep their parts."""
        kept: dict[int, int] = {}
        new = []
        for p in sorted(set(pitches), reverse=True):
            if p in self.sounding:
                kept[p] = self.sounding[p]
            else:
                new.append(p)
        if not new:
            return [(0.0, kept)]
        if len(self.parts) == 1:
            return [(0.0, {**kept, **{p: 0 for p in new}})]
        busy = {i for i in self.sounding.values() if self.parts[i].voices == 1}
        free = [i for i in self._mono if i not in busy]
        held = list(self.sounding.items())
        out = []
        # which new note each free one-voice part takes (or none); the rest go to the chords
        # part (if the layout has one) or, left over, to the nearest part (divisi)
        for choice in _placements(len(new), free, self._poly != []):
            given = {new[k]: i for k, i in choice.items()}
            for k, p in enumerate(new):
                if k not in choice:
                    given[p] = self._poly[0] if self._poly else self._nearest(p)
            out.append((self._cost(given, held), {**kept, **given}))
        return out

    def apply(self, given: dict[int, int]) -> None:
        """Take the parts ``given`` (pitch -> part) for notes starting now."""
        busy = {i for p, i in self.sounding.items() if self.parts[i].voices == 1 and p not in given}
        taken = [i for p, i in given.items() if p not in self.sounding]
        for i in set(taken):  # the notes beyond one a one-voice part sings at once
            if self.parts[i].voices == 1:
                self.divisi += taken.count(i) - (0 if i in busy else 1)
        for p, i in given.items():
            self.sounding[p] = i
            self._last[i] = float(p)

    def copy(self) -> PartSplitter:
        """An independent splitter in the same state."""
        other = copy.copy(self)
        other.sounding = dict(self.sounding)
        other._last = list(self._last)
        return other

    def _nearest(self, pitch: int) -> int:
        def distance(i: int) -> float:
            last = self._last[i]
            return abs((self.parts[i].centre if last is None else last) - pitch)
        return min(range(len(self.parts)), key=lambda i: (distance(i), i))

    def _cost(self, given: dict[int, int], held: list[tuple[int, int]]) -> float:
        cost = 0.0
        notes = held + list(given.items())
        ranked = sorted((p for p, _ in notes), reverse=True)
        busy = {i for _, i in held if self.parts[i].voices == 1}
        for p, i in given.items():
            place = self._place(ranked.index(p), len(ranked))
            if self.parts[i].voices == 1:
                last = self._last[i]
                cost += 0.0 if last is None else SMOOTH * min(abs(p - last), LEAP)
            else:
                cost += INNER
                if len(ranked) >= OUTER_MIN and self.parts[place].voices == 1 and place not in busy:
                    cost += OUTER
            cost += RANK * abs(i - place)
        for (pa, ia), (pb, ib) in itertools.combinations(notes, 2):
            if (pa - pb) * (ib - ia) < 0:  # higher pitch in a lower part
                cost += CROSSING
        return cost

    def _place(self, rank: int, sounding: int) -> int:
        """The part a note of ``rank`` (0: the highest) among ``sounding`` notes sits in by
        pitch alone: the top part for the highest, the bottom one for the lowest (of two or
        more), the chords part (or the parts in order) between."""
        last = len(self.parts) - 1
        if rank == 0:
            return 0
        if rank == sounding - 1:
            return last
        return self._poly[0] if self._poly else min(rank, last)


def _placements(n: int, free: list[int], has_poly: bool) -> Iterable[dict[int, int]]:
    """Ways to give some of ``n`` new notes (indices) to the ``free`` one-voice parts: each
    ``{note index: part}``, one note a part at most. Without a chords part every note must be
    placed while parts are free (a note left over goes to the nearest part)."""
    need = min(n, len(free))
    for k in range(need if not has_poly else 0, need + 1):
        for notes in itertools.combinations(range(n), k):
            for parts in itertools.permutations(free, k):
                yield dict(zip(notes, parts, strict=True))


#: a beam's choices, newest first: (the path before, ((note index, part), ...) at this onset)
Path = tuple["Path | None", tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class Note:
    """One note: MIDI ``pitch``, ``start`` and ``end`` (any unit, ``end > start``), ``velocity``."""

    pitch: int
    start: float
    end: float
    velocity: int = 100


def split_notes(notes: Sequence[Note], parts: Sequence[Part], beam: int = 1) -> list[int]:
    """The part of each of ``notes`` (same order), tracked onset by onset.

    ``beam``: how many of the cheapest ways so far are kept from one onset to the next (a
    beam search over the whole piece; 1: each onset's cheapest alone, as live, where a note
    must go out on its part when it starts). Offline a wider beam can see that the note two
    voices share is better left to the one that holds it. Notes that end at a time end
    before notes that start then; a pitch struck again while it sounds ends the earlier note.
    """
    if beam < 1:
        raise ValueError(f"beam is 1 or more, not {beam}")
    order = sorted(range(len(notes)), key=lambda k: (notes[k].start, -notes[k].pitch))
    # (total cost, splitter, the path: (the path before, ((note index, part), ...) at this onset))
    beams: list[tuple[float, PartSplitter, Path | None]] = [(0.0, PartSplitter(parts), None)]
    ends: dict[int, float] = {}  # sounding pitch -> its end
    k = 0
    while k < len(order):
        t = notes[order[k]].start
        group = []
        while k < len(order) and notes[order[k]].start == t:
            group.append(order[k])
            k += 1
        over = [p for p, end in ends.items() if end <= t]
        over += [notes[j].pitch for j in group if notes[j].pitch in ends and notes[j].pitch not in over]
        for p in over:  # ended, or struck again
            ends.pop(p, None)
        grown: list[tuple[float, PartSplitter, Path | None]] = []
        for total, splitter, path in beams:
            for p in over:
                splitter.note_off(p)
            pitches = [notes[j].pitch for j in group]
            options = sorted(splitter.choices(pitches), key=lambda c: c[0])[:beam]
            for cost, choice in options:
                nxt = splitter.copy() if len(options) > 1 else splitter
                nxt.apply(choice)
                grown.append((total + cost, nxt, (path, tuple((j, choice[notes[j].pitch]) for j in group))))
        grown.sort(key=lambda b: b[0])
        beams = grown[:beam]
        for j in group:
            ends[notes[j].pitch] = notes[j].end
    out = [0] * len(notes)
    node = beams[0][2]
    while node is not None:
        node, given = node
        for j, i in given:
            out[j] = i
    return out


def rank_split(notes: Sequence[Note], parts: Sequence[Part]) -> list[int]:
    """The plain baseline: each note's part is its rank by pitch among the notes sounding
    when it starts (top part for the highest; the lowest part for the lowest when two or more
    sound; the ones between in order), with no memory from one onset to the next."""
    out = []
    n = len(parts)
    for note in notes:
        sounding = sorted({m.pitch for m in notes if m.start <= note.start < m.end} | {note.pitch}, reverse=True)
        rank = sounding.index(note.pitch)
        if n == 1:
            out.append(0)
        elif rank == len(sounding) - 1 and len(sounding) > 1:
            out.append(n - 1)
        else:
            out.append(min(rank, n - 1))
    return out
