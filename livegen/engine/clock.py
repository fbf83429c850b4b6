"""Time sources for the engine: the real monotonic clock and a manual one for tests.

All engine times are seconds on one monotonic base. Deadlines are absolute; nothing
sleeps for "period minus elapsed".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the engine needs of time."""

    def now(self) -> float:
        """Current time in seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return at (or just after) ``deadline``."""
        ...


class LiveClock:
    """``time.monotonic()``; sleeps with asyncio (coarse, ~1 ms: precise sends go through
    :class:`~livegen.engine.scheduler.ThreadScheduler`)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)


class ManualClock:
    """Virtual time that jumps straight to each deadline: the engine runs in zero wall time.

    Listeners registered with :meth:`on_advance` are called with each new time so that a
    scheduler can release what fell due (in deadline order).
    """

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self.t

    def on_advance(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def advance_to(self, t: float) -> None:
        """Move time forward to ``t`` (never backwards), notifying listeners."""
        if t > self.t:
            for listener in self._listeners:
                listener(t)
            self.t = t

    async def sleep_until(self, deadline: float) -> None:
        self.advance_to(deadline)
        await asyncio.sleep(0)
