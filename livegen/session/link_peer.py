"""Joining an Ableton Link session through the LinkPython-extern binding (``livegen[link]``).

:class:`LinkPeer` is livegen's Link peer. It captures the session as one
:class:`~livegen.engine.link_clock.LinkState` whose times are on the engine's clock
(``time.monotonic``): Link's own clock is ``CLOCK_MONOTONIC_RAW`` based, so its offset to
``time.monotonic`` is measured (:class:`ClockOffset`: the tightest of a few bracketed
readings, ~1 us) and measured again every :data:`OFFSET_REFRESH_S` seconds, as the two
clocks drift apart while NTP slews ``time.monotonic``.

Why LinkPython-extern and not aalink: both install from PyPI and join sessions here, but
LinkPython-extern hands over a whole session state (tempo, beat and phase at any time, the
transport and its start time) captured at once, which is what converting beats to deadlines
needs; aalink reads the current beat and time one property at a time and schedules with
``await link.sync(beat)``, which wakes ~1 ms late.

Link finds peers by multicast on every network interface: run tests in a private network
namespace (see ``benchmarks/netns.py``), never on a shared network by accident.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livegen.engine.link_clock import LinkState
from livegen.errors import LivegenError

_link_binding: Any
try:  # the optional binding: pip install 'livegen[link]'
    import link as _link_binding
except ImportError:  # pragma: no cover - depends on the environment
    _link_binding = None

log = logging.getLogger(__name__)

#: the one line a missing binding gives.
MISSING_BINDING = "--clock link needs the Link binding: pip install 'livegen[link]'"
#: seconds between measurements of Link's clock against the engine's.
OFFSET_REFRESH_S = 1.0
#: bracketed readings per measurement; the tightest bracket wins.
OFFSET_READINGS = 7
#: seconds ``wait_joined`` waits for a first peer by default.
JOIN_TIMEOUT_S = 1.0


def binding_available() -> bool:
    """True when the Link binding (``import link``, LinkPython-extern) is installed."""
    return _link_binding is not None


@dataclass(frozen=True)
class ClockOffset:
    """``link_s - engine_s`` for one moment, with the bracket it was read in.

    Attributes:
        offset_s: Link clock minus engine clock, seconds.
        bracket_s: width of the tightest engine-clock bracket around the Link reading, s.
    """

    offset_s: float
    bracket_s: float

    @staticmethod
    def measure(link_micros: Callable[[], int], engine_now: Callable[[], float] = time.monotonic,
                readings: int = OFFSET_READINGS) -> ClockOffset:
        """Read Link's clock between two engine-clock readings ``readings`` times; keep the
        tightest bracket and take its middle."""
        best = ClockOffset(0.0, float("inf"))
        for _ in range(readings):
            a = engine_now()
            m = link_micros()
            b = engine_now()
            if b - a < best.bracket_s:
                best = ClockOffset(m / 1e6 - (a + b) / 2.0, b - a)
        return best


class LinkPeer:
    """livegen's peer in a Link session (LinkPython-extern).

    Args:
        bpm: tempo proposed when livegen starts a session alone (a session that exists
            keeps its own tempo).
        start_stop: share the transport (start/stop sync).
        engine_now: the engine's clock (seconds); its times are what :meth:`capture` gives.

    Raises:
        LivegenError: the binding is not installed (:data:`MISSING_BINDING`).
    """

    def __init__(self, bpm: float, *, start_stop: bool = False,
                 engine_now: Callable[[], float] = time.monotonic) -> None:
        if _link_binding is None:
            raise LivegenError(MISSING_BINDING)
        self._engine_now = engine_now
        self._link: Any = _link_binding.Link(float(bpm))
        self._clock: Any = self._link.clock()
        self._link.startStopSyncEnabled = start_stop
        self._link.enabled = True
        self.enabled_at = engine_now()
        self._offset = ClockOffset.measure(self._clock.micros, engine_now)
        self._measured_at = self.enabled_at
        self.closed = False

    # ---- clocks ---------------------------------------------------------------------------

    def offset(self) -> ClockOffset:
        """Link's clock minus the engine's (seconds), measured again when it is old."""
        now = self._engine_now()
        if now - self._measured_at >= OFFSET_REFRESH_S:
            self._offset = ClockOffset.measure(self._clock.micros, self._engine_now)
            self._measured_at = now
            log.debug("Link clock - engine clock: %.6f s (bracket %.1f us)", self._offset.offset_s,
                      self._offset.bracket_s * 1e6)
        return self._offset

    def to_engine(self, micros: int) -> float:
        """Link time in microseconds -> engine seconds."""
        return micros / 1e6 - self.offset().offset_s

    def to_link(self, t: float) -> int:
        """Engine seconds -> Link time in microseconds."""
        return round((t + self.offset().offset_s) * 1e6)

    # ---- the session ----------------------------------------------------------------------

    def peers(self) -> int:
        """Other peers in the session."""
        return int(self._link.numPeers())

    def capture(self, quantum: float) -> LinkState:
        """The session now: tempo, the beat (phase-aligned to ``quantum``), the transport."""
        state = self._link.captureAppSessionState()
        micros = int(self._clock.micros())
        return LinkState(peers=self.peers(), tempo=float(state.tempo()), quantum=quantum,
                         t=self.to_engine(micros), beat=float(state.beatAtTime(micros, quantum)),
                         playing=bool(state.isPlaying()),
                         play_time=self.to_engine(int(state.timeForIsPlaying())))

    def set_tempo(self, bpm: float) -> None:
        """Ask the session for ``bpm`` BPM from now on."""
        state = self._link.captureAppSessionState()
        state.setTempo(float(bpm), int(self._clock.micros()))
        self._link.commitAppSessionState(state)

    def wait_joined(self, timeout: float = JOIN_TIMEOUT_S, poll: float = 0.005) -> float | None:
        """Wait up to ``timeout`` seconds for a first peer; the seconds it took from
        enabling Link, or None when no peer answered (livegen then leads a session alone)."""
        end = self.enabled_at + timeout
        while self._engine_now() < end:
            if self.peers() > 0:
                return self._engine_now() - self.enabled_at
            time.sleep(poll)
        return None

    def close(self) -> None:
        """Leave the session (the other peers see one peer fewer at once)."""
        if not self.closed:
            self.closed = True
            self._link.enabled = False


def describe(state: LinkState) -> str:
    """``Link: 2 peers, 120 BPM``: the start-up line."""
    return f"Link: {state.peers} peer{'' if state.peers == 1 else 's'}, {round(state.tempo, 2):g} BPM"
