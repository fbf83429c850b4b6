"""The small port interface shared by real (rtmidi/JACK) and in-memory MIDI ports.

The engine only ever sees these two protocols, so tests and ``livegen render`` can swap
in :mod:`livegen.io.memory` ports for the real ones in :mod:`livegen.io.ports`.

Time stamps are seconds on the ``time.monotonic()`` clock (the engine's one time base);
in-memory ports take them from whoever feeds them (a manual clock in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import mido

#: ``callback(message, t)``: one parsed MIDI message and its arrival time in seconds
#: (``time.monotonic()`` for real ports). Real ports call it from their own thread.
MessageCallback = Callable[[mido.Message, float], None]


@runtime_checkable
class MidiOut(Protocol):
    """Somewhere MIDI messages go."""

    name: str

    def send(self, msg: mido.Message) -> None:
        """Send one message now without blocking for long.

        A plain device port may raise OSError once its device is gone;
        :class:`livegen.io.ports.ReconnectingOutput` never raises.
        """
        ...

    def close(self) -> None:
        """Release the port; idempotent."""
        ...


@runtime_checkable
class MidiIn(Protocol):
    """Somewhere MIDI messages come from, delivered one by one to a callback."""

    name: str

    def set_callback(self, callback: MessageCallback | None) -> None:
        """Deliver each incoming message to ``callback`` (None: drop them)."""
        ...

    def close(self) -> None:
        """Release the port and stop delivering; idempotent."""
        ...
