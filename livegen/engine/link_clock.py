"""Following an Ableton Link session: its tempo, beat phase and start/stop, as grid steps.

Link peers on a network share one timeline: a tempo, a beat phase within a *quantum*
(livegen's beats per bar) and, with start/stop sync, a transport. :class:`LinkClock` turns
that timeline into the engine's step events: step ``n`` of livegen is Link beat
``b0 + n / steps_per_beat``, where ``b0`` is a bar line of the session (phase 0), so
livegen's bar 1 starts on a bar of the session. Each step's deadline is read from the
session :data:`LOOKAHEAD_S` before it is due (never from Link's own wake-ups, which come
about 1 ms late), so a tempo change from any peer applies from the next step handed out,
well within a beat, and the timed sender puts the notes exactly on the session's grid.

The binding stays behind :class:`LinkSession` (one capture of the session as a
:class:`LinkState`, and a tempo request): the real one (:mod:`livegen.session.link_peer`)
converts Link's clock to the engine's; tests drive a fake on a manual clock. The tempo
control is the session's tempo: changes from peers are written into it (so the controller
shows them) and changes of the control (OSC ``/livegen/tempo``, CC, a preset) are sent to
the session.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlError, ControlState
from livegen.engine.clock import Clock
from livegen.engine.midi_clock import MAX_BPM, MIN_BPM, ClockEvent

log = logging.getLogger(__name__)

#: seconds before a step's deadline at which the step is handed to the engine (with its
#: deadline read from the session then): room for the event loop's lateness (~1 ms median,
#: 3-7 ms worst), and the most a tempo change can come too late for the next step.
LOOKAHEAD_S = 0.04
#: seconds between looks at the session while waiting (peers, tempo, start/stop).
POLL_S = 0.01
#: the first step after a start comes at least this many seconds after it is noticed.
START_LEAD_S = 0.01
#: tempo differences below this many BPM are the same tempo (Link keeps microseconds per beat).
TEMPO_EPS_BPM = 0.01


@dataclass(frozen=True)
class LinkState:
    """One capture of a Link session; times are seconds on the engine's clock.

    Between captures the timeline is a straight line: ``beat`` at ``t`` and ``tempo`` BPM.
    Beats are phase-aligned to ``quantum``: a bar of the session starts where
    ``beat % quantum == 0`` (each peer may number its beats differently; the phase agrees).

    Attributes:
        peers: other peers in the session.
        tempo: session tempo, BPM.
        quantum: beats per bar the phase is taken in.
        t: capture time, seconds.
        beat: session beat at ``t``.
        playing: the session's transport runs (meaningful with start/stop sync).
        play_time: seconds when the transport last started or stopped.
    """

    peers: int
    tempo: float
    quantum: float
    t: float
    beat: float
    playing: bool = True
    play_time: float = 0.0

    def beat_at(self, t: float) -> float:
        """Session beat at ``t`` seconds."""
        return self.beat + (t - self.t) * self.tempo / 60.0

    def time_at(self, beat: float) -> float:
        """Seconds at which session beat ``beat`` falls."""
        return self.t + (beat - self.beat) * 60.0 / self.tempo

    def phase_at(self, t: float) -> float:
        """Beats since the session's last bar line at ``t`` (``0 <= phase < quantum``)."""
        return self.beat_at(t) % self.quantum

    def bar_at_or_after(self, t: float) -> float:
        """The beat of the first bar line of the session at or after ``t`` seconds."""
        q = self.quantum
        return q * math.ceil(self.beat_at(t) / q - 1e-9)


class LinkSession(Protocol):
    """An Ableton Link session as the engine sees it (the binding behind it is swappable)."""

    def capture(self, quantum: float) -> LinkState:
        """The session now, beats phase-aligned to ``quantum`` beats per bar."""
        ...

    def set_tempo(self, bpm: float) -> None:
        """Ask every peer to play at ``bpm`` BPM from now on."""
        ...


def _ignore(name: str, *args: object) -> None:
    """A feedback sink that drops everything."""


class LinkClock:
    """Step events on a Link session's beat grid (a beat source for the engine).

    Args:
        session: the joined Link session.
        controls: the live state; its tempo control follows the session and is sent to it.
        clock: the engine's clock (deadlines are on it).
        steps_per_beat: grid steps per beat.
        beats_per_bar: livegen's bar length, the Link quantum.
        start_stop: follow the session's transport: play while it runs, stop (every note
            released) when it stops, and start again on a bar line when it starts.
        lookahead: seconds ahead of a deadline at which its step is handed out.
        poll: seconds between looks at the session while waiting.
        start_lead: the first step comes at least this many seconds after a start is seen.
    """

    def __init__(self, session: LinkSession, controls: LiveControls, clock: Clock, *, steps_per_beat: int,
                 beats_per_bar: int = 4, start_stop: bool = False, lookahead: float = LOOKAHEAD_S,
                 poll: float = POLL_S, start_lead: float = START_LEAD_S) -> None:
        if steps_per_beat <= 0 or beats_per_bar <= 0:
            raise ValueError("steps per beat and beats per bar must be positive")
        self.session = session
        self.controls = controls
        self.clock = clock
        self.steps_per_beat = steps_per_beat
        self.quantum = float(beats_per_bar)
        self.start_stop = start_stop
        self.lookahead = lookahead
        self.poll = poll
        self.start_lead = start_lead
        self.state: LinkState | None = None
        self.running = False  # steps are being handed out
        self.late_steps = 0  # steps skipped because their deadline passed before they were handed out
        self.starts = 0
        self._b0 = 0.0  # the session beat of livegen's bar 1
        self._n = 0  # the next step to hand out
        self._writing = False  # the tempo control is being set from the session
        controls.on_change(self._on_controls)

    # ---- what the engine and the live view read ------------------------------------------

    @property
    def bpm(self) -> float | None:
        """The session's tempo (BPM), once it has been looked at."""
        return None if self.state is None else self.state.tempo

    def status(self) -> dict[str, object]:
        """``link_peers``, ``link_tempo`` (BPM) and ``link_phase`` (beats into the session's
        bar, now) for the live view."""
        s = self.state
        if s is None:
            return {}
        return {"link_peers": s.peers, "link_tempo": s.tempo, "link_phase": s.phase_at(self.clock.now())}

    # ---- tempo both ways ------------------------------------------------------------------

    def _on_controls(self, names: Sequence[str], state: ControlState) -> None:
        """The tempo control changed (OSC, CC, a preset): send it to the session."""
        if "tempo" not in names or self._writing or self.state is None:
            return
        if abs(state.tempo - self.state.tempo) > TEMPO_EPS_BPM:
            log.info("Link: asking the session for %g BPM", state.tempo)
            self.session.set_tempo(state.tempo)
            self.state = self.session.capture(self.quantum)  # the next step uses it at once

    def _show_tempo(self, bpm: float) -> None:
        """Write the session's tempo into the tempo control (held to the control's range)."""
        value = min(MAX_BPM, max(MIN_BPM, round(bpm, 2)))
        if abs(self.controls.state.tempo - value) <= TEMPO_EPS_BPM:
            return
        self._writing = True
        try:
            with contextlib.suppress(ControlError):
                self.controls.set("tempo", value)
        finally:
            self._writing = False

    def _refresh(self, feedback: Callable[..., None]) -> LinkState:
        """Capture the session; report peers and tempo when they changed."""
        old = self.state
        s = self.state = self.session.capture(self.quantum)
        if old is None or s.peers != old.peers:
            log.info("Link: %d peer%s", s.peers, "" if s.peers == 1 else "s")
            feedback("link_peers", s.peers)
        if old is None or abs(s.tempo - old.tempo) > 1e-9:
            if old is not None:
                log.info("Link: session tempo %.2f BPM", s.tempo)
            feedback("link_tempo", round(s.tempo, 3))
            self._show_tempo(s.tempo)
        return s

    # ---- the steps ------------------------------------------------------------------------

    def _start(self, s: LinkState, now: float) -> None:
        """Put livegen's bar 1 on the session's first bar line that can still be made."""
        earliest = now + self.start_lead
        if self.start_stop:
            earliest = max(earliest, s.play_time)
        self._b0 = s.bar_at_or_after(earliest)
        self._n = 0
        self.running = True
        self.starts += 1
        log.info("Link: bar 1 at session beat %.2f (%.1f ms from now)", self._b0,
                 (s.time_at(self._b0) - now) * 1000.0)

    def _catch_up(self, s: LinkState, now: float) -> None:
        """The next step's deadline passed (a stalled loop) or the session's beats jumped
        back: go on with the first step still ahead, keeping livegen's bars on the session's."""
        beat = s.beat_at(now + self.start_lead)
        if beat < self._b0:
            self._b0 = self.quantum * math.floor(beat / self.quantum)
        n = math.ceil((beat - self._b0) * self.steps_per_beat - 1e-9)
        if n > self._n:
            self.late_steps += n - self._n
            log.warning("Link: %d step(s) late: skipped", n - self._n)
        self._n = n

    async def run(self, emit: Callable[[ClockEvent], None], feedback: Callable[..., None] = _ignore) -> None:
        """Hand out ``start``, ``step`` (with deadline and index) and ``stop`` events until
        cancelled; ``feedback(name, *args)`` hears ``link_peers``, ``link_tempo`` and, on
        every beat, ``link_phase``."""
        spb = self.steps_per_beat
        while True:
            s = self._refresh(feedback)
            now = self.clock.now()
            # (the transport's start time is not compared between looks: Link keeps it in
            # beats, so it moves with every tempo change)
            if self.running and self.start_stop and not s.playing:
                self.running = False
                log.info("Link: the session stopped; every note released")
                emit(ClockEvent("stop", now))
            if self.start_stop and not s.playing:
                await self.clock.sleep_until(now + self.poll)
                continue
            if not self.running:
                self._start(s, now)
                emit(ClockEvent("start", now))
            beat = self._b0 + self._n / spb
            if self._n > 0 and s.beat_at(now) < beat - 1.0 - 1.0 / spb - self.lookahead * s.tempo / 60.0:
                # the session's beats went back (a peer moved the timeline)
                self._catch_up(s, now)
                continue
            t = s.time_at(beat)
            if t - self.lookahead > now:
                await self.clock.sleep_until(min(t - self.lookahead, now + self.poll))
                continue
            if t < now:
                self._catch_up(s, now)
                continue
            log.debug("Link: step %d (beat %.3f, %.1f BPM) due in %.2f ms", self._n, beat, s.tempo,
                      (t - now) * 1000.0)
            emit(ClockEvent("step", t, self._n))
            if self._n % spb == 0:
                feedback("link_phase", round(s.phase_at(t), 3))
            self._n += 1
