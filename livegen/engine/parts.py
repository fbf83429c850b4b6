"""livegen's answer on several channels: each note's part (:mod:`livegen.music.parts`), decided
as it sounds, and the MIDI channel that part plays on.

The engine asks :meth:`PartRouter.channel` for every note message it sends: a note-on's part
is chosen with the other notes starting in the same step (one onset), a note-off goes to the
channel its note-on went to. Nothing is decided ahead, so live the splitter follows each onset
as it sounds (beam 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import mido

from livegen.music.frames import NoteEvent
from livegen.music.parts import Part, PartSplitter

#: MIDI channels (0-based) the parts take in order: 1, 2, 3, ... skipping 10 (General MIDI drums)
PART_CHANNELS = tuple(c for c in range(16) if c != 9)


class PartRouter:
    """Parts and channels for the notes of livegen's answer.

    Args:
        parts: the layout, top part first.
        first_channel: the channel (0-based) of the first part; the others follow in
            :data:`PART_CHANNELS` order.
    """

    def __init__(self, parts: Sequence[Part], first_channel: int = 0) -> None:
        if len(parts) > len(PART_CHANNELS):
            raise ValueError(f"at most {len(PART_CHANNELS)} parts, not {len(parts)}")
        self.parts = tuple(parts)
        start = PART_CHANNELS.index(first_channel) if first_channel in PART_CHANNELS else 0
        order = PART_CHANNELS[start:] + PART_CHANNELS[:start]
        #: the 0-based channel of each part, in layout order
        self.channels = order[:len(self.parts)]
        self.splitter = PartSplitter(self.parts)
        #: parts muted, and parts soloed (any soloed: only those sound)
        self.muted: set[int] = set()
        self.soloed: set[int] = set()
        #: (channel, pitch) of notes whose note-on was held back (their part was silent): their
        #: note-offs are held back too
        self._silenced: set[tuple[int, int]] = set()

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
        return i not in self.muted and (not self.soloed or i in self.soloed)

    def keep(self, message: mido.Message) -> bool:
        """Whether a routed note message goes out: a note-on of a silent part does not, nor
        the note-off of a note held back."""
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            if self.audible(self.channels.index(message.channel)):
                self._silenced.discard(key)
                return True
            self._silenced.add(key)
            return False
        if key in self._silenced:
            self._silenced.discard(key)
            return False
        return True

    def release(self, silenced: set[int]) -> list[mido.Message]:
        """Note-offs for the notes sounding in the ``silenced`` parts, now; their later
        note-offs (when the answer lets them go) are held back."""
        out = []
        for pitch, k in sorted(self.splitter.sounding.items()):
            key = (self.channels[k], pitch)
            if k in silenced and key not in self._silenced:
                out.append(mido.Message("note_off", channel=key[0], note=pitch, velocity=0))
                self._silenced.add(key)
        return out

    def program_changes(self) -> list[mido.Message]:
        """Each part's General MIDI program on its channel (sent before the first note)."""
        return [mido.Message("program_change", channel=c, program=p.program)
                for c, p in zip(self.channels, self.parts, strict=True)]

    def name_of(self, channel: int) -> str:
        """The part playing on ``channel`` (0-based)."""
        return self.parts[self.channels.index(channel)].name if channel in self.channels else "livegen"

    def reset(self) -> None:
        """Forget what sounds (every note was released)."""
        self.splitter.reset()
        self._silenced.clear()
