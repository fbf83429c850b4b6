"""Bars that fit their meter: the rules a generated ABC tune is held to, bar by bar.

:class:`BarRules` follows a tune body in written order (the items of
:class:`~livegen.music.abc.body.BodyParser`) and says, at every sound and bar line, whether
the bar still fits. The rules are those a musician reads a folk tune by, which are also the
ones ``abc2midi`` checks (it warns about every bar that breaks them):

- every bar holds exactly one bar of the meter (``M:``, in the unit ``L:``);
- the tune's first bar may be shorter: a pickup (anacrusis);
- the last bar before a section line (``:|``, ``::``, ``||``, ``|]``) may be short by the
  length of its section's first bar, so that the repeat (which plays the section's first
  bar right after it) or the next part's pickup completes it: ``AB|cdef gabc|cdef g2:|``
  in 4/4 is two eighths of pickup, two full bars and a six-eighth bar. Before a repeat
  (``:|``, ``::``) of a section that starts with a pickup it must be short that way. The
  bar after such a short bar must complete it (a next part's pickup of the same length);
- a second (third...) ending starts where the first one started: ``|1 ... :|2 ...``.

Endings follow the structure every ABC reader plays alike: a first ending ``[1`` opens in a
section with no ending open; it is closed by a repeat (``:|`` or ``::``), right after which
(bar lines aside, nothing sounding) the next ending, ``[2``, must come; the last ending is
closed by a section line or another repeat; a tune does not end inside a first ending.
A break of this structure is counted in :attr:`BarRules.broken`.

:class:`MeterGuard` applies the rules while a tune is being written character by character
(the ``abc`` model's sampler asks it about each drawn character): a note that would overfill
its bar, or a bar line that would close a bar of the wrong length, is refused, and the model
draws another character. A note still being written may yet be shortened by ``/``, so a
note letter is allowed while a quarter of it still fits (``A`` then ``/`` where half a unit
is left).

Lengths are integer ticks (:data:`~livegen.music.abc.body.TICKS_PER_WHOLE` to a whole note).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

from livegen.errors import LivegenError
from livegen.music.abc.body import Bar, BodyParser, Ending, Item, Sound, to_ticks
from livegen.music.abc.header import (
    C_MAJOR,
    COMMON_TIME,
    AbcKey,
    AbcMeter,
    default_unit_length,
    parse_key,
    parse_meter,
    parse_unit_length,
)
from livegen.music.abc.repair import RepairLog

__all__ = ["SECTION_ENDS", "BarRules", "MeterGuard", "check_bars", "check_tune"]

#: bar lines after which a bar may be short (its section's first bar completes it).
SECTION_ENDS = frozenset({":|", "::", "||", "|]"})

#: bar lines that jump back to the start of their section.
_JUMPS = frozenset({":|", "::"})

#: bar lines that start a new section (``:|`` only when no ending follows it).
_SECTION_STARTS = frozenset({":|", "::", "||", "|]", "|:", "[|"})

#: the kinds a bar line still being written may become (``|`` may grow into ``||``).
_GROWS_INTO = {"|": ("||", "|]", "|:"), ":|": ("::",), "||": ("|:",), "[|": ("|:",)}

_FIELD_RE = re.compile(r"^([A-Za-z+]):(?![|:])(.*)$")
#: what may still follow a line that ends in a symbol not yet complete (an accidental without
#: its letter, an unclosed chord, decoration, chord symbol or grace group, a tuplet sign, an
#: inline field): a line that no completion makes readable without skipping symbols is refused.
_COMPLETIONS = ("C", "]", "C]", "1", '"', "!", "}", "C}", "3C", ":C", ":C]")

#: a chord still open at the end of the text, and what it may hold: at most
#: :data:`MAX_CHORD_NOTES` different notes (with accidentals and octave marks; the length
#: goes after the ``]``), nothing else: readers disagree on chords of repeated notes.
_OPEN_CHORD_RE = re.compile(r"\[(?![A-Za-z]:|\d|\|)([^\]]*)(\]?)$")
_CHORD_BODY_RE = re.compile(r"^(?:[\^_=]{0,2}[A-Ga-g][,']*)*[\^_=]{0,2}$")
_CHORD_NOTE_RE = re.compile(r"[A-Ga-g][,']*")
MAX_CHORD_NOTES = 4

#: characters in a body line before only its end is allowed (irish.abc's longest line is 86).
MAX_LINE = 120

#: the start of a header line that is not a field (``T::``, ``K:|``): refused.
_BAD_FIELD_START_RE = re.compile(r"^[A-Za-z+]:[|:]")

#: a note, rest or chord whose length suffix may still be written: ``A``, ``c'``, ``z3``, ``]/``.
_OPEN_SOUND_RE = re.compile(r"(?:[A-Ga-g][,']*|[zx]|\])([\d/]*)$")


@dataclass
class BarRules:
    """The bar-length rules of the module docstring, followed item by item.

    Attributes:
        bar: ticks in a bar of the current meter.
        used: ticks written in the current bar so far.
        carry: ticks of a short bar before a section line that the next bar completes.
        bars: bars closed so far (bars with at least one sound).
        off: bars closed so far that broke the rules.
        pickup_open: no bar has been closed yet (the first bar may be a pickup).
        section_first: written length of the current section's first bar (None until that
            bar is closed).
        broken: breaks of the ending structure so far (see the module docstring).
        ending_next: the number the next ending of this section must start with (0: no
            ending open, so only a first ending may start).
        awaiting_ending: a repeat just closed an ending: the next ending must come before
            anything sounds.
    """

    bar: int
    used: int = 0
    carry: int = 0
    bars: int = 0
    off: int = 0
    pickup_open: bool = True
    section_first: int | None = None
    broken: int = 0
    ending_next: int = 0
    awaiting_ending: bool = False
    _last_kind: str = ""
    _ending_state: tuple[int, int | None] = (0, None)
    _problems: list[str] = field(default_factory=list)

    @classmethod
    def for_meter(cls, meter: AbcMeter) -> BarRules:
        """Rules for a tune starting in ``meter``."""
        return cls(bar=to_ticks(meter.bar_length))

    @property
    def room(self) -> int:
        """Ticks the current bar can still take."""
        return self.bar - self.used - (0 if self.pickup_open else self.carry)

    @property
    def problems(self) -> list[str]:
        """One line per broken rule so far."""
        return list(self._problems)

    def sound(self, advance: int) -> bool:
        """A sound of ``advance`` ticks; False when it overfills the bar or sounds between a
        repeated ending and the next one."""
        self.used += advance
        ok = True
        if self.awaiting_ending:
            self._break("music between a repeated ending and the next ending")
            self.awaiting_ending = False
            self.ending_next = 0
            ok = False
        if self.room < 0:
            self._problems.append(f"bar {self.bars + 1} overfilled")
            return False
        return ok

    def _break(self, what: str) -> None:
        self.broken += 1
        self._problems.append(f"bar {self.bars + 1}: {what}")

    def structure_ok(self, kind: str) -> bool:
        """Would a bar line of ``kind`` here keep the ending structure? (no change)"""
        if self.awaiting_ending:
            return False
        return not (kind in ("||", "|]") and self.ending_next == 2)

    def closes_well(self, kind: str) -> bool:
        """Would a bar line of ``kind`` here close a bar that keeps the rules? (no change)"""
        b = self.used
        if b == 0 or self.pickup_open:
            return True
        first = self.section_first
        completes_first = (self.carry == 0 and first is not None and first < self.bar
                           and b == self.bar - first)
        if kind in _JUMPS and self.carry == 0 and first is not None and first < self.bar:
            return completes_first  # the repeat plays the section's pickup right after this bar
        return self.carry + b == self.bar or (kind in SECTION_ENDS and completes_first)

    def bar_line(self, kind: str) -> bool:
        """A bar line of ``kind`` (``| || |] [| |: :| ::``); False when the bar it closes breaks
        the rules."""
        ok = self.closes_well(kind)
        shaped = self.structure_ok(kind)
        if not shaped:
            self._break(f"{kind} inside a first ending (close it with :| and start [2)"
                        if not self.awaiting_ending else f"{kind} where the next ending must start")
            self.awaiting_ending = False
            if kind not in _JUMPS:
                self.ending_next = 0
        elif kind in _JUMPS and self.ending_next >= 2:
            self.awaiting_ending = True
        elif kind in ("||", "|]", "|:", "[|") and self.ending_next > 2:
            self.ending_next = 0
        b = self.used
        if b > 0:
            self.bars += 1
            if not ok:
                self.off += 1
                self._problems.append(f"bar {self.bars} has {Fraction(b, self.bar)} of a bar, closed by {kind}")
            if self.section_first is None:
                self.section_first = b
            short = not self.pickup_open and self.carry + b != self.bar
            self.carry = b if ok and short else 0
            self.pickup_open = False
            self.used = 0
        self._last_kind = kind
        if kind in _SECTION_STARTS:
            self.section_first = None
        return ok and shaped

    def ending(self, numbers: frozenset[int] = frozenset({1})) -> bool:
        """An ending mark (``[1``, ``:|2``) played on the passes ``numbers``: a later ending
        starts where the first one did. False when it breaks the ending structure."""
        if self._last_kind in (":|", "::"):
            self.carry, self.section_first = self._ending_state
        else:
            self._ending_state = (self.carry, self.section_first)
        first = min(numbers)
        if first == 1:
            ok = self.ending_next == 0 and not self.awaiting_ending
        else:
            ok = self.awaiting_ending and first == self.ending_next
        if not ok:
            self._break(f"ending {first} where "
                        + (f"ending {self.ending_next} must come" if self.ending_next else "no ending is open"))
        self.ending_next = max(numbers) + 1
        self.awaiting_ending = False
        return ok

    def meter(self, meter: AbcMeter) -> None:
        """A meter change: later bars are measured against ``meter``."""
        self.bar = to_ticks(meter.bar_length)

    def feed(self, item: Item) -> bool:
        """Follow one body item; False when it breaks a rule."""
        if isinstance(item, Sound):
            return self.sound(item.advance)
        if isinstance(item, Bar):
            return self.bar_line(item.kind)
        if isinstance(item, Ending):
            return self.ending(item.numbers)
        if isinstance(item, AbcMeter):
            self.meter(item)
        return True

    def finish(self) -> bool:
        """The tune ends here; False when an unclosed last bar breaks the rules (a last bar
        without a bar line is read as closed by ``|]``) or a first ending is left open."""
        if self.used:
            return self.bar_line("|]")
        if self.ending_next == 2 or self.awaiting_ending:
            self._break("the tune ends inside its endings")
            self.awaiting_ending = False
            self.ending_next = 0
            return False
        return True

    def ends_well(self) -> bool:
        """Could the tune end here? (no change)"""
        return self.used == 0 and self.ending_next != 2 and not self.awaiting_ending


def check_bars(items: list[Item], meter: AbcMeter) -> BarRules:
    """Follow a whole body (written order) and return the rules' final state: ``bars``
    closed, ``off`` how many broke the rules, ``problems`` which."""
    rules = BarRules.for_meter(meter)
    for item in items:
        rules.feed(item)
    rules.finish()
    return rules


@dataclass
class _Header:
    """Header fields seen so far (first value of each)."""

    fields: dict[str, str] = field(default_factory=dict)

    def read(self, line: str) -> None:
        m = _FIELD_RE.match(line.strip())
        if m:
            self.fields.setdefault(m.group(1), m.group(2).strip())

    def values(self) -> tuple[AbcMeter, Fraction, AbcKey]:
        """Meter, unit length and key as the repairing parser reads them (defaults when
        absent or unreadable)."""
        meter = _or_default(parse_meter, self.fields.get("M"), COMMON_TIME)
        unit = _or_default(parse_unit_length, self.fields.get("L"), default_unit_length(meter))
        key = _or_default(parse_key, self.fields.get("K"), C_MAJOR)
        return meter, unit, key


_T = TypeVar("_T")


def _or_default(parse: Callable[[str], _T], value: str | None, default: _T) -> _T:
    if value is None:
        return default
    try:
        return parse(value)
    except LivegenError:
        return default


class MeterGuard:
    """Keep a tune being written character by character within its meter.

    Feed every character of the tune text with :meth:`push` (header and body, from the
    ``X:`` line on); ask :meth:`allows` about a candidate next character and
    :meth:`allows_end` before ending the tune. Header lines are never constrained; the body
    (after the ``K:`` line) follows :class:`BarRules`, read with the same parser that plays
    the tune.

    Args:
        end: the character that ends a tune (the model's separator): :meth:`allows` asks
            :meth:`allows_end` about it.

    Attributes:
        refused: candidate characters refused so far.
    """

    def __init__(self, end: str | None = None) -> None:
        self.end = end
        self._header = _Header()
        self._in_body = False
        self._line = ""
        self._parser: BodyParser | None = None
        self._rules: BarRules | None = None
        self._baseline: tuple[str, int] = ("", 0)
        self.refused = 0

    @property
    def in_body(self) -> bool:
        """True once the ``K:`` line has been written."""
        return self._in_body

    @property
    def rules(self) -> BarRules | None:
        """The rules' state after the last complete body line (None in the header)."""
        return self._rules

    def push(self, text: str) -> None:
        """Append written text (any length)."""
        for ch in text:
            if ch != "\n":
                self._line += ch
                continue
            line, self._line = self._line, ""
            if not self._in_body:
                self._header.read(line)
                if line.startswith("K:"):
                    self._start_body()
            else:
                self._commit(line)

    def allows(self, ch: str) -> bool:
        """Would appending ``ch`` keep every bar so far within the rules?"""
        if ch == self.end:
            return self.allows_end()
        if not self._in_body:
            ok = not _BAD_FIELD_START_RE.match(self._line + ch)
        elif len(self._line) >= MAX_LINE and ch != "\n":
            ok = False  # no corpus line is this long: end it
        elif ch == "\n":
            ok = self._evaluate(self._line, final=True) is not None
        else:
            ok = self._evaluate(self._line + ch, final=False) is not None
        if not ok:
            self.refused += 1
        return ok

    def allows_end(self) -> bool:
        """May the tune end here? Only between bars, every bar within the rules."""
        if not self._in_body:
            return True
        rules = self._evaluate(self._line, final=True)
        ok = rules is not None and rules.ends_well()
        if not ok:
            self.refused += 1
        return ok

    # -- internals ---------------------------------------------------------------------------
    def _start_body(self) -> None:
        meter, unit, key = self._header.values()
        self._in_body = True
        self._parser = BodyParser(key=key, meter=meter, unit_length=unit, log=RepairLog(True))
        self._rules = BarRules.for_meter(meter)

    def _fork(self) -> tuple[BodyParser, BarRules]:
        assert self._parser is not None and self._rules is not None
        return self._parser.fork(), copy.deepcopy(self._rules)

    def _problems(self, text: str) -> int:
        """Symbols skipped and things repaired when the current line reads ``text``."""
        parser = self._fork()[0]
        parser.parse_line(text, 0)
        return sum(parser.log.dropped.values()) + len(parser.log.notes)

    def _least_problems(self, text: str, found: int) -> int:
        """The fewest problems of ``text`` or of ``text`` with any of the completions
        (``found``: those of ``text`` itself)."""
        best = found
        for tail in _COMPLETIONS:
            if best == 0:
                break
            best = min(best, self._problems(text + tail))
        return best

    def _line_baseline(self) -> int:
        """The current line's problems so far, at least (cached per line text)."""
        if self._baseline[0] != self._line:
            self._baseline = (self._line, self._least_problems(self._line, self._problems(self._line)))
        return self._baseline[1]

    def _commit(self, line: str) -> None:
        parser, rules = self._fork()
        parser.parse_line(line, 0)
        for item in parser.items:
            rules.feed(item)
        parser.items = []
        self._parser, self._rules = parser, rules

    def _evaluate(self, text: str, final: bool) -> BarRules | None:
        """The rules' state after ``text`` (the current line), or None when it breaks them.

        Not ``final``: the text may still grow, so a bar line at its very end may still
        become another kind, and a sound at its end may still be shortened by ``/``.
        """
        if not final and (chord := _OPEN_CHORD_RE.search(text)):
            body = chord.group(1)
            notes = _CHORD_NOTE_RE.findall(body)
            done = notes if chord.group(2) else notes[:-1]  # the last may still grow ' or ,
            if not _CHORD_BODY_RE.match(body) or len(notes) > MAX_CHORD_NOTES or len(set(done)) < len(done):
                return None
        parser, rules = self._fork()
        parser.parse_line(text, 0)
        found = sum(parser.log.dropped.values()) + len(parser.log.notes)
        if found:
            baseline = self._line_baseline()
            if (found if final else self._least_problems(text, found)) > baseline:
                return None
        items = parser.items
        open_bar: tuple[str, ...] = ()
        open_sound = False
        shrink = 1
        if not final and items:
            last = items[-1]
            if isinstance(last, Bar) and text.endswith(("|", ":")):
                open_bar = (last.kind, *_GROWS_INTO.get(last.kind, ()))
                items = items[:-1]
            elif text.endswith(":") and not isinstance(last, Bar):
                open_bar = (":|", "::")
            elif isinstance(last, Sound) and (m := _OPEN_SOUND_RE.search(text)):
                open_sound = True
                shrink = 4 if not m.group(1) else 2
        elif not final and text.endswith(":"):
            open_bar = (":|", "::")
        for n, item in enumerate(items):
            if open_sound and n == len(items) - 1:
                assert isinstance(item, Sound)
                if not rules.sound(-(-item.advance // shrink)):
                    return None
            elif not rules.feed(item):
                return None
        if open_bar and not any(rules.closes_well(kind) and rules.structure_ok(kind) for kind in open_bar):
            return None
        return rules


def check_tune(text: str) -> BarRules:
    """Follow a whole tune's text (header and body) and return the rules' final state:
    ``bars`` written, ``off`` how many broke the rules, ``problems`` which."""
    guard = MeterGuard()
    guard.push(text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n")
    rules = guard.rules
    if rules is None:
        raise LivegenError("the ABC text has no K: line, so no body to check; end the header with K:")
    rules.finish()
    return rules
