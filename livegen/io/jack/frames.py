"""Where the engine's times fall in a JACK cycle, and when a frame happened on the engine's clock.

The engine keeps time in seconds on ``time.monotonic()`` (``CLOCK_MONOTONIC``). JACK counts
frames, and tells in each process cycle (``jack_get_cycle_times``) the first frame of the
cycle, the time in microseconds on *its* clock when that cycle started and when the next one
starts (both smoothed by JACK's delay-locked loop). JACK2's clock is ``CLOCK_MONOTONIC_RAW``
on Linux (measured: ~0.23 s from ``CLOCK_MONOTONIC`` here, and NTP may slew one against the
other), so the offset between the two clocks is measured as well: a JACK time read between
two engine-clock reads (:func:`offset_sample`), taken again every cycle.

:class:`FrameClock` holds one cycle's figures and converts both ways, relative to the first
frame of the cycle (JACK's frame counter is 32 bits and wraps after ~25 h at 48 kHz; offsets
within a cycle never do). Pure arithmetic, no JACK: tests drive it with made-up cycles.
"""

from __future__ import annotations

import math

#: a JACK-time read bracketed by engine-clock reads further apart than this (s) is not used:
#: the thread was interrupted between them.
MAX_BRACKET_S = 20e-6


def offset_sample(before_s: float, jack_us: int | float, after_s: float) -> float | None:
    """Engine clock minus JACK clock (s), from a JACK time (µs) read between two engine-clock
    reads (s); None when the reads were more than :data:`MAX_BRACKET_S` apart."""
    if not 0.0 <= after_s - before_s <= MAX_BRACKET_S:
        return None
    return 0.5 * (before_s + after_s) - jack_us * 1e-6


class FrameClock:
    """One JACK cycle's map between the engine's clock (s) and frames.

    Updated in place from the process callback each cycle (:meth:`set_cycle`,
    :meth:`set_offset`); converting allocates nothing but the float it returns.

    Attributes:
        frames: frames in the cycle (JACK's buffer size).
        start_us: JACK time (µs) at the cycle's first frame.
        period_us: JACK time (µs) the cycle lasts (next cycle's start - this one's).
        offset_s: engine clock - JACK clock (s).
    """

    __slots__ = ("frames", "start_us", "period_us", "offset_s", "_per_us")

    def __init__(self, frames: int = 256, start_us: float = 0.0, period_us: float = 256 / 48000 * 1e6,
                 offset_s: float = 0.0) -> None:
        self.frames = frames
        self.start_us = start_us
        self.period_us = period_us
        self.offset_s = offset_s
        self._per_us = frames / period_us

    def set_cycle(self, frames: int, start_us: float, next_us: float) -> None:
        """This cycle: ``frames`` frames from JACK time ``start_us`` to ``next_us`` (µs)."""
        self.frames = frames
        self.start_us = start_us
        if next_us > start_us:  # a broken pair keeps the last rate
            self.period_us = next_us - start_us
            self._per_us = frames / self.period_us

    def set_offset(self, offset_s: float) -> None:
        """Engine clock - JACK clock, in seconds (see :func:`offset_sample`)."""
        self.offset_s = offset_s

    def rate_hz(self) -> float:
        """Frames per second on JACK's clock in this cycle."""
        return self._per_us * 1e6

    def place_cycle(self, start_s: float) -> None:
        """Put this cycle's first frame at engine time ``start_s`` (s), keeping the rate: for
        a cycle whose JACK estimate is implausible."""
        self.start_us = (start_s - self.offset_s) * 1e6

    def position(self, t: float) -> float:
        """Frames from this cycle's first frame to engine time ``t`` (s); negative: before it."""
        return ((t - self.offset_s) * 1e6 - self.start_us) * self._per_us

    def time_at(self, position: float) -> float:
        """Engine time (s) of the frame ``position`` frames after this cycle's first frame."""
        return self.offset_s + (self.start_us + position / self._per_us) * 1e-6

    def slot(self, t: float, latency: int) -> int:
        """The frame (from this cycle's first) where an event due at engine time ``t`` (s) is
        written: its nearest frame plus ``latency`` frames. ``>= frames``: a later cycle;
        negative: it is late."""
        return math.floor(self.position(t) + 0.5) + latency


#: JACK's frame counter is 32 bits
FRAME_WRAP = 1 << 32


#: seconds the frame timeline may fall behind the wall clock before it jumps forward to it: a
#: stalled server (a synchronous one waits ~5 s for a killed client) or xruns that lost cycles
#: (the dummy driver's frames then fall ~1% behind); smaller lags are kept, so the grid holds
MAX_LAG_S = 0.25


class FrameTimeline:
    """The engine's clock pinned to JACK's frames (the audio clock), as a DAW keeps time.

    Timeline seconds are ``base_s + frames since the first cycle / rate``: a deadline maps to
    exactly one frame (``round((t - base_s) * rate)``), so steps evenly spaced in timeline
    seconds land evenly spaced in frames whatever the wall clock does (the dummy driver, after
    an xrun, lets its frames fall ~1% behind the wall clock: a map through wall-clock time then
    bends the grid). ``base_s`` is fixed at the first cycle from an anchor: timeline time
    ``anchor_s`` at engine-clock time ``anchor_mono_s``, so the timeline starts where the
    engine's clock is and continues it across a new helper. Once the timeline has fallen more
    than :data:`MAX_LAG_S` behind the wall clock it jumps forward to it (one step off the
    grid, instead of the engine waiting for the frames to catch up). The frame count wraps
    after 2^32 frames (~24.8 h at 48 kHz).

    Same interface as :class:`FrameClock` for the scheduler (``frames``, :meth:`slot`,
    :meth:`time_at`); updated in place from the process callback each cycle.
    """

    __slots__ = ("rate", "anchor_s", "anchor_mono_s", "base_s", "first_frame", "frames", "cycle_frame",
                 "cycle_mono_s", "started", "jumps")

    def __init__(self, rate: float, anchor_s: float, anchor_mono_s: float) -> None:
        self.rate = float(rate)
        self.anchor_s = anchor_s
        self.anchor_mono_s = anchor_mono_s
        self.base_s = anchor_s
        self.first_frame = 0
        self.frames = 0
        self.cycle_frame = 0
        self.cycle_mono_s = anchor_mono_s
        self.started = False
        #: times the timeline jumped forward to the wall clock (:data:`MAX_LAG_S`)
        self.jumps = 0

    def set_cycle(self, frames: int, first_frame: int, start_mono_s: float) -> None:
        """This cycle: ``frames`` frames from JACK frame ``first_frame``, which JACK's clock
        places at engine-clock time ``start_mono_s`` (used once, to fix the base, and to tell
        the engine where the timeline is on its clock)."""
        if not self.started:
            self.started = True
            self.first_frame = first_frame
            self.base_s = self.anchor_s + (start_mono_s - self.anchor_mono_s)
        self.frames = frames
        self.cycle_frame = (first_frame - self.first_frame) % FRAME_WRAP
        self.cycle_mono_s = start_mono_s
        lag = (start_mono_s - self.anchor_mono_s) - (self.cycle_start() - self.anchor_s)
        if lag > MAX_LAG_S:  # the server stalled (or lost many cycles): catch up at once
            self.base_s += lag
            self.jumps += 1

    def cycle_start(self) -> float:
        """Timeline time (s) of this cycle's first frame."""
        return self.base_s + self.cycle_frame / self.rate

    def now(self, mono_s: float) -> float:
        """Timeline time (s) at engine-clock time ``mono_s`` (from this cycle's start)."""
        return self.cycle_start() + (mono_s - self.cycle_mono_s)

    def slot(self, t: float, latency: int) -> int:
        """The frame (from this cycle's first) where an event due at timeline time ``t`` is
        written: its frame plus ``latency``. ``>= frames``: a later cycle; negative: late."""
        return math.floor((t - self.base_s) * self.rate + 0.5) - self.cycle_frame + latency

    def time_at(self, position: float) -> float:
        """Timeline time (s) of the frame ``position`` frames after this cycle's first."""
        return self.base_s + (self.cycle_frame + position) / self.rate
