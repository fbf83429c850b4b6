"""In-memory MIDI ports for fast, deterministic engine tests and offline rendering.

They satisfy :class:`livegen.io.base.MidiOut` / :class:`livegen.io.base.MidiIn` and do no
I/O and no threading: :class:`MemoryOutput` records what is sent with a time stamp from an
injected clock, :class:`MemoryInput` delivers what a test feeds it, synchronously.
:class:`MemoryDevices` is a MIDI system whose output devices come and go, for the
reconnecting ports (its ``lister`` and ``opener``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import mido

from livegen.io.base import MessageCallback
from livegen.io.midi_stream import MidiStream


class MemoryOutput:
    """Records every sent message as ``(t, msg)`` in :attr:`sent`.

    Args:
        name: port name shown in logs.
        clock: returns the current time in seconds; inject the engine's manual clock so
            the stamps are deterministic (default ``time.monotonic``).
    """

    def __init__(self, name: str = "memory out", clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self.sent: list[tuple[float, mido.Message]] = []
        #: what was sent after the device was unplugged (the device never got it)
        self.lost: list[tuple[float, mido.Message]] = []
        self.unplugged = False
        self.closed = False

    def send(self, msg: mido.Message) -> None:
        """Record ``msg`` with the clock's time (in :attr:`lost` once unplugged, as a JACK
        port whose device left takes it silently). Raises ValueError once closed (a bug)."""
        if self.closed:
            raise ValueError(f"send on closed port {self.name!r}")
        (self.lost if self.unplugged else self.sent).append((self.clock(), msg))

    def close(self) -> None:
        self.closed = True

    @property
    def messages(self) -> list[mido.Message]:
        """The sent messages without time stamps, in order."""
        return [msg for _, msg in self.sent]

    def clear(self) -> None:
        """Forget what was sent so far."""
        self.sent.clear()


class MemoryInput:
    """An input a test drives by hand: :meth:`feed` delivers to the callback at once.

    Messages fed while no callback is set are kept and delivered when one is set.
    """

    def __init__(self, name: str = "memory in", callback: MessageCallback | None = None) -> None:
        self.name = name
        self.closed = False
        self._callback: MessageCallback | None = None
        self._pending: list[tuple[mido.Message, float]] = []
        self._stream = MidiStream()
        self.set_callback(callback)

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback
        if callback is not None:
            pending, self._pending = self._pending, []
            for msg, t in pending:
                callback(msg, t)

    def feed(self, msg: mido.Message, t: float) -> None:
        """Deliver one message stamped ``t`` seconds."""
        if self.closed:
            return
        if self._callback is None:
            self._pending.append((msg, t))
        else:
            self._callback(msg, t)

    def feed_many(self, stamped: Iterable[tuple[float, mido.Message]]) -> None:
        """Deliver ``(t, msg)`` pairs in order (the shape of ``MemoryOutput.sent``)."""
        for t, msg in stamped:
            self.feed(msg, t)

    def feed_bytes(self, data: bytes | Iterable[int], t: float) -> None:
        """Parse raw MIDI bytes as a stream (like a real port does) and deliver each message."""
        for msg in self._stream.feed(bytes(data)):
            self.feed(msg, t)

    def close(self) -> None:
        self.closed = True
        self._pending.clear()


class MemoryDevices:
    """A MIDI system whose output devices come and go by name.

    Pass :meth:`lister` and :meth:`opener` to a
    :class:`~livegen.io.ports.ReconnectingOutput`; every opened port is kept in
    :attr:`opened`, so a test can tell what each connection of a device got.
    """

    def __init__(self, names: Iterable[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.names = list(names)
        self.clock = clock
        self.opened: list[MemoryOutput] = []

    def lister(self) -> list[str]:
        return list(self.names)

    def opener(self, name: str) -> MemoryOutput:
        if name not in self.names:
            raise OSError(f"no device {name!r}")
        port = MemoryOutput(name, clock=self.clock)
        self.opened.append(port)
        return port

    def unplug(self, name: str) -> None:
        """The device leaves: it is no longer listed, and its open ports reach nothing."""
        self.names.remove(name)
        for port in self.opened:
            if port.name == name:
                port.unplugged = True

    def plug(self, name: str) -> None:
        """The device (re)appears under ``name``."""
        self.names.append(name)
