"""Sending MIDI at exact times.

:class:`ThreadScheduler` owns a thread that sleeps until ~1 ms before each deadline and
then spins, so messages leave within microseconds of their deadline whatever the asyncio
loop is doing (asyncio alone is ~1 ms late, 3-7 ms worst; see DESIGN.md). It asks for
SCHED_FIFO and falls back quietly when refused. :class:`ManualScheduler` releases messages
as a :class:`~livegen.engine.clock.ManualClock` passes their deadlines.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import mido

from livegen.engine.clock import ManualClock

log = logging.getLogger(__name__)

SPIN_S = 0.001  # spin for the last millisecond before a deadline


class Sender(Protocol):
    def send(self, msg: mido.Message) -> None: ...


class Scheduler(Protocol):
    """Sends MIDI at deadlines (seconds on the engine's clock); owns the output port."""

    def schedule(self, deadline: float, messages: Sequence[mido.Message]) -> None:
        """Send ``messages`` at ``deadline``."""

    def send_now(self, messages: Sequence[mido.Message]) -> None:
        """Send ``messages`` at once, ahead of anything scheduled. ThreadScheduler: any thread."""

    def cancel_pending(self) -> list[mido.Message]:
        """Drop everything scheduled and not yet sent; return it. ThreadScheduler: any thread."""

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (up to ``timeout`` s) until everything scheduled has been sent."""

    def close(self) -> None:
        """Stop sending; the port stays the caller's."""


@dataclass
class SendStats:
    """Timing of scheduled sends: ``errors_s`` = actual - deadline (s) per batch."""

    errors_s: list[float] = field(default_factory=list)
    send_failures: int = 0
    max_keep: int = 100_000

    def add(self, err: float) -> None:
        if len(self.errors_s) < self.max_keep:
            self.errors_s.append(err)


def _try_realtime() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return True
    except (AttributeError, PermissionError, OSError):
        return False


class ThreadScheduler:
    """Precise timed sends from a dedicated thread.

    :meth:`schedule`, :meth:`send_now` and :meth:`cancel_pending` may be called from any
    thread (one lock guards the queue). A batch that arrives while the thread spins for a
    later deadline is sent first, without waiting for that deadline: a panic sent from the
    OSC receiver leaves within microseconds.

    Args:
        out: where messages go (``send(msg)``); exceptions are counted and logged, never
            raised into the engine.
        clock: ``time.monotonic`` by default (the engine's time base).
        realtime: try SCHED_FIFO for the sending thread.
        on_sent: optional ``callback(deadline, actual, messages)`` run on the sending thread.
    """

    def __init__(self, out: Sender, clock: Callable[[], float] = time.monotonic,
                 realtime: bool = True,
                 on_sent: Callable[[float, float, Sequence[mido.Message]], None] | None = None) -> None:
        self.out = out
        self.clock = clock
        self.on_sent = on_sent
        self.stats = SendStats()
        self.realtime = False
        self._heap: list[tuple[float, int, Sequence[mido.Message]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._target = math.inf  # the deadline the thread waits or spins for
        self._earlier = False  # a batch due before that one arrived
        self._want_rt = realtime
        self._thread = threading.Thread(target=self._run, name="livegen-midi-out", daemon=True)
        self._thread.start()

    def schedule(self, deadline: float, messages: Sequence[mido.Message]) -> None:
        """Send ``messages`` (in order) at ``deadline`` seconds."""
        if not messages:
            return
        with self._cv:
            if deadline < self._target:
                self._earlier = True
            heapq.heappush(self._heap, (deadline, next(self._seq), list(messages)))
            self._cv.notify()

    def send_now(self, messages: Sequence[mido.Message]) -> None:
        """Send as soon as possible, after anything already due (any thread)."""
        self.schedule(self.clock(), messages)

    def pending(self) -> int:
        with self._cv:
            return len(self._heap)

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until every message due by now has been sent."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._cv:
                if not self._heap or self._heap[0][0] > self.clock():
                    return
            time.sleep(0.0005)

    def cancel_pending(self) -> list[mido.Message]:
        """Drop everything not yet sent (used before an emergency release).

        Returns the dropped messages in send order, so that a caller can still send the
        note-offs among them (dropping a queued note-off would leave a note hanging).
        """
        with self._cv:
            dropped = [m for _, _, batch in sorted(self._heap) for m in batch]
            self._heap.clear()
        return dropped

    def close(self) -> None:
        """Send what is due, stop the thread."""
        self.flush()
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        if self._want_rt:
            self.realtime = _try_realtime()
        while True:
            with self._cv:
                while not self._closed and not self._heap:
                    self._cv.wait()
                if self._closed and not self._heap:
                    return
                deadline = self._target = self._heap[0][0]
                self._earlier = False
                wait = deadline - self.clock() - SPIN_S
                if wait > 0 and not self._closed:
                    self._cv.wait(timeout=wait)
                    continue  # re-check: an earlier deadline may have arrived
            while self.clock() < deadline and not self._earlier:
                pass  # the last millisecond: spin (an earlier batch, e.g. a panic, ends it)
            with self._cv:
                if not self._heap or self._heap[0][0] != deadline or self._earlier:
                    continue  # cancelled, or an earlier batch came: start over with the first
                _, _, messages = heapq.heappop(self._heap)
            actual = self.clock()
            for msg in messages:
                try:
                    self.out.send(msg)
                except Exception as exc:  # a vanished device must not stop the clock
                    self.stats.send_failures += 1
                    n = self.stats.send_failures
                    if n & (n - 1) == 0:  # 1, 2, 4, 8, ...: a dead port does not flood the log
                        log.warning("MIDI send failed (%d so far): %s", n, exc)
            self.stats.add(actual - deadline)
            if self.on_sent is not None:
                self.on_sent(deadline, actual, messages)


class ManualScheduler:
    """Releases scheduled messages as a :class:`ManualClock` passes their deadlines.

    The clock is set to each deadline while its messages are sent, so an output that
    stamps ``clock.now()`` records exact times.
    """

    def __init__(self, out: Sender, clock: ManualClock,
                 on_sent: Callable[[float, float, Sequence[mido.Message]], None] | None = None) -> None:
        self.out = out
        self.clock = clock
        self.on_sent = on_sent
        self.stats = SendStats()
        self._heap: list[tuple[float, int, Sequence[mido.Message]]] = []
        self._seq = itertools.count()
        clock.on_advance(self._release)

    def schedule(self, deadline: float, messages: Sequence[mido.Message]) -> None:
        if not messages:
            return
        if deadline <= self.clock.now():
            self._send(self.clock.now(), list(messages))
            return
        heapq.heappush(self._heap, (deadline, next(self._seq), list(messages)))

    def send_now(self, messages: Sequence[mido.Message]) -> None:
        self._release(self.clock.now())
        self._send(self.clock.now(), list(messages))

    def cancel_pending(self) -> list[mido.Message]:
        dropped = [m for _, _, batch in sorted(self._heap) for m in batch]
        self._heap.clear()
        return dropped

    def flush(self, timeout: float = 0.0) -> None:
        self._release(self.clock.now())

    def close(self) -> None:
        self.flush()

    def _release(self, t: float) -> None:
        while self._heap and self._heap[0][0] <= t:
            deadline, _, messages = heapq.heappop(self._heap)
            saved = self.clock.t
            self.clock.t = deadline
            self._send(deadline, messages)
            self.clock.t = max(saved, deadline)

    def _send(self, deadline: float, messages: Sequence[mido.Message]) -> None:
        for msg in messages:
            self.out.send(msg)
        self.stats.add(0.0)
        if self.on_sent is not None:
            self.on_sent(deadline, deadline, messages)
