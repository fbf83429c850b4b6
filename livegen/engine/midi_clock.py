"""MIDI beat clock: following a DAW (24 ppqn, Start/Stop/Continue, Song Position) and
sending it when livegen is the master."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mido

from livegen.controls.table import CONTROLS

log = logging.getLogger(__name__)

PPQN = 24
#: the tempo range a followed clock is held to (BPM): the tempo control's own range.
MIN_BPM = float(CONTROLS["tempo"].minimum or 30.0)
MAX_BPM = float(CONTROLS["tempo"].maximum or 300.0)
#: a step that follows the previous one sooner than this share of a step at MAX_BPM is
#: dropped: room for a DAW's jitter at the top tempo, none for a clock at 5,000 BPM.
STEP_SLACK = 0.75
#: seconds without a clock after which a running clock counts as lost (a clock at
#: MIN_BPM ticks every 83 ms).
CLOCK_LOST_S = 0.5


@dataclass(frozen=True)
class ClockEvent:
    """``kind`` is ``step`` (with its ``step`` index), ``start``, ``stop`` or ``continue``."""

    kind: str
    t: float
    step: int = 0


class ClockFollower:
    """Turn incoming clock messages into grid steps, held to a sane tempo.

    A clock faster than ``max_bpm`` (a broken device, a feedback loop: 2,000 clocks/s is
    5,000 BPM) never makes livegen step faster than that: a step closer than
    :data:`STEP_SLACK` of a ``max_bpm`` step to the one before is dropped (counted in
    :attr:`dropped_steps`). :attr:`bpm` is the clock's tempo held to
    ``[min_bpm, max_bpm]``; :attr:`measured_bpm` is what the clock implies, and a clock
    outside the range is logged once each time it leaves it.

    Args:
        steps_per_beat: grid steps per quarter note; must divide 24.
        min_bpm, max_bpm: the tempo range held to (default: the tempo control's).
    """

    def __init__(self, steps_per_beat: int, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM) -> None:
        if steps_per_beat <= 0 or PPQN % steps_per_beat:
            raise ValueError(f"steps per beat must divide 24 to follow MIDI clock, got {steps_per_beat}")
        self.ticks_per_step = PPQN // steps_per_beat
        self.min_bpm, self.max_bpm = min_bpm, max_bpm
        self.running = False
        self.ticks = 0  # clocks since song position 0
        self.dropped_steps = 0
        self._min_step_gap = STEP_SLACK * 60.0 / max_bpm / steps_per_beat
        self._last_step: float | None = None
        self._last_tick: float | None = None
        self._interval: float | None = None  # smoothed seconds per clock
        self._out_of_range = False

    @property
    def measured_bpm(self) -> float | None:
        """Tempo the clock's spacing implies (None before two clocks)."""
        return None if not self._interval else 60.0 / (self._interval * PPQN)

    @property
    def bpm(self) -> float | None:
        """Tempo in force: :attr:`measured_bpm` held to ``[min_bpm, max_bpm]``."""
        bpm = self.measured_bpm
        return None if bpm is None else min(self.max_bpm, max(self.min_bpm, bpm))

    def lost(self, now: float) -> bool:
        """A running clock with no tick for :data:`CLOCK_LOST_S` seconds at ``now``."""
        return self.running and self._last_tick is not None and now - self._last_tick > CLOCK_LOST_S

    def _check_range(self) -> None:
        bpm = self.measured_bpm
        if bpm is None:
            return
        outside = not self.min_bpm * 0.98 <= bpm <= self.max_bpm * 1.02
        if outside and not self._out_of_range:
            log.warning("MIDI clock at %.0f BPM is outside %g-%g BPM: livegen follows it at %g BPM at most",
                        bpm, self.min_bpm, self.max_bpm, self.max_bpm if bpm > self.max_bpm else self.min_bpm)
        self._out_of_range = outside

    def on_message(self, msg: mido.Message, t: float) -> ClockEvent | None:
        """Feed one real-time message received at ``t`` seconds; maybe return an event."""
        kind = msg.type
        if kind == "clock":
            if self._last_tick is not None:
                dt = t - self._last_tick
                if 0 < dt < 0.5:
                    self._interval = dt if self._interval is None else 0.9 * self._interval + 0.1 * dt
                    self._check_range()
            self._last_tick = t
            if not self.running:
                return None
            tick = self.ticks
            self.ticks += 1
            if tick % self.ticks_per_step:
                return None
            if self._last_step is not None and t - self._last_step < self._min_step_gap:
                self.dropped_steps += 1
                return None
            self._last_step = t
            return ClockEvent("step", t, tick // self.ticks_per_step)
        if kind == "start":
            self.running = True
            self.ticks = 0
            self._last_step = None
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
