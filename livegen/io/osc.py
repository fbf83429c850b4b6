"""OSC over UDP: a server that queues incoming messages, a client that sends feedback.

:class:`OscServer` runs on the caller's asyncio loop (a datagram endpoint, no thread):
each datagram is decoded by python-osc's ``Dispatcher(strict_timing=False)`` (bundles with
future time tags are delivered at once, never slept on) whose only handler puts an
:class:`OscMessage` on :attr:`OscServer.queue`. Handlers never interpret the message;
the engine reads the queue and validates with :func:`livegen.controls.table.parse_osc`.
Undecodable datagrams are counted, logged and dropped; a full queue drops its oldest
message. The socket's receive buffer is raised (``SO_RCVBUF``) so bursts from a
controller do not overflow it.

:class:`OscFeedback` sends values back to a controller from a non-blocking UDP socket;
a send that would block or fails is counted and dropped, never raised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder

from livegen.controls.table import FEEDBACK, ControlState, Value, feedback_messages
from livegen.errors import LivegenError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
#: requested UDP receive buffer in bytes (the kernel may cap it at net.core.rmem_max).
RCVBUF_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class OscMessage:
    """One received OSC message.

    Attributes:
        address: OSC address pattern, e.g. ``/livegen/tempo``.
        args: decoded arguments (int, float, str, bool, bytes, None, ...).
        time: arrival time in seconds on ``time.monotonic()``.
        source: ``(host, port)`` of the sender.
    """

    address: str
    args: tuple[Any, ...]
    time: float
    source: tuple[str, int]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: OscServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("OSC socket error: %s", exc)


class OscServer:
    """Receive OSC on UDP ``host:port`` into an asyncio queue.

    Args:
        host: interface to bind; ``127.0.0.1`` (default) accepts only this machine, use
            ``0.0.0.0`` to accept a phone on the network.
        port: UDP port; 0 picks a free one (see :attr:`address`).
        queue_size: most messages kept before the oldest is dropped.
        rcvbuf: requested socket receive buffer in bytes.

    Use ``async with OscServer(...) as server:`` or ``await server.start()`` /
    ``server.close()`` on a running loop, then ``await server.queue.get()``.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, queue_size: int = 4096,
                 rcvbuf: int = RCVBUF_BYTES) -> None:
        self.host = host
        self.port = port
        self.rcvbuf = rcvbuf
        self.queue: asyncio.Queue[OscMessage] = asyncio.Queue(maxsize=queue_size)
        self.received = 0  # messages queued
        self.garbage = 0  # datagrams that decoded to no message
        self.dropped = 0  # messages pushed out of a full queue
        self.dispatcher = Dispatcher(strict_timing=False)
        self.dispatcher.set_default_handler(self._on_message, needs_reply_address=True)
        self._transport: asyncio.DatagramTransport | None = None
        self._address: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound (after :meth:`start`)."""
        if self._address is None:
            raise RuntimeError("OscServer not started")
        return self._address

    async def start(self) -> OscServer:
        """Bind the socket on the running loop. Raises LivegenError if the port is taken."""
        loop = asyncio.get_running_loop()
        sock = _bind_udp(self.host, self.port, self.rcvbuf)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport  # type: ignore[assignment]
        self._address = sock.getsockname()[:2]
        log.info("OSC server listening on %s:%d", *self._address)
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        before = self.received
        try:
            self.dispatcher.call_handlers_for_packet(data, addr)
        except Exception as exc:  # python-osc catches ParseError only; survive anything
            log.debug("OSC decode error from %s: %r", addr, exc)
        if self.received == before:
            self.garbage += 1
            if self.garbage <= 10 or self.garbage % 1000 == 0:
                log.warning("dropped undecodable OSC datagram of %d bytes from %s:%d (%d so far)",
                            len(data), addr[0], addr[1], self.garbage)

    def _on_message(self, client: tuple[str, int], address: str, *args: Any) -> None:
        msg = OscMessage(address, tuple(args), time.monotonic(), (client[0], client[1]))
        self.received += 1
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.queue.get_nowait()
            self.queue.put_nowait(msg)
            self.dropped += 1
            if self.dropped <= 10 or self.dropped % 1000 == 0:
                log.warning("OSC queue full: dropped the oldest message (%d so far)", self.dropped)

    async def __aenter__(self) -> OscServer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()


def _bind_udp(host: str, port: int, rcvbuf: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise LivegenError(f"cannot resolve OSC host {host!r}: {exc.strerror}; use an IP such as 127.0.0.1") from exc
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    except OSError as exc:
        log.debug("cannot raise SO_RCVBUF: %s", exc)
    try:
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise LivegenError(f"cannot listen for OSC on {host}:{port} ({exc.strerror}); "
                           "choose another port with --osc-port") from exc
    sock.setblocking(False)
    got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    log.debug("OSC receive buffer %d bytes (asked %d)", got, rcvbuf)
    return sock


def parse_host_port(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)``. Also ``":PORT"``, ``"PORT"`` and ``"[v6addr]:PORT"``.

    Raises LivegenError naming the expected form.
    """
    raw = text.strip()
    host, port_text = default_host, raw
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or raw[end + 1:end + 2] != ":":
            raise _bad_target(text)
        host, port_text = raw[1:end], raw[end + 2:]
    elif ":" in raw:
        host, port_text = raw.rsplit(":", 1)
        host = host or default_host
        if ":" in host:  # a bare IPv6 address needs brackets
            raise _bad_target(text)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535 or not host:
        raise _bad_target(text)
    if host.startswith("[") or " " in host:
        raise _bad_target(text)
    return host, int(port_text)


def _bad_target(text: str) -> LivegenError:
    return LivegenError(f"bad OSC target {text!r}; use HOST:PORT, e.g. 192.168.1.20:9001")


def build_message(address: str, args: Sequence[Value]) -> bytes:
    """Encode one OSC message (bool -> T/F, int -> i, float -> f, str -> s)."""
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class OscFeedback:
    """Send OSC to a controller at ``HOST:PORT`` without ever blocking the caller.

    Args:
        target: ``"HOST:PORT"`` (see :func:`parse_host_port`) or ``(host, port)``.
    """

    def __init__(self, target: str | tuple[str, int]) -> None:
        host, port = parse_host_port(target) if isinstance(target, str) else target
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise LivegenError(f"cannot resolve OSC feedback host {host!r}: {exc.strerror}") from exc
        family, _, _, _, self._sockaddr = infos[0]
        self.target = (host, port)
        self.sent = 0
        self.errors = 0
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        if _is_broadcast(host):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)

    def send(self, address: str, *args: Value) -> bool:
        """Send one message; False when it was dropped (would block, unreachable, closed)."""
        try:
            self._sock.sendto(build_message(address, args), self._sockaddr)
        except (OSError, ValueError) as exc:
            self.errors += 1
            if self.errors <= 10 or self.errors % 1000 == 0:
                log.warning("OSC feedback to %s:%d dropped: %s", *self.target, exc)
            return False
        self.sent += 1
        return True

    def send_state(self, state: ControlState, names: Sequence[str] | None = None) -> None:
        """Send raw and ``/norm`` values of the controls (all, or ``names``)."""
        for address, args in feedback_messages(state, names):
            self.send(address, *args)

    def send_lyrics_line(self, line: str) -> bool:
        return self.send(FEEDBACK["lyrics_line"].address, line)

    def send_status(self, status: str) -> bool:
        return self.send(FEEDBACK["status"].address, status)

    def send_beat(self, beat: int) -> bool:
        return self.send(FEEDBACK["beat"].address, int(beat))

    def close(self) -> None:
        self._sock.close()


def _is_broadcast(host: str) -> bool:
    try:
        return str(ipaddress.ip_address(host)).endswith(".255")
    except ValueError:
        return False
