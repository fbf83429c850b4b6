"""A UDP socket on 127.0.0.1 that receives ``livegen play``'s OSC feedback (``--osc-feedback``)
on a thread of its own: the rig the benchmarks and the end-to-end tests share."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from pythonosc.osc_message import OscMessage


class FeedbackSocket:
    """Binds 127.0.0.1 on a free port and reads OSC messages until :meth:`close`.

    Args:
        on_message: ``callback(t, message)`` for each message, ``t`` its arrival
            (``time.monotonic()`` s), called on the reader thread.

    Attributes:
        feedback: ``(arrival s, address, args)`` of every message, in arrival order.
        hello: set by the first message.
    """

    def __init__(self, on_message: Callable[[float, OscMessage], None] | None = None) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._on_message = on_message
        self.feedback: list[tuple[float, str, tuple[object, ...]]] = []
        self.hello = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="feedback-socket", daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        """``host:port`` for livegen's ``--osc-feedback``."""
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            t = time.monotonic()
            msg = OscMessage(data)
            self.feedback.append((t, msg.address, tuple(msg.params)))
            self.hello.set()
            if self._on_message is not None:
                self._on_message(t, msg)

    def close(self) -> None:
        """Stop the reader (within 0.1 s) and close the socket."""
        self._stop.set()
        self._thread.join(timeout=1)
        self._sock.close()
