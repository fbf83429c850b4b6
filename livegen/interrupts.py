"""Ctrl-C while livegen loads: noted at once, acted on at a safe point.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives.
While torch imports or loads a model, that is often Python code that C++ called through
pybind11; an exception there cannot unwind through C++ frames marked ``noexcept`` and the
process aborts (``terminate called after throwing an instance of
'pybind11::error_already_set'``, exit -6) instead of ending with "livegen: interrupted".

So from the start of the ``livegen`` command, SIGINT only notes itself (:func:`defer`). A
command raises the interrupt at a point of its choosing (:func:`checkpoint`), or takes Ctrl-C
back as Python's normal ``KeyboardInterrupt`` (:func:`allow`) once its heavy imports are done.
``livegen play`` keeps it deferred until its session's own stop handlers take over.
"""

from __future__ import annotations

import signal
import threading

_pending = threading.Event()


def _note(signum: int, frame: object) -> None:
    _pending.set()


def defer() -> None:
    """Note SIGINT instead of raising (main thread only; elsewhere a no-op)."""
    _pending.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _note)


def pending() -> bool:
    """True when a SIGINT came while it was deferred and has not been raised yet."""
    return _pending.is_set()


def checkpoint() -> None:
    """Raise the ``KeyboardInterrupt`` of a deferred SIGINT, if one came."""
    if _pending.is_set():
        _pending.clear()
        raise KeyboardInterrupt


def allow() -> None:
    """Give SIGINT back its normal ``KeyboardInterrupt`` (if deferred here), raising at once
    one that came while it was deferred."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is _note):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    checkpoint()
