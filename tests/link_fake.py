"""A fake Ableton Link session on a manual clock: a straight-line timeline with scripted tempo
changes, start/stop and peers, for fast deterministic tests of :class:`LinkClock`."""

from __future__ import annotations

from dataclasses import dataclass, field

from livegen.engine.clock import ManualClock
from livegen.engine.link_clock import LinkState


@dataclass
class FakeLink:
    """One session as every peer sees it. ``script`` holds ``(time, action, value)`` applied
    when the manual clock passes ``time``: ``tempo`` (BPM), ``playing`` (bool), ``peers``.

    The timeline is beat ``beat0`` at ``t0`` and ``tempo`` BPM from there; a tempo change at
    ``t`` keeps the beat at ``t`` (as Link does), so beats never jump. Like Link, the
    transport's start is kept in beats, so its time moves with each tempo change.
    """

    clock: ManualClock
    tempo: float = 100.0
    t0: float = 0.0
    beat0: float = 0.3  # the session is 0.3 beat past a bar line at t0
    peers: int = 1
    playing: bool = True
    play_beat: float = 0.3
    script: list[tuple[float, str, object]] = field(default_factory=list)
    requested: list[tuple[float, float]] = field(default_factory=list)  # (time, bpm) from livegen
    captures: int = 0

    def __post_init__(self) -> None:
        self.script.sort(key=lambda a: a[0])
        self.clock.on_advance(self._advance)

    def beat_at(self, t: float) -> float:
        return self.beat0 + (t - self.t0) * self.tempo / 60.0

    def time_at(self, beat: float) -> float:
        return self.t0 + (beat - self.beat0) * 60.0 / self.tempo

    def _retime(self, t: float, bpm: float) -> None:
        self.beat0, self.t0, self.tempo = self.beat_at(t), t, bpm

    def _advance(self, t: float) -> None:
        while self.script and self.script[0][0] <= t:
            at, action, value = self.script.pop(0)
            if action == "tempo":
                self._retime(at, float(value))  # type: ignore[arg-type]
            elif action == "playing":
                self.playing, self.play_beat = bool(value), self.beat_at(at)
            elif action == "peers":
                self.peers = int(value)  # type: ignore[call-overload]
            else:
                raise ValueError(action)

    def capture(self, quantum: float) -> LinkState:
        self.captures += 1
        now = self.clock.now()
        return LinkState(peers=self.peers, tempo=self.tempo, quantum=quantum, t=now, beat=self.beat_at(now),
                         playing=self.playing, play_time=self.time_at(self.play_beat))

    def set_tempo(self, bpm: float) -> None:
        now = self.clock.now()
        self.requested.append((now, bpm))
        self._retime(now, bpm)
