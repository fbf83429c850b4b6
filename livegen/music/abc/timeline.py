"""Playback order for a parsed ABC body: repeats and endings expanded, ties merged, times set.

Repeat rules (those of common practice and of ``abc2midi``):

- ``:|`` jumps back to the last ``|:`` or ``::``; without one, to the last ``||``, ``|]``
  or ``[|``, to just after the previous repeat's ``:|``, or to the start of the tune.
- A section is played twice. ``[1``/``|1`` ... ``:|[2``/``:|2`` endings are played on the
  pass whose number they carry (``[1,3`` and ``[1-3`` are sets); an ending that is not for the
  current pass is skipped up to the next ending, ``:|``, ``::``, ``||``, ``|]`` or ``|:``.
  A ``:|`` followed by endings jumps back while a later ending in that group carries a higher
  number than the current pass (``|:A|[1,3 B:|[2 C:|[4 D|]`` plays A B A C A B A D).
- Unlike ``abc2midi``, a ``||`` or ``|]`` always starts the section that a later ``:|``
  repeats (when there is no ``|:``): in ``irish.abc`` a B part after an unrepeated A part
  ``...|]`` repeats from its own start, where ``abc2midi`` goes back to the top of the tune.
- A tie joins a note to the next sound's note of the same pitch in playback order.

Velocities follow the meter: 100 on the first note of a bar, 90 on other beats, 75 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.errors import LivegenError
from livegen.music.abc.body import Bar, Ending, Item, Sound, to_ticks
from livegen.music.abc.header import AbcMeter

DOWNBEAT_VELOCITY = 100
BEAT_VELOCITY = 90
OFFBEAT_VELOCITY = 75

#: playback-order items allowed after expanding repeats (guards against runaway generated text).
MAX_PLAYBACK_ITEMS = 200_000
_MAX_JUMPS_PER_REPEAT = 8


@dataclass
class TimedNote:
    """A note with ``start`` and ``length`` in ticks (see :data:`~livegen.music.abc.body.TICKS_PER_WHOLE`)."""

    pitch: int
    start: int
    length: int
    velocity: int


def playback_order(items: list[Item], jumps_to: dict[int, int] | None = None) -> list[Item]:
    """Expand repeats and endings: the items in the order they sound (endings dropped).

    Args:
        items: a body's items in written order.
        jumps_to: when given, filled with ``index of a repeat bar line -> index of the item
            it jumps back to`` for every repeat taken.

    Raises:
        LivegenError: the expansion is longer than :data:`MAX_PLAYBACK_ITEMS`.
    """
    out: list[Item] = []
    n = len(items)
    i = 0
    section_start = 0
    explicit_start = False  # section_start was set by |: or ::
    passes = 1
    jumps: dict[int, int] = {}
    skipping = in_ending = after_final = False
    while i < n:
        if len(out) > MAX_PLAYBACK_ITEMS:
            raise LivegenError(
                f"the tune's repeats expand to more than {MAX_PLAYBACK_ITEMS} events; shorten the tune")
        item = items[i]
        nxt = items[i + 1] if i + 1 < n else None
        next_ending = nxt if isinstance(nxt, Ending) else None
        if isinstance(item, Ending):
            in_ending = True
            skipping = passes not in item.numbers
            i += 1
            continue
        if not isinstance(item, Bar):
            if not skipping:
                out.append(item)
            i += 1
            continue
        kind = item.kind
        if not skipping:
            out.append(item)
        if kind in (":|", "::"):
            if skipping:
                jump = False
            elif next_ending is not None:
                jump = _last_ending(items, i) > passes and jumps.get(i, 0) < _MAX_JUMPS_PER_REPEAT
            else:
                jump = jumps.get(i, 0) == 0 and not (in_ending and passes >= 2)
            if jump:
                jumps[i] = jumps.get(i, 0) + 1
                if jumps_to is not None:
                    jumps_to[i] = section_start
                passes += 1
                i = section_start
                skipping = in_ending = False
                continue
            skipping = in_ending = False
            if next_ending is not None:
                after_final = True  # keep the pass number (and start) for the endings that follow
            else:
                passes, after_final = 1, False
                section_start, explicit_start = i + 1, kind == "::"
        elif kind == "|:":
            section_start, explicit_start = i + 1, True
            passes, skipping, in_ending, after_final = 1, False, False, False
        elif kind in ("||", "|]", "[|"):
            skipping = in_ending = False
            if after_final:  # the last ending of a repeat is over
                passes, after_final = 1, False
                section_start, explicit_start = i + 1, False
            elif not explicit_start:
                section_start = i + 1
        i += 1
    return out


def _last_ending(items: list[Item], i: int) -> int:
    """The highest ending number in the group of endings that follows the repeat at ``i``.

    The group runs on through further ``:|`` that are followed by an ending, and stops at a
    ``||``, ``|]``, ``[|`` or ``|:``, or at a ``:|`` that no ending follows.
    """
    highest = 0
    for j in range(i + 1, len(items)):
        item = items[j]
        if isinstance(item, Ending):
            highest = max(highest, *item.numbers)
        elif isinstance(item, Bar):
            if item.kind in ("||", "|]", "[|", "|:"):
                break
            if item.kind in (":|", "::") and not (j + 1 < len(items) and isinstance(items[j + 1], Ending)):
                break
    return highest


def timed_notes(playback: list[Item], meter: AbcMeter) -> list[TimedNote]:
    """Lay out playback-order items in time: ties merged, velocities from bar position.

    Args:
        playback: output of :func:`playback_order`.
        meter: the meter in force at the start (later ones come as items).
    Returns:
        notes sorted by start then pitch; times in ticks from the first sound.
    """
    notes: list[TimedNote] = []
    open_ties: dict[int, TimedNote] = {}
    t = 0
    bar_start = 0
    beat = to_ticks(meter.beat_length)
    for item in playback:
        if isinstance(item, AbcMeter):
            beat = to_ticks(item.beat_length)
        elif isinstance(item, Bar):
            bar_start = t
        elif isinstance(item, Sound):
            pos = t - bar_start
            if pos == 0:
                velocity = DOWNBEAT_VELOCITY
            elif pos % beat == 0:
                velocity = BEAT_VELOCITY
            else:
                velocity = OFFBEAT_VELOCITY
            still_open: dict[int, TimedNote] = {}
            for head in item.heads:
                tied = open_ties.get(head.pitch)
                if tied is not None:
                    tied.length = t + head.length - tied.start
                    note = tied
                else:
                    note = TimedNote(head.pitch, t, head.length, velocity)
                    notes.append(note)
                if head.tie:
                    still_open[head.pitch] = note
            open_ties = still_open
            t += item.advance
    notes.sort(key=lambda nt: (nt.start, nt.pitch))
    return notes
