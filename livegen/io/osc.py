"""OSC over UDP: a server that validates control messages off the engine's loop, and a
client that sends feedback.

:class:`OscServer` reads its socket on a daemon thread of its own. That thread decodes each
datagram (:func:`decode_packet`: its own bundle walker, capped in elements and nesting
depth), checks the sender against an optional allow list, validates every message with
:func:`livegen.controls.table.parse_osc` and keeps what is valid as a
:class:`~livegen.controls.table.ControlChange`. The engine's asyncio loop does no work per
datagram: it takes the waiting changes with :meth:`OscServer.poll` (or waits for them with
:meth:`OscServer.get` / :meth:`OscServer.wait`, woken once per batch).

What is kept, what is dropped:

* Pending changes are coalesced per control: a newer change of a control replaces the one
  still waiting (in the older one's place in the order), so at most one change per control
  waits and the loop's work per batch is bounded by the size of the control table, however
  fast changes arrive. Replaced changes are counted in ``coalesced``; nothing that is still
  in force is ever lost.
* ``panic``, ``reset`` and ``mute`` are *urgent*: they go to ``on_urgent`` on the receiver
  thread at once (at most :data:`URGENT_BURST` at a time, refilled at :data:`URGENT_RATE`
  per second; beyond that they wait in a queue of their own that :meth:`OscServer.poll`
  empties first). They are never dropped.
* :meth:`OscServer.wait` and :meth:`OscServer.get` return at most every :data:`BATCH_GAP_S`
  (5 ms), so a flood of valid changes costs the loop at most 200 small batches a second.
* Undecodable datagrams (``garbage``), messages the table refuses (``refused``), bundles cut
  at a cap (``capped``) and datagrams from senders outside the allow list (``denied``) are
  counted and logged through :class:`~livegen.io.ratelog.RateLimitedLog`: at most one line
  per second per kind, quoted text shortened.

:class:`OscFeedback` sends values back to a controller from a non-blocking UDP socket;
a send that would block or fails is counted and dropped, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple

from pythonosc.osc_message_builder import OscMessageBuilder

from livegen.controls.table import (
    CONTROLS,
    FEEDBACK,
    MAX_STRING,
    ControlChange,
    ControlError,
    ControlState,
    Value,
    feedback_messages,
    parse_osc,
)
from livegen.errors import LivegenError
from livegen.io.ratelog import Quoted, RateLimitedLog

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
#: requested UDP receive buffer in bytes (the kernel may cap it at net.core.rmem_max).
RCVBUF_BYTES = 4 * 1024 * 1024
#: most changes waiting (one per control at most, so the table's size is the real bound).
QUEUE_SIZE = 1024
#: most elements (messages and nested bundles) read from one datagram.
MAX_BUNDLE_MESSAGES = 64
#: deepest bundle nesting read (the outer bundle is depth 1).
MAX_BUNDLE_DEPTH = 4
#: most arguments decoded from one message (every control takes at most one).
MAX_ARGS = 8
#: controls handed to ``on_urgent`` at once, on the receiver thread.
URGENT = frozenset({"panic", "reset", "mute"})
#: urgent calls allowed back to back, and refilled per second (a flood of valid panics
#: must not become a flood of callbacks on the engine's loop).
URGENT_BURST = 20
URGENT_RATE = 100.0
#: shortest time between two returns of :meth:`OscServer.wait` / :meth:`OscServer.get`
#: (urgent controls do not wait for it: they go to ``on_urgent``).
BATCH_GAP_S = 0.005
#: seconds the receiver blocks in ``recvfrom`` before it looks at its stop flag.
RECV_TIMEOUT_S = 0.25
#: largest UDP payload.
MAX_DATAGRAM = 65536

_BUNDLE = b"#bundle\x00"
#: address (raw or ``/norm``) -> control name, for refusals of a known control.
_NAMES: dict[str, str] = {
    **{c.address: c.name for c in CONTROLS.values()},
    **{c.norm_address: c.name for c in CONTROLS.values() if c.norm_address},
}


@dataclass(frozen=True)
class OscMessage:
    """One received OSC message.

    Attributes:
        address: OSC address pattern, e.g. ``/livegen/tempo``.
        args: decoded arguments (int, float, str, bool, bytes, None).
        time: arrival time in seconds on ``time.monotonic()``.
        source: ``(host, port)`` of the sender.
        change: the validated change, or None (refused, or a trigger's release).
    """

    address: str
    args: tuple[Any, ...]
    time: float
    source: tuple[str, int]
    change: ControlChange | None = None


# ---- decoding -------------------------------------------------------------------------------


class RawMessage(NamedTuple):
    """A decoded message before validation; ``problem`` is why its arguments were not
    decoded (too many, arrays, an unknown type tag), else empty."""

    address: str
    args: tuple[Any, ...]
    problem: str = ""


@dataclass
class Packet:
    """What :func:`decode_packet` found in one datagram.

    Attributes:
        messages: decoded messages, in order.
        garbage: elements (or the whole datagram) that did not decode.
        capped: bundles cut short or skipped by a cap (element count or depth).
        error: the first decoding problem, for the log.
    """

    messages: list[RawMessage] = field(default_factory=list)
    garbage: int = 0
    capped: int = 0
    error: str = ""

    def _bad(self, reason: str) -> None:
        self.garbage += 1
        if not self.error:
            self.error = reason


class _Garbage(Exception):
    pass


#: fixed-size argument types: tag -> (struct format, bytes).
_FIXED: dict[int, tuple[struct.Struct, int]] = {
    ord("i"): (struct.Struct(">i"), 4), ord("h"): (struct.Struct(">q"), 8),
    ord("f"): (struct.Struct(">f"), 4), ord("d"): (struct.Struct(">d"), 8),
    ord("t"): (struct.Struct(">Q"), 8), ord("r"): (struct.Struct(">I"), 4),
}
_INT32 = struct.Struct(">i")
_NO_DATA: dict[int, object] = {ord("T"): True, ord("F"): False, ord("N"): None}


def _string(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """A padded OSC string at ``pos`` -> (text, position after its padding)."""
    z = data.find(b"\x00", pos, end)
    if z < 0:
        raise _Garbage("unterminated string")
    after = pos + ((z - pos) // 4 + 1) * 4
    if after > end:
        raise _Garbage("truncated string padding")
    try:
        return data[pos:z].decode("utf-8"), after
    except UnicodeDecodeError as exc:
        raise _Garbage("string is not UTF-8") from exc


def _decode_message(data: bytes, start: int, end: int) -> RawMessage:
    """Decode the message in ``data[start:end]``; raises _Garbage."""
    if start >= end or data[start] != 0x2F:  # "/"
        raise _Garbage("not an OSC message (no '/' address, no '#bundle')")
    address, pos = _string(data, start, end)
    if pos == end:
        return RawMessage(address, ())
    if data[pos] != 0x2C:  # ","
        raise _Garbage("type tags do not start with ','")
    z = data.find(b"\x00", pos, end)
    if z < 0:
        raise _Garbage("unterminated type tags")
    tags = data[pos + 1:z]
    pos = pos + ((z - pos) // 4 + 1) * 4
    if pos > end:
        raise _Garbage("truncated type tags")
    if len(tags) > MAX_ARGS:
        return RawMessage(address, (), f"{len(tags)} arguments (at most {MAX_ARGS} are read)")
    args: list[Any] = []
    for tag in tags:
        fixed = _FIXED.get(tag)
        if fixed is not None:
            fmt, size = fixed
            if pos + size > end:
                raise _Garbage("truncated argument")
            args.append(fmt.unpack_from(data, pos)[0])
            pos += size
        elif tag in _NO_DATA:
            args.append(_NO_DATA[tag])
        elif tag in (0x73, 0x53):  # "s", "S"
            text, pos = _string(data, pos, end)
            args.append(text)
        elif tag == 0x62:  # "b"
            if pos + 4 > end:
                raise _Garbage("truncated blob")
            size = _INT32.unpack_from(data, pos)[0]
            after = pos + 4 + ((size + 3) // 4) * 4
            if size < 0 or after > end:
                raise _Garbage("bad blob size")
            args.append(data[pos + 4:pos + 4 + size])
            pos = after
        elif tag in (0x63, 0x6D):  # "c" (a character), "m" (MIDI bytes): 4 bytes
            if pos + 4 > end:
                raise _Garbage("truncated argument")
            args.append(data[pos:pos + 4] if tag == 0x6D else chr(data[pos + 3]))
            pos += 4
        elif tag == 0x49:  # "I": an impulse, no argument (like python-osc)
            continue
        elif tag in (0x5B, 0x5D):  # "[", "]"
            return RawMessage(address, (), "arrays are not accepted")
        else:
            return RawMessage(address, (), f"unsupported type tag {chr(tag)!r}")
    return RawMessage(address, tuple(args))


def decode_packet(data: bytes, max_elements: int = MAX_BUNDLE_MESSAGES,
                  max_depth: int = MAX_BUNDLE_DEPTH) -> Packet:
    """Decode one datagram: a message, or a bundle of messages and bundles.

    At most ``max_elements`` elements are read from a bundle (the rest of it is cut and
    counted once in ``capped``); a bundle nested deeper than ``max_depth`` is skipped
    (counted in ``capped``). Time tags are ignored: everything is delivered at once. The
    work is bounded by the caps, never by what the datagram claims. Never raises.
    """
    packet = Packet()
    end = len(data)
    if not data.startswith(_BUNDLE):
        try:
            packet.messages.append(_decode_message(data, 0, end))
        except _Garbage as exc:
            packet._bad(str(exc))
        return packet
    if end < 16:
        packet._bad("truncated bundle header")
        return packet
    outer: list[int] = []  # end offsets of the enclosing bundles
    pos, depth, elements = 16, 1, 0
    while True:
        if pos == end:
            if not outer:
                break
            end = outer.pop()
            depth -= 1
            continue
        if end - pos < 4:
            packet._bad("truncated bundle element")
            break
        size = _INT32.unpack_from(data, pos)[0]
        start, pos = pos + 4, pos + 4 + size
        if size < 0 or pos > end:
            packet._bad("bundle element size beyond the bundle")
            break
        if elements >= max_elements:
            packet.capped += 1
            if not packet.error:
                packet.error = f"cut at {max_elements} elements"
            break
        elements += 1
        if data.startswith(_BUNDLE, start, pos):
            if depth >= max_depth:
                packet.capped += 1
                if not packet.error:
                    packet.error = f"bundle nested deeper than {max_depth} skipped"
                continue
            if size < 16:
                packet._bad("truncated nested bundle header")
                continue
            outer.append(end)
            end, pos, depth = pos, start + 16, depth + 1
            continue
        try:
            packet.messages.append(_decode_message(data, start, pos))
        except _Garbage as exc:
            packet._bad(str(exc))
    return packet


# ---- the server -----------------------------------------------------------------------------


class AllowList:
    """Source addresses (IPs or CIDR networks) allowed to send (OSC and the browser stage)."""

    def __init__(self, entries: Sequence[str]) -> None:
        if isinstance(entries, str):
            entries = [entries]
        nets = []
        for text in entries:
            try:
                nets.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError as exc:
                raise LivegenError(f"bad OSC allow entry {text!r}: use an IP such as 192.168.1.20 "
                                   "or a network such as 192.168.1.0/24") from exc
        if not nets:
            raise LivegenError("the OSC allow list is empty: name at least one address, or give none to allow all")
        self.networks = tuple(nets)
        self._cache: dict[str, bool] = {}

    def __contains__(self, host: str) -> bool:
        hit = self._cache.get(host)
        if hit is not None:
            return hit
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        ok = any(ip in net for net in self.networks)
        if len(self._cache) >= 4096:  # spoofed sources must not grow it without bound
            self._cache.clear()
        self._cache[host] = ok
        return ok

    def __str__(self) -> str:
        return ", ".join(str(n) for n in self.networks)


class OscServer:
    """Receive OSC on UDP ``host:port`` on a thread of its own; hand out validated changes.

    Args:
        host: interface to bind; ``127.0.0.1`` (default) accepts only this machine, use
            ``0.0.0.0`` to accept a phone on the network (then see ``allow``).
        port: UDP port; 0 picks a free one (see :attr:`address`).
        queue_size: most changes waiting; a change of a control that has none waiting is
            dropped beyond that (counted in ``dropped``). At most one change per control
            waits, so with the default this never happens.
        rcvbuf: requested socket receive buffer in bytes.
        allow: source IPs or CIDR networks (``"192.168.1.0/24"``) that may send; datagrams
            from anyone else are dropped unread and counted in ``denied``. None: anyone
            who can reach the port.
        max_bundle_messages: most elements read from one datagram (see :func:`decode_packet`).
        max_bundle_depth: deepest bundle nesting read.
        on_urgent: called on the receiver thread with each ``panic``, ``reset`` and
            ``mute`` change, at once (it must be thread-safe and quick, e.g. hand the change
            to the loop with ``call_soon_threadsafe``). None: urgent changes wait like the
            others, ahead of them.
        commands: addresses outside the control table that the caller handles (e.g.
            ``/livegen/preset``): address -> ``handler(args)``, called on the receiver
            thread with the message's arguments (it must be thread-safe and quick). A handler
            that raises counts the message as refused.

    Start with ``async with OscServer(...) as server``, ``await server.start()`` or (no
    loop needed) ``with OscServer(...)`` / :meth:`open`; stop with :meth:`close`. Take
    changes with :meth:`poll` (never blocks), :meth:`get` or :meth:`wait` (asyncio).

    Counters (written by the receiver thread only): ``datagrams`` read; ``received``
    messages decoded; ``garbage`` datagrams or bundle elements that did not decode;
    ``refused`` messages the table refused; ``capped`` bundles cut at a cap; ``denied``
    datagrams from outside the allow list; ``coalesced`` changes replaced by a newer one of
    the same control before they were taken; ``urgent`` changes handed to ``on_urgent``;
    ``dropped`` changes that found the store full (see ``queue_size``).
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, queue_size: int = QUEUE_SIZE,
                 rcvbuf: int = RCVBUF_BYTES, allow: Sequence[str] | None = None,
                 max_bundle_messages: int = MAX_BUNDLE_MESSAGES, max_bundle_depth: int = MAX_BUNDLE_DEPTH,
                 on_urgent: Callable[[ControlChange], None] | None = None,
                 commands: Mapping[str, Callable[[tuple[Any, ...]], None]] | None = None) -> None:
        if queue_size < 1 or max_bundle_messages < 1 or max_bundle_depth < 1:
            raise ValueError("queue_size, max_bundle_messages and max_bundle_depth must be >= 1")
        self.host = host
        self.port = port
        self.queue_size = queue_size
        self.rcvbuf = rcvbuf
        self.allow = AllowList(allow) if allow is not None else None
        self.max_bundle_messages = max_bundle_messages
        self.max_bundle_depth = max_bundle_depth
        self.on_urgent = on_urgent
        self.commands = dict(commands or {})
        self.datagrams = 0
        self.received = 0
        self.garbage = 0
        self.refused = 0
        self.capped = 0
        self.denied = 0
        self.coalesced = 0
        self.urgent = 0
        self.dropped = 0
        self.log = RateLimitedLog(log)
        self._lock = threading.Lock()
        self._pending: dict[str, OscMessage] = {}  # control name -> latest change, oldest first
        self._urgent_pending: dict[str, OscMessage] = {}
        self._refused_names: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._tokens = float(URGENT_BURST)
        self._tokens_at = time.monotonic()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self._address: tuple[str, int] | None = None
        self._next_batch = 0.0  # loop time before which wait() does not return

    # ---- life cycle -----------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound (after :meth:`start`)."""
        if self._address is None:
            raise RuntimeError("OscServer not started")
        return self._address

    def open(self) -> OscServer:
        """Bind the socket and start the receiver thread. Raises LivegenError (one line) if
        the port is taken or the host unknown."""
        if self._thread is not None:
            return self
        sock = _bind_udp(self.host, self.port, self.rcvbuf)
        sock.settimeout(RECV_TIMEOUT_S)
        self._sock = sock
        self._address = sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._run, name=f"osc-receiver-{self._address[1]}", daemon=True)
        self._thread.start()
        log.info("OSC server listening on %s:%d", *self._address)
        if self.allow is not None:
            log.info("OSC accepted only from %s", self.allow)
        elif _is_any_address(self.host):
            log.warning("OSC listens on every interface (%s:%d) with no allow list: anyone on the network "
                        "can steer and silence livegen; limit senders with --osc-allow", *self._address)
        return self

    async def start(self) -> OscServer:
        """:meth:`open`, for ``await OscServer(...).start()`` on a running loop."""
        return self.open()

    def close(self) -> None:
        """Stop the receiver thread (joined), close the socket, write held-back log lines.
        Waiting :meth:`get` / :meth:`wait` calls raise RuntimeError. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        thread, sock = self._thread, self._sock
        if thread is not None and sock is not None and thread is not threading.current_thread():
            _poke(sock)
            thread.join(timeout=2 * RECV_TIMEOUT_S + 1.0)
        if sock is not None:
            sock.close()
        self.log.flush(force=True)
        self._release_waiters()

    def __enter__(self) -> OscServer:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> OscServer:
        return self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    # ---- the consumer's side (any thread; wait/get on an asyncio loop) -----------------------

    def poll(self, max_items: int | None = None) -> list[ControlChange]:
        """Take the waiting changes (urgent ones first), at most ``max_items``; never blocks."""
        return [m.change for m in self.poll_messages(max_items) if m.change is not None]

    def poll_messages(self, max_items: int | None = None) -> list[OscMessage]:
        """Like :meth:`poll`, with each change's message (address, arguments, time, sender)."""
        out: list[OscMessage] = []
        with self._lock:
            for store in (self._urgent_pending, self._pending):
                while store and (max_items is None or len(out) < max_items):
                    out.append(store.pop(next(iter(store))))
        return out

    def pending(self) -> int:
        """How many changes are waiting."""
        with self._lock:
            return len(self._urgent_pending) + len(self._pending)

    async def wait(self) -> None:
        """Return when a change is waiting, and never sooner than :data:`BATCH_GAP_S` after
        the previous return: however fast changes arrive, a consumer that waits here runs at
        most 1 / BATCH_GAP_S times a second (and meanwhile the changes coalesce). The
        receiver thread wakes the loop once per wait, not once per datagram. Raises
        RuntimeError once the server is closed."""
        loop = asyncio.get_running_loop()
        gap = self._next_batch - loop.time()
        if gap > 0:
            await asyncio.sleep(gap)
        await self._wait(lambda: bool(self._urgent_pending or self._pending))
        self._next_batch = loop.time() + BATCH_GAP_S

    async def get(self) -> ControlChange:
        """Wait (see :meth:`wait`) for the next change and take it; take the rest of the
        batch with ``poll()``."""
        while True:
            await self.wait()
            got = self.poll(1)
            if got:
                return got[0]

    def drain_refused(self) -> set[str]:
        """Names of known controls whose messages were refused since the last call (so the
        value in force can be sent back to the controller that showed the refused one)."""
        with self._lock:
            names, self._refused_names = self._refused_names, set()
        return names

    def stats(self) -> dict[str, int]:
        """A snapshot of the counters."""
        return {"datagrams": self.datagrams, "received": self.received, "garbage": self.garbage,
                "refused": self.refused, "capped": self.capped, "denied": self.denied,
                "coalesced": self.coalesced, "urgent": self.urgent, "dropped": self.dropped,
                "pending": self.pending()}

    async def _wait(self, ready: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if ready():
                    return
                if self._closed:
                    raise RuntimeError("OscServer closed")
                fut: asyncio.Future[None] = loop.create_future()
                self._waiters.append(fut)
            try:
                await fut
            finally:
                with self._lock:
                    if fut in self._waiters:
                        self._waiters.remove(fut)

    def _release_waiters(self) -> None:
        """Wake every waiting coroutine (called with new items or at close)."""
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for fut in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
                fut.get_loop().call_soon_threadsafe(_set_done, fut)

    # ---- the receiver thread --------------------------------------------------------------------

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        next_flush = time.monotonic() + self.log.interval
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                self.log.flush()
                continue
            except OSError as exc:
                if self._stop.is_set():
                    break
                self.log.warning("socket", "OSC socket error: %s", str(exc))
                time.sleep(0.01)
                continue
            if self._stop.is_set():
                break
            now = time.monotonic()
            try:
                self._datagram(data, (str(addr[0]), int(addr[1])), now)
            except Exception as exc:  # one datagram must never end the receiver
                self.log.warning("internal", "OSC datagram from %s not handled: %s", str(addr[0]), repr(exc))
            if now >= next_flush:
                self.log.flush()
                next_flush = now + self.log.interval

    def _datagram(self, data: bytes, source: tuple[str, int], now: float) -> None:
        self.datagrams += 1
        if self.allow is not None and source[0] not in self.allow:
            self.denied += 1
            self.log.warning("denied", "OSC from %s:%d denied: not in the allow list (%s)",
                             source[0], source[1], str(self.allow))
            return
        packet = decode_packet(data, self.max_bundle_messages, self.max_bundle_depth)
        if packet.garbage:
            self.garbage += packet.garbage
            self.log.warning("garbage", "dropped undecodable OSC from %s:%d (%d bytes): %s",
                             source[0], source[1], len(data), packet.error)
        if packet.capped:
            self.capped += packet.capped
            self.log.warning("capped", "OSC bundle of %d bytes from %s:%d %s (caps: %d elements, depth %d)",
                             len(data), source[0], source[1], packet.error or "capped",
                             self.max_bundle_messages, self.max_bundle_depth)
        first: RawMessage | None = None
        why = ""
        refused = 0
        for raw in packet.messages:
            reason = self._message(raw, source, now)
            if reason:
                refused += 1
                if first is None:
                    first, why = raw, reason
        if first is not None:  # one line per datagram at most, however many it held
            if refused == 1:
                self.log.warning("refused", "refused OSC %s %s from %s: %s", Quoted(first.address),
                                 Quoted(first.args), source[0], why)
            else:
                self.log.warning("refused", "refused %d OSC messages of a bundle from %s, the first %s %s: %s",
                                 refused, source[0], Quoted(first.address), Quoted(first.args), why)

    def _message(self, raw: RawMessage, source: tuple[str, int], now: float) -> str:
        """Validate and hand on one message; returns why it was refused, or ''."""
        self.received += 1
        reason = raw.problem
        change: ControlChange | None = None
        if not reason:  # no control takes a longer string: refuse it before the table scans it
            reason = next((f"a string of {len(a)} characters (at most {MAX_STRING})" for a in raw.args
                           if isinstance(a, str) and len(a) > MAX_STRING), "")
        handler = self.commands.get(raw.address) if not reason else None
        if handler is not None:
            try:
                handler(raw.args)
                return ""
            except Exception as exc:  # the caller's handler: survive anything
                reason = f"{type(exc).__name__}: {exc}"
        if not reason:
            try:
                change = parse_osc(raw.address, raw.args)
            except ControlError as exc:
                reason = str(exc)
            except Exception as exc:  # the table raises ControlError only; survive anything
                reason = f"{type(exc).__name__}: {exc}"
        if reason:
            self.refused += 1
            name = _NAMES.get(raw.address)
            if name is not None:
                with self._lock:
                    self._refused_names.add(name)
        if change is None:  # refused, or a trigger's release: nothing to do
            return reason
        message = OscMessage(raw.address, raw.args, now, source, change)
        if change.name in URGENT and self.on_urgent is not None and self._take_token(now):
            with self._lock:  # this one supersedes any older one still waiting
                if self._urgent_pending.pop(change.name, None) is not None:
                    self.coalesced += 1
            try:
                self.on_urgent(change)
                self.urgent += 1
                return ""
            except Exception as exc:
                self.log.warning("urgent", "on_urgent(%s) failed: %s; the change waits for poll()",
                                 change.name, repr(exc))
        self._store(message, change.name, urgent=change.name in URGENT)
        return ""

    def _take_token(self, now: float) -> bool:
        self._tokens = min(float(URGENT_BURST), self._tokens + (now - self._tokens_at) * URGENT_RATE)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _store(self, message: OscMessage, name: str, *, urgent: bool) -> None:
        full = False
        with self._lock:
            store = self._urgent_pending if urgent else self._pending
            if name in store:
                self.coalesced += 1
                store[name] = message  # an existing key keeps its place: the first arrival's order
            elif urgent or len(self._pending) < self.queue_size:  # urgent ones are never dropped
                store[name] = message
            else:
                self.dropped += 1
                full = True
            wake = bool(self._waiters)
        if full:
            self.log.warning("dropped", "OSC changes full (%d waiting): dropped %s (%d so far)",
                             self.queue_size, name, self.dropped)
        if wake:
            self._release_waiters()


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _poke(sock: socket.socket) -> None:
    """Send an empty datagram to ``sock`` so a blocked ``recvfrom`` returns now."""
    host, port = sock.getsockname()[:2]
    if _is_any_address(host):
        host = "::1" if sock.family == socket.AF_INET6 else "127.0.0.1"
    with contextlib.suppress(OSError), socket.socket(sock.family, socket.SOCK_DGRAM) as s:
        s.sendto(b"", (host, port))  # if this fails, the receive timeout ends the thread


def _is_any_address(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "[::]")


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
        family, _, _, _, sockaddr = infos[0]
        self._sockaddr: tuple[Any, ...] = sockaddr
        self.target = (host, port)
        self.sent = 0
        self.errors = 0
        self.log = RateLimitedLog(log)
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
            self.log.warning("feedback", "OSC feedback to %s:%d dropped: %s (%d so far)", *self.target, str(exc),
                             self.errors)
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
