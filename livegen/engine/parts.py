"""livegen's answer on several channels: each note's part (:mod:`livegen.music.parts`), decided
as it sounds, and what that part's controls (:mod:`livegen.controls.parts`) make of it.

The engine asks :meth:`PartRouter.route` for the parts of every step's note events: a
note-on's part is chosen with the other notes starting in the same step (one onset), a
note-off belongs to the part its note-on went to. Nothing is decided ahead, so live the
splitter follows each onset as it sounds (beam 1). :meth:`PartRouter.message` then makes the
MIDI message the part's controls in force ask for: its channel, its octave, its velocity
scale, nothing when the part is silent (muted, or another is soloed). A note-off goes to the
channel and pitch its note-on was sent with, whatever changed since.

:meth:`PartRouter.settle` takes the parts' controls in force at each step: a part that falls
silent, or whose channel or octave changes, has its sounding notes released at once (their
later note-offs are dropped); a new program or channel gets its program change.
"""

from __future__ import annotations

from collections.abc import Sequence

import mido

from livegen.controls.parts import PartsState
from livegen.music.frames import NoteEvent
from livegen.music.parts import Part, PartSplitter


class PartRouter:
    """Parts, channels and sounds for the notes of livegen's answer.

    Args:
        parts: the layout, top part first.
        state: the parts' controls at the start (default: the layout's, from channel 1).
    """

    def __init__(self, parts: Sequence[Part], state: PartsState | None = None) -> None:
        self.parts = tuple(parts)
        self.state = state if state is not None else PartsState.for_layout(self.parts)
        if self.state.names != tuple(p.name for p in self.parts):
            raise ValueError(f"the parts' controls are for {self.state.names}, not this layout")
        self.splitter = PartSplitter(self.parts)
        #: (part, pitch) of each sounding note that was sent -> the (channel, pitch) it went out on
        self._sent: dict[tuple[int, int], tuple[int, int]] = {}
        #: 0-based channels livegen has sent notes on (All Notes Off goes to each)
        self.used: set[int] = set(self.channels)

    @property
    def channels(self) -> tuple[int, ...]:
        """The 0-based MIDI channel of each part, in layout order, in force now."""
        return tuple(s.channel - 1 for s in self.state.settings)

    def route(self, events: Sequence[NoteEvent]) -> list[int]:
        """The part of each of one step's ``events`` (offs first, as the tracker gives them):
        the note-ons of the step are one onset."""
        offs = {}
        for e in events:  # the releases first: a part they free can take a new note now
            if not e.on:
                part = self.splitter.note_off(e.pitch)
                offs[e.pitch] = 0 if part is None else part
        ons = self.splitter.onset([e.pitch for e in events if e.on]) if any(e.on for e in events) else {}
        return [ons[e.pitch] if e.on else offs[e.pitch] for e in events]

    def message(self, event: NoteEvent, part: int) -> mido.Message | None:
        """The message ``event`` of part ``part`` goes out as, or None: a note-on of a silent
        part (or moved off the MIDI range by its octave) is not sent, nor its note-off."""
        key = (part, event.pitch)
        if not event.on:
            sent = self._sent.pop(key, None)
            return None if sent is None else mido.Message("note_off", channel=sent[0], note=sent[1], velocity=0)
        self._sent.pop(key, None)
        s = self.state.settings[part]
        pitch = event.pitch + 12 * s.octave
        if not self.state.audible(part) or not 0 <= pitch <= 127:
            return None
        velocity = max(1, min(127, round(event.velocity * s.velocity)))
        self._sent[key] = (s.channel - 1, pitch)
        self.used.add(s.channel - 1)
        return mido.Message("note_on", channel=s.channel - 1, note=pitch, velocity=velocity)

    def index(self, name: str) -> int:
        """The index of the part called ``name``.

        Raises:
            KeyError: no such part (the message lists them).
        """
        for i, part in enumerate(self.parts):
            if part.name == name:
                return i
        raise KeyError(f"no part {name!r}; the parts are {', '.join(p.name for p in self.parts)}")

    def audible(self, i: int) -> bool:
        """Whether part ``i`` sounds: not muted, and soloed when any part is."""
        return self.state.audible(i)

    @property
    def muted(self) -> set[int]:
        """The indices of the muted parts."""
        return {i for i, s in enumerate(self.state.settings) if s.mute}

    @property
    def soloed(self) -> set[int]:
        """The indices of the soloed parts."""
        return {i for i, s in enumerate(self.state.settings) if s.solo}

    def settle(self, state: PartsState) -> list[mido.Message]:
        """Take the parts' controls ``state`` in force from now: note-offs for the sounding
        notes of every part that fell silent or moved (channel, octave), then the program
        change of every part whose program or channel changed."""
        if state == self.state:
            return []
        old, self.state = self.state, state
        moved = {i for i, (a, b) in enumerate(zip(old.settings, state.settings, strict=True))
                 if (old.audible(i) and not state.audible(i)) or a.channel != b.channel or a.octave != b.octave}
        out = self.release(moved)
        for a, b in zip(old.settings, state.settings, strict=True):
            if a.program != b.program or a.channel != b.channel:
                out.append(mido.Message("program_change", channel=b.channel - 1, program=b.program))
                self.used.add(b.channel - 1)
        return out

    def release(self, parts: set[int]) -> list[mido.Message]:
        """Note-offs for the sounding notes of ``parts``, now; their later note-offs (when
        the answer lets them go) are dropped."""
        out = []
        for key in sorted(k for k in self._sent if k[0] in parts):
            channel, pitch = self._sent.pop(key)
            out.append(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        return out

    def program_changes(self) -> list[mido.Message]:
        """Each part's General MIDI program on its channel (sent before the first note)."""
        return [mido.Message("program_change", channel=s.channel - 1, program=s.program)
                for s in self.state.settings]

    def name_of(self, channel: int) -> str:
        """The part playing on ``channel`` (0-based) now."""
        return self.parts[self.channels.index(channel)].name if channel in self.channels else "livegen"

    def reset(self) -> None:
        """Forget what sounds (every note was released)."""
        self.splitter.reset()
        self._sent.clear()
