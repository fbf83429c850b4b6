"""MIDI beat clock: following a DAW (24 ppqn, Start/Stop/Continue, Song Position) and
sending it when livegen is the master."""

from __future__ import annotations

from dataclasses import dataclass

import mido

PPQN = 24


@dataclass(frozen=True)
class ClockEvent:
    """``kind`` is ``step`` (with its ``step`` index), ``start``, ``stop`` or ``continue``."""

    kind: str
    t: float
    step: int = 0


class ClockFollower:
    """Turn incoming clock messages into grid steps.

    Args:
        steps_per_beat: grid steps per quarter note; must divide 24.
    """

    def __init__(self, steps_per_beat: int) -> None:
        if steps_per_beat <= 0 or PPQN % steps_per_beat:
            raise ValueError(f"steps per beat must divide 24 to follow MIDI clock, got {steps_per_beat}")
        self.ticks_per_step = PPQN // steps_per_beat
        self.running = False
        self.ticks = 0  # clocks since song position 0
        self._last_tick: float | None = None
        self._interval: float | None = None  # smoothed seconds per clock

    @property
    def bpm(self) -> float | None:
        """Tempo estimated from the clock's spacing (None before two clocks)."""
        return None if not self._interval else 60.0 / (self._interval * PPQN)

    def on_message(self, msg: mido.Message, t: float) -> ClockEvent | None:
        """Feed one real-time message received at ``t`` seconds; maybe return an event."""
        kind = msg.type
        if kind == "clock":
            if self._last_tick is not None:
                dt = t - self._last_tick
                if 0 < dt < 0.5:
                    self._interval = dt if self._interval is None else 0.9 * self._interval + 0.1 * dt
            self._last_tick = t
            if not self.running:
                return None
            tick = self.ticks
            self.ticks += 1
            if tick % self.ticks_per_step == 0:
                return ClockEvent("step", t, tick // self.ticks_per_step)
            return None
        if kind == "start":
            self.running = True
            self.ticks = 0
            return ClockEvent("start", t)
        if kind == "continue":
            self.running = True
            return ClockEvent("continue", t)
        if kind == "stop":
            self.running = False
            return ClockEvent("stop", t)
        if kind == "songpos":
            self.ticks = int(msg.pos) * 6  # song position counts sixteenths = 6 clocks
            return None
        return None


def clock_messages_for_step(t: float, period: float, ticks_per_step: int) -> list[tuple[float, mido.Message]]:
    """The ``clock`` messages of one grid step starting at ``t`` (s) lasting ``period`` (s)."""
    return [(t + k * period / ticks_per_step, mido.Message("clock")) for k in range(ticks_per_step)]
