"""A logger that cannot be flooded: one line per second per kind, quoted text shortened.

Whatever arrives from the network can be logged through :class:`RateLimitedLog`. Lines are
grouped by a *kind* (``"garbage"``, ``"refused"``, ...); of each kind at most one line is
written per ``interval`` seconds, and the next line written says how many were held back
in between. :meth:`RateLimitedLog.flush` writes the last held-back line of every kind
whose interval has passed, so a burst that stops is still reported once.

Every ``str`` argument is cut to ``max_text`` characters before it reaches the logger, and
:func:`quoted` (or :class:`Quoted`, computed only for a line that is written) gives a
shortened ``repr`` for addresses and argument lists, so a 60 KB string makes a line of a
hundred characters, not 60 KB.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: characters kept of a quoted value (see :func:`quoted`).
QUOTE_CHARS = 80
#: characters kept of any other text argument.
TEXT_CHARS = 160


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its head and how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} chars)"


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` shortened to about ``limit`` characters (for ``%s`` in a log line).

    Long strings, bytes and sequences are cut *before* ``repr`` so quoting a 64 KB value
    costs no more than quoting a short one.
    """
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{repr(value[:limit])[:limit]}...(+{len(value) - limit} more)"
    if isinstance(value, tuple | list) and len(value) > 8:
        head = ", ".join(quoted(v, limit // 4) for v in value[:8])
        return shorten(f"({head}, ...+{len(value) - 8})", limit)
    if isinstance(value, tuple | list):
        return shorten("(" + ", ".join(quoted(v, limit) for v in value) + (",)" if len(value) == 1 else ")"),
                       limit)
    return shorten(repr(value), limit)


class Quoted:
    """``quoted(value)``, computed only if the line is written (for ``%s``): a line that is
    held back costs no formatting."""

    __slots__ = ("value", "limit")

    def __init__(self, value: object, limit: int = QUOTE_CHARS) -> None:
        self.value = value
        self.limit = limit

    def __str__(self) -> str:
        return quoted(self.value, self.limit)


@dataclass
class _Kind:
    last: float  # when the last line of this kind was written
    held: int = 0  # lines held back since then
    level: int = logging.WARNING
    msg: str = ""
    args: tuple[object, ...] = ()


class RateLimitedLog:
    """At most one log line per ``interval`` seconds per kind, with the count held back.

    Args:
        logger: where lines go.
        interval: seconds between two lines of one kind.
        max_text: characters kept of each ``str`` argument.
        clock: seconds (monotonic); injectable for tests.

    Thread-safe. A line that is written carries ``(+N more in X.X s)`` when N lines of its
    kind were held back since the previous one.
    """

    def __init__(self, logger: logging.Logger, interval: float = 1.0, *, max_text: int = TEXT_CHARS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.max_text = max_text
        self.clock = clock
        self.written = 0  # lines written
        self.held = 0  # lines held back (in total)
        self._kinds: dict[str, _Kind] = {}
        self._lock = threading.Lock()

    def log(self, level: int, kind: str, msg: str, *args: object, stacklevel: int = 1) -> bool:
        """Write ``msg % args`` unless a line of ``kind`` was written less than ``interval``
        ago; returns whether it was written. ``stacklevel`` as in :meth:`logging.Logger.log`."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self.clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is not None and now - state.last < self.interval:
                state.held += 1
                self.held += 1
                state.level, state.msg, state.args = level, msg, args
                return False
            held, since = (state.held, now - state.last) if state is not None else (0, 0.0)
            self._kinds[kind] = _Kind(now)
            self.written += 1
        self._write(level, msg, args, held, since, stacklevel + 2)
        return True

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, kind, msg, *args, stacklevel=2)

    def info(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, kind, msg, *args, stacklevel=2)

    def debug(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(logging.DEBUG, kind, msg, *args, stacklevel=2)

    def flush(self, force: bool = False) -> int:
        """Write the last held-back line of every kind whose interval has passed (of every
        kind with ``force``); returns the number of lines written."""
        now = self.clock()
        due: list[tuple[int, str, tuple[object, ...], int, float]] = []
        with self._lock:
            for state in self._kinds.values():
                if state.held and (force or now - state.last >= self.interval):
                    # the line written is itself one of the held ones
                    due.append((state.level, state.msg, state.args, state.held - 1, now - state.last))
                    state.last, state.held = now, 0
                    self.written += 1
        for level, msg, args, held, since in due:
            self._write(level, msg, args, held, since, 1)
        return len(due)

    def _write(self, level: int, msg: str, args: tuple[object, ...], held: int, since: float,
               stacklevel: int) -> None:
        args = tuple(shorten(a, self.max_text) if isinstance(a, str) else a for a in args)
        if held > 0:
            msg += " (+%d more in %.1f s)"
            args = (*args, held, since)
        self.logger.log(level, msg, *args, stacklevel=stacklevel)
