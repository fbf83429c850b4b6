"""Record a take: the performer's and livegen's notes, with their real times, to a MIDI file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import mido

TICKS_PER_BEAT = 960


@dataclass
class Take:
    """Timed note messages of one take (seconds since ``t0``) per part."""

    t0: float
    bpm: float
    parts: dict[str, list[tuple[float, mido.Message]]] = field(default_factory=dict)

    def add(self, part: str, t: float, msg: mido.Message) -> None:
        """``msg`` (a note message, or a part's program change) at engine time ``t`` s."""
        if msg.type in ("note_on", "note_off", "program_change"):
            self.parts.setdefault(part, []).append((t - self.t0, msg))

    def retract(self, part: str, msg: mido.Message) -> bool:
        """Take ``msg`` (the very object added) out of ``part``: it was cancelled before it was
        sent. Returns whether it was there."""
        events = self.parts.get(part, [])
        for i in range(len(events) - 1, -1, -1):
            if events[i][1] is msg:
                del events[i]
                return True
        return False

    def notes(self, part: str) -> list[tuple[int, float, float]]:
        """``(pitch, start_s, end_s)`` of one part, notes left open closed at the last event."""
        events = sorted(self.parts.get(part, []), key=lambda e: e[0])
        end_all = max((t for t, _ in events), default=0.0)
        open_: dict[int, float] = {}
        out = []
        for t, msg in events:
            if msg.type == "program_change":
                continue
            if msg.type == "note_on" and msg.velocity > 0:
                if msg.note in open_:
                    out.append((msg.note, open_.pop(msg.note), t))
                open_[msg.note] = t
            elif msg.note in open_:
                out.append((msg.note, open_.pop(msg.note), t))
        out += [(p, s, end_all) for p, s in open_.items()]
        return sorted(out, key=lambda n: (n[1], n[0]))

    def to_midi(self) -> mido.MidiFile:
        """A type-1 file: a tempo track and one track per part, times exact at ``bpm``."""
        mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
        tempo = mido.bpm2tempo(self.bpm)
        meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
        mid.tracks.append(meta)
        for part in sorted(self.parts):
            track = mido.MidiTrack([mido.MetaMessage("track_name", name=part, time=0)])
            last = 0
            for t, msg in sorted(self.parts[part], key=lambda e: (e[0], e[1].type != "note_off")):
                tick = max(0, round(mido.second2tick(max(t, 0.0), TICKS_PER_BEAT, tempo)))
                track.append(msg.copy(time=tick - last))
                last = tick
            mid.tracks.append(track)
        return mid

    def save(self, path: str | os.PathLike[str]) -> None:
        self.to_midi().save(os.fspath(path))
