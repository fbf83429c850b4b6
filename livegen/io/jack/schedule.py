"""Timed MIDI bytes for a JACK process callback: each event written at the frame of its deadline.

:class:`JackScheduler` lives in the JACK helper process (:mod:`livegen.io.jack.helper`). Its
pipe reader hands it ``(deadline, bytes)`` as the engine scheduled them; the bytes wait in a
heap ordered by deadline. In each JACK cycle the process callback calls
:meth:`JackScheduler.write_cycle`, which writes every event whose frame falls in that cycle at
its own offset: the frame of its deadline (:meth:`~livegen.io.jack.frames.FrameClock.slot`)
plus a fixed latency of ``latency`` frames (one period by default). The latency is what lets
an event queued up to one period late (a panic sent "now") still land on its exact frame: no
jitter, only a constant delay. An event later than that goes out at the cycle's first frame
and is counted late.

Bounded work per cycle: at most ``max_per_cycle`` events, one short lock (never waited on for
more than :data:`LOCK_WAIT_S`), no message objects built (bytes come from the engine).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from livegen.io.jack.frames import FrameClock, FrameTimeline

log = logging.getLogger(__name__)

#: seconds the process callback waits for the queue's lock before leaving the cycle's events
#: to the next cycle (the engine holds it for microseconds).
LOCK_WAIT_S = 0.0002
#: events queued beyond this are dropped (counted): a stalled server must not grow memory.
MAX_PENDING = 50_000
#: events written per cycle at most (a JACK MIDI buffer of 256 frames holds a few hundred).
MAX_PER_CYCLE = 512
#: ``flush`` stops waiting when no cycle has run for this long (s): a dead or stalled server.
STALL_S = 0.25

#: events written most recently, kept with their deadlines for :meth:`JackScheduler.cancel_after`
WRITTEN_KEPT = 1024

#: ``write(offset, data) -> bool``: put ``data`` at frame ``offset`` of the cycle's buffer.
EventWriter = Callable[[int, bytes], bool]


@dataclass
class JackOutStats:
    """What the callback did with scheduled events (counts; ``max_late_frames`` in frames)."""

    written: int = 0
    late: int = 0
    max_late_frames: int = 0
    dropped: int = 0  # queue full
    write_failures: int = 0  # JACK's buffer full
    lock_misses: int = 0  # cycles that left their events to the next one
    cycles: int = 0


class JackScheduler:
    """The helper process's queue of timed MIDI bytes, written by its JACK process callback.

    :meth:`schedule`, :meth:`cancel_after` and :meth:`flush` may be called from any thread of
    the helper (its pipe reader); :meth:`write_cycle` only from the process callback.

    Args:
        latency: frames added to every event's frame (one JACK period by default).
    """

    def __init__(self, latency: int = 256, max_pending: int = MAX_PENDING,
                 max_per_cycle: int = MAX_PER_CYCLE) -> None:
        self.latency = latency
        self.max_pending = max_pending
        self.max_per_cycle = max_per_cycle
        self.stats = JackOutStats()
        #: False while no process callback runs (client closed, server gone): flush does not wait
        self.active = True
        self.last_cycle = time.monotonic()  # engine time of the last cycle
        self._heap: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        #: ``(deadline, data)`` of the events written last (a cancel that came late finds here
        #: what was already written of what it cancels)
        self._written: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=WRITTEN_KEPT)

    # ---- the pipe reader's side ---------------------------------------------------------------

    def schedule(self, deadline: float, data: bytes) -> None:
        """Write ``data`` (one MIDI message) at the frame of ``deadline`` (engine seconds) +
        latency, after anything scheduled before it for the same deadline."""
        with self._lock:
            if len(self._heap) >= self.max_pending:
                self.stats.dropped += 1
                n = self.stats.dropped
                if n & (n - 1) == 0:
                    log.warning("JACK MIDI queue full: %d message(s) dropped so far", n)
                return
            heapq.heappush(self._heap, (deadline, next(self._seq), data))

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    def cancel_after(self, t: float) -> list[bytes]:
        """Drop every event due after engine time ``t`` (s); those due by then still play.

        The engine counts everything due after ``t`` as never sent. A cancel that reaches
        the helper late (the pipe or the helper's thread held up on a loaded machine) finds
        some of those already written: they are returned, in the order written, so the
        helper can take back their note-ons (:meth:`Helper.cancel_after`)."""
        with self._lock:
            keep = [item for item in self._heap if item[0] <= t]
            heapq.heapify(keep)
            self._heap = keep
            early = [data for deadline, data in self._written if deadline > t]
        return early

    def running(self) -> bool:
        """True while a process callback has run within :data:`STALL_S`."""
        return self.active and time.monotonic() - self.last_cycle < STALL_S

    def flush(self, until: float, timeout: float = 2.0) -> None:
        """Wait (up to ``timeout`` s) until every event due by engine time ``until`` has been
        written; at once when no process callback runs (the server is gone or stalled)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._heap or self._heap[0][0] > until:
                    return
            if not self.running():
                return
            time.sleep(0.0005)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Write nothing more."""
        self._closed = True

    # ---- the process callback's side -------------------------------------------------------------

    def write_cycle(self, clock: FrameClock | FrameTimeline, write: EventWriter, now: float) -> int:
        """Write the events that fall in this cycle at their frames; return how many.

        Args:
            clock: this cycle's map from engine time to frames (through JACK's clock, or the
                frame timeline when the engine keeps time on frames).
            write: puts one event into this cycle's output buffer.
            now: the engine's time as the callback runs (for :meth:`running`).
        """
        self.last_cycle = now
        stats = self.stats
        stats.cycles += 1
        if self._closed or not self._heap:
            return 0
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            stats.lock_misses += 1
            return 0
        heap = self._heap
        frames = clock.frames
        latency = self.latency
        last = 0
        n = 0
        try:
            while heap and n < self.max_per_cycle:
                deadline, _, data = heap[0]
                slot = clock.slot(deadline, latency)
                if slot >= frames:
                    break
                heapq.heappop(heap)
                if slot < 0:
                    stats.late += 1
                    stats.max_late_frames = max(stats.max_late_frames, -slot)
                    slot = 0
                if slot < last:  # same frame or earlier than one already written: JACK needs order
                    slot = last
                if write(slot, data):
                    stats.written += 1
                    self._written.append((deadline, data))
                else:
                    stats.write_failures += 1
                last = slot
                n += 1
        finally:
            self._lock.release()
        return n
