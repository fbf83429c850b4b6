"""Real MIDI ports through mido/python-rtmidi: listing, fuzzy names, virtual ports, reconnection.

The backend follows ``MIDO_BACKEND`` *at call time* (``mido.backends.rtmidi/UNIX_JACK``
for JACK, see :mod:`livegen.io.jackd`), so a :class:`~livegen.io.jack.JackServer` started
after ``import mido`` still takes effect.

Inputs are opened on python-rtmidi directly rather than through ``mido.open_input``:
JACK may hand several MIDI messages to a reader as one event, and mido's rtmidi backend
decodes one message per event (the rest vanish). Here every event is fed to a
:class:`~livegen.io.midi_stream.MidiStream` as a byte stream (running status, real-time
bytes inside other messages, sysex skipped unbuffered, stray bytes dropped and counted),
and each parsed message goes to the user callback as ``callback(msg, time.monotonic())``
*on rtmidi's thread*; the engine wraps its callback with ``loop.call_soon_threadsafe``.
MIDI clock (0xF8) and the other real-time messages are delivered; sysex and active
sensing are not.

Every port livegen opens belongs to a client called ``livegen``; on JACK a virtual output
shows as ``livegen:livegen out`` to other programs.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

import mido
import rtmidi

from livegen.errors import LivegenError
from livegen.io.base import MessageCallback, MidiIn, MidiOut
from livegen.io.jackd import server_answers, server_name
from livegen.io.midi_stream import MidiStream
from livegen.io.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
#: what a device sends can fail at any rate: one line a second per kind
_input_log = RateLimitedLog(log)

CLIENT_NAME = "livegen"
VIRTUAL_IN = "livegen in"
VIRTUAL_OUT = "livegen out"
#: seconds between checks whether a reconnecting port's device left or came back: a
#: returning output plays again within this plus the time to open it (~40 ms on JACK).
RECONNECT_INTERVAL = 0.1

#: seconds a closing input waits, between cancelling its callback and closing its port, for a
#: callback in flight on rtmidi's thread to return (a few JACK periods).
CALLBACK_DRAIN_S = 0.02

#: seconds between looks, from a plain JACK output's sending thread, whether its server lives.
SERVER_LOOK_S = 0.05

#: seconds a JACK server that came back must keep answering before livegen opens a client on
#: it: its socket answers ~50 ms before it serves clients, and a client opened in between has
#: stalled the new server.
SERVER_SETTLE_S = 0.3

#: ``listener(connected, name, reason)``: a reconnecting output's device left (``connected``
#: False; ``reason`` e.g. ``device gone``, ``JACK server gone``) or came back.
ConnectionListener = Callable[[bool, str, str], None]

PortKind = Literal["input", "output"]

_ALSA_SUFFIX = re.compile(r"\s+\d+:\d+$")  # "Midi Through Port-0 14:0"
_NUMBER_SUFFIX = re.compile(r"\s+\d+$")  # Windows MME appends " 1", " 2", ...

NO_MIDI_HINT = ("on Linux without ALSA start JACK (`jackd -n livegen-jack -S --no-realtime -d dummy -r 48000 -p 128`) "
                "and set JACK_DEFAULT_SERVER=livegen-jack MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK")


# -- backend ------------------------------------------------------------------------------

#: the API names ``MIDO_BACKEND`` may give after ``mido.backends.rtmidi/`` -> python-rtmidi's constant.
RTMIDI_APIS: dict[str, int] = {
    "UNSPECIFIED": rtmidi.API_UNSPECIFIED,
    "MACOSX_CORE": rtmidi.API_MACOSX_CORE,
    "LINUX_ALSA": rtmidi.API_LINUX_ALSA,
    "UNIX_JACK": rtmidi.API_UNIX_JACK,
    "WINDOWS_MM": rtmidi.API_WINDOWS_MM,
    "RTMIDI_DUMMY": rtmidi.API_RTMIDI_DUMMY,
    "WEB_MIDI": rtmidi.API_WEB_MIDI,
}


def current_backend() -> Any:
    """A mido backend for the *current* ``MIDO_BACKEND`` (mido reads it only at import).

    mido ships no types: the backend (and every port it opens) is ``Any`` here.
    """
    return mido.Backend(os.environ.get("MIDO_BACKEND") or None, load=True)


def _rtmidi_api(backend: Any) -> int | None:
    """python-rtmidi API constant for ``backend``, or None when it is not the rtmidi backend."""
    if backend.name != "mido.backends.rtmidi":
        return None
    if not backend.api:
        return int(rtmidi.API_UNSPECIFIED)
    api = RTMIDI_APIS.get(str(backend.api))
    if api is None or api not in rtmidi.get_compiled_api():
        raise LivegenError(f"MIDO_BACKEND names unknown or unavailable rtmidi API {backend.api!r}; "
                           "use e.g. mido.backends.rtmidi/UNIX_JACK")
    return api


def _no_midi(exc: BaseException) -> LivegenError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LivegenError(f"cannot reach a MIDI system ({first}); {NO_MIDI_HINT}")


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def list_ports() -> tuple[list[str], list[str]]:
    """``(inputs, outputs)``: names livegen can read from and write to, in backend order."""
    backend = current_backend()
    try:
        return _unique(backend.get_input_names()), _unique(backend.get_output_names())
    except LivegenError:
        raise
    except Exception as exc:  # rtmidi raises its own SystemError/RuntimeError types
        raise _no_midi(exc) from exc


# -- name matching ----------------------------------------------------------------------------

def normalize_port_name(name: str) -> str:
    """Lower-case, whitespace-collapsed name without ALSA ``client:port`` numbers
    (``" 20:0"``) or a Windows index suffix (``" 1"``)."""
    text = _ALSA_SUFFIX.sub("", name.strip())
    text = _NUMBER_SUFFIX.sub("", text)
    return " ".join(text.lower().split())


def match_port(query: str, names: Sequence[str], kind: PortKind) -> str:
    """The one name in ``names`` that ``query`` means.

    Tiers, first decisive one wins: exact (case-insensitive) name; exact normalised name
    (see :func:`normalize_port_name`); case-insensitive substring; normalised substring.
    A tier with several hits is ambiguous. Missing or ambiguous raises
    :class:`LivegenError` listing the candidates; a port is never created here.
    """
    names = _unique(names)
    q_raw = " ".join(query.lower().split())
    q_norm = normalize_port_name(query)
    if not q_raw:
        raise LivegenError(f"empty MIDI {kind} name; choose one of: {_listing(names)}")
    tiers: list[Callable[[str], bool]] = [
        lambda n: " ".join(n.lower().split()) == q_raw,
        lambda n: bool(q_norm) and normalize_port_name(n) == q_norm,
        lambda n: q_raw in " ".join(n.lower().split()),
        lambda n: bool(q_norm) and q_norm in normalize_port_name(n),
    ]
    for tier in tiers:
        hits = [n for n in names if tier(n)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise LivegenError(f"MIDI {kind} {query!r} is ambiguous: {_listing(hits)}; give more of the name")
    if not names:
        raise LivegenError(f"no MIDI {kind} matches {query!r}: there are no MIDI {kind}s; "
                           f"connect a device or use a virtual port (--virtual)")
    raise LivegenError(f"no MIDI {kind} matches {query!r}; available: {_listing(names)}")


def _listing(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "(none)"


# -- ports -----------------------------------------------------------------------------------

#: python-rtmidi's (callback, data) pairs of closed inputs: never freed (see RtMidiInput.close)
_PINNED_CALLBACKS: list[tuple[Any, Any]] = []
#: rtmidi inputs that could not be closed safely and stay open until the process ends
_LEFT_OPEN: list[Any] = []


def rtmidi_inputs_left_open() -> bool:
    """Whether an rtmidi input was left open (its JACK thread may still call in)."""
    return bool(_LEFT_OPEN)


class RtMidiInput:
    """An open python-rtmidi input; satisfies :class:`livegen.io.base.MidiIn`.

    Incoming events are parsed as a byte stream (several messages per event are fine) and
    each message is passed to the callback with its ``time.monotonic()`` arrival time, on
    rtmidi's thread. Exceptions from the callback are logged, never raised into rtmidi.
    """

    def __init__(self, rt: Any, name: str, callback: MessageCallback | None = None) -> None:
        self.name = name
        self.closed = False
        self._rt = rt
        self.stream = MidiStream()
        self._callback = callback
        # sysex reaches the stream (which skips it) so a sysex split over events cannot
        # leave its data bytes to be read as notes
        rt.ignore_types(sysex=False, timing=False, active_sense=True)
        rt.set_callback(self._on_event)

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def _on_event(self, event: tuple[list[int], float], data: object = None) -> None:
        callback = self._callback
        if callback is None:  # closing, or nobody listens: a backlog drains at once
            return
        t = time.monotonic()
        self.stream.deliver(event[0], callback, t, _input_log, self.name)  # never raises into rtmidi's thread

    def close(self) -> None:
        """Stop passing messages on, then close and free the rtmidi input.

        python-rtmidi calls the callback from JACK's process thread through its
        ``(callback, data)`` pair, and under a flood that thread waits for the GIL inside the
        call. ``cancel_callback`` frees the pair, so a call already waiting then used freed
        memory: a process ended with SIGSEGV after a flood of input (9 of 20 closes). The pair
        is therefore pinned for the process's life (:data:`_PINNED_CALLBACKS`) before the
        callback is cancelled; from then on JACK's thread queues events inside rtmidi without
        the GIL, and after :data:`CALLBACK_DRAIN_S` (a call in flight has returned) the port is
        closed and the object deleted, which closes its JACK client cleanly (a client that just
        vanishes stalls a synchronous server for ~5 s).

        When the pair cannot be found (another python-rtmidi), the callback is left in place as
        a no-op and the port registered; :func:`livegen.cli.run` then ends the process without
        the interpreter's teardown (:func:`rtmidi_inputs_left_open`).
        """
        if self.closed:
            return
        self.closed = True
        self._callback = None
        pair = [r for r in gc.get_referents(self._rt)
                if isinstance(r, tuple) and len(r) == 2 and r[0] == self._on_event]
        if len(pair) != 1:
            log.debug("%s: rtmidi's callback pair not found; the port stays open until exit", self.name)
            _LEFT_OPEN.append(self._rt)
            return
        _PINNED_CALLBACKS.append(pair[0])
        try:
            self._rt.cancel_callback()
            time.sleep(CALLBACK_DRAIN_S)
            self._rt.close_port()
            self._rt.delete()
        except Exception as exc:
            log.debug("closing %s: %s", self.name, exc)


class RtMidiOutput:
    """An open python-rtmidi output; satisfies :class:`livegen.io.base.MidiOut`.

    :meth:`send` raises OSError on a closed port or when rtmidi reports an error.

    With ``alive`` (on JACK: whether the server answers, looked at after a send at most
    every :data:`SERVER_LOOK_S`), a port whose server died refuses every later send: rtmidi
    queues JACK output in a ring buffer that only the server empties, and once it is full
    ``send_message`` spins forever holding the GIL (after ~2,300 messages). Such a port is
    never closed either (that holds the GIL for a second); it is only marked closed.
    """

    def __init__(self, rt: Any, name: str, alive: Callable[[], bool] | None = None) -> None:
        self.name = name
        self.closed = False
        self.server_gone = False
        self._rt = rt
        self._alive = alive
        self._looked_at = time.monotonic()
        self._lock = threading.Lock()

    def send(self, msg: mido.Message) -> None:
        with self._lock:
            if self.closed:
                raise OSError(f"MIDI output {self.name!r} is closed")
            if self.server_gone:
                raise OSError(f"MIDI output {self.name!r}: JACK server gone")
            try:
                self._rt.send_message(msg.bytes())
            except Exception as exc:
                raise OSError(f"sending to {self.name!r} failed: {exc}") from exc
            if self._alive is not None and time.monotonic() - self._looked_at >= SERVER_LOOK_S:
                self._looked_at = time.monotonic()  # after the send: its timing is untouched
                self.server_gone = not self._alive()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self.server_gone:
                return
            try:
                self._rt.close_port()
                self._rt.delete()
            except Exception as exc:
                log.debug("closing %s: %s", self.name, exc)


class MidoInput:
    """Fallback for non-rtmidi mido backends: wraps a mido input port."""

    def __init__(self, port: Any, callback: MessageCallback | None = None) -> None:
        self.name = port.name
        self._port = port
        self._callback = callback
        port.callback = self._on_message

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def _on_message(self, msg: mido.Message) -> None:
        callback = self._callback
        if callback is not None:
            try:
                callback(msg, time.monotonic())
            except Exception:
                log.exception("MIDI input callback failed on %s", msg)

    def close(self) -> None:
        self._port.close()


class MidoOutput:
    """Fallback for non-rtmidi mido backends: wraps a mido output port."""

    def __init__(self, port: Any) -> None:
        self.name = port.name
        self._port = port

    def send(self, msg: mido.Message) -> None:
        self._port.send(msg)

    def close(self) -> None:
        self._port.close()


def _check_virtual_supported(api: int | None) -> None:
    if api == rtmidi.API_WINDOWS_MM or (api == rtmidi.API_UNSPECIFIED and sys.platform == "win32"):
        raise LivegenError("Windows MIDI cannot create virtual ports; install loopMIDI "
                           "(tobias-erichsen.de/software/loopmidi.html), add a port there and pass its name "
                           "instead of --virtual")


def _open_rt(kind: PortKind, api: int, name: str | None, virtual: bool, client_name: str) -> tuple[Any, str]:
    """Create an rtmidi client and open a port on it. Returns ``(rt, port_name)``.

    python-rtmidi ships no types, so ``rt`` (its ``MidiIn``/``MidiOut``) is ``Any``.
    """
    local = VIRTUAL_IN if kind == "input" else VIRTUAL_OUT
    try:
        rt = rtmidi.MidiIn(rtapi=api, name=client_name) if kind == "input" else \
            rtmidi.MidiOut(rtapi=api, name=client_name)
    except Exception as exc:
        raise _no_midi(exc) from exc
    try:
        if virtual:
            _check_virtual_supported(rt.get_current_api())
            port_name = name or local
            try:
                rt.open_virtual_port(port_name)
            except NotImplementedError as exc:
                raise LivegenError(f"this MIDI backend cannot create virtual ports ({exc}); "
                                   "create a loopback port (loopMIDI on Windows, IAC on macOS) and pass its name") from exc
            return rt, port_name
        names = list(rt.get_ports())
        port_name = _pick(name, names, kind)
        try:
            rt.open_port(names.index(port_name), local)
        except Exception as exc:
            raise LivegenError(f"cannot open MIDI {kind} {port_name!r} ({exc}); is another program holding it?") \
                from exc
        return rt, port_name
    except BaseException:
        rt.delete()
        raise


def _pick(name: str | None, names: Sequence[str], kind: PortKind) -> str:
    if name is not None:
        return match_port(name, names, kind)
    if len(names) == 1:
        return names[0]
    if not names:
        raise LivegenError(f"there are no MIDI {kind}s; connect a device or use a virtual port (--virtual)")
    raise LivegenError(f"several MIDI {kind}s exist, name one: {_listing(names)}")


def open_input(name: str | None, callback: MessageCallback | None = None, *, virtual: bool = False,
               client_name: str = CLIENT_NAME) -> MidiIn:
    """Open a MIDI input and deliver ``callback(msg, time.monotonic())`` on rtmidi's thread.

    Args:
        name: device name or fuzzy query (:func:`match_port`); None picks the only input
            (several is an error), or with ``virtual`` means ``"livegen in"``.
        callback: receives each parsed message; can be set later with ``set_callback``.
        virtual: create a port other programs connect to instead of opening a device.
        client_name: MIDI client name (JACK shows ``client:port``).
    """
    backend = current_backend()
    api = _rtmidi_api(backend)
    if api is not None:
        rt, port_name = _open_rt("input", api, name, virtual, client_name)
        log.info("opened MIDI input %r%s", port_name, " (virtual)" if virtual else "")
        return RtMidiInput(rt, port_name, callback)
    if virtual:
        port = _open_mido_virtual(backend.open_input, name or VIRTUAL_IN)
    else:
        port = backend.open_input(_pick(name, _unique(backend.get_input_names()), "input"))
    return MidoInput(port, callback)


def open_output(name: str | None, *, virtual: bool = False, reconnect: bool = False,
                client_name: str = CLIENT_NAME) -> MidiOut:
    """Open a MIDI output.

    Args:
        name: device name or fuzzy query; None picks the only output, or with ``virtual``
            means ``"livegen out"``.
        virtual: create a port other programs read from (``livegen:livegen out`` on JACK).
        reconnect: return a :class:`ReconnectingOutput` that survives the device going
            away and coming back; a virtual one is made again when a dead JACK server returns.
        client_name: MIDI client name.
    """
    if reconnect and virtual:
        return ReconnectingOutput(name or VIRTUAL_OUT, virtual=True, client_name=client_name)
    if reconnect and name is not None:
        return ReconnectingOutput(name, client_name=client_name)
    return _open_plain_output(name, virtual, client_name, guard=True)


def _open_plain_output(name: str | None, virtual: bool, client_name: str, *, guard: bool) -> MidiOut:
    """An output port; ``guard``: on JACK, one that stops sending once its server died
    (a :class:`ReconnectingOutput` watches the server itself)."""
    backend = current_backend()
    api = _rtmidi_api(backend)
    if api is not None:
        rt, port_name = _open_rt("output", api, name, virtual, client_name)
        log.info("opened MIDI output %r%s", port_name, " (virtual)" if virtual else "")
        return RtMidiOutput(rt, port_name, _server_probe(api) if guard else None)
    if virtual:
        return MidoOutput(_open_mido_virtual(backend.open_output, name or VIRTUAL_OUT))
    return MidoOutput(backend.open_output(_pick(name, _unique(backend.get_output_names()), "output")))


def _open_mido_virtual(opener: Callable[..., Any], name: str) -> Any:
    try:
        return opener(name, virtual=True)
    except (NotImplementedError, OSError, TypeError) as exc:
        raise LivegenError(f"this MIDI backend cannot create virtual ports ({exc}); "
                           "create a loopback port (loopMIDI on Windows, IAC on macOS) and pass its name") from exc


# -- reconnection ----------------------------------------------------------------------------

def _require_port(query: str, lister: Callable[[], list[str]], kind: PortKind,
                  own_lister: PortLister | None) -> None:
    """Raise now, naming the candidates, if no port matches ``query``; the lister the caller
    opened for itself (``own_lister``) is closed first (a leaked JACK client stalls the server
    at exit)."""
    try:
        match_port(query, lister(), kind)
    except BaseException:
        if own_lister is not None:
            own_lister.close()
        raise


class PortLister:
    """Lists current port names of one kind through one long-lived client (cheap to poll).

    Used by the reconnecting ports; its JACK client is called ``livegen-monitor`` so it
    never takes the ``livegen`` name.
    """

    def __init__(self, kind: PortKind, client_name: str = "livegen-monitor") -> None:
        self.kind = kind
        self.client_name = client_name
        self._rt: Any = None

    def __call__(self) -> list[str]:
        backend = current_backend()
        api = _rtmidi_api(backend)
        if api is None:
            inputs, outputs = list_ports()
            return inputs if self.kind == "input" else outputs
        if self._rt is None:
            try:
                self._rt = rtmidi.MidiIn(rtapi=api, name=self.client_name) if self.kind == "input" else \
                    rtmidi.MidiOut(rtapi=api, name=self.client_name)
            except Exception as exc:
                raise _no_midi(exc) from exc
        names: list[str] = _unique(self._rt.get_ports())
        return names

    def close(self) -> None:
        if self._rt is not None:
            self._rt.delete()
            self._rt = None

    def forget(self) -> None:
        """Let go of the client without closing it: its JACK server died (closing would block
        for a second) and a fresh client is made on the next call."""
        self._rt = None


class _Port(Protocol):
    """What the reconnecting ports need of the port they hold (a MidiIn or a MidiOut)."""

    def close(self) -> None: ...


PortT = TypeVar("PortT", bound=_Port)


class _Reconnecting(Generic[PortT]):
    """Shared logic: keep a port open on whatever name ``query`` matches, reopen on return.

    :meth:`check` does one synchronous look (list names, close a port whose device left,
    open one whose device is back); with ``background=True`` a daemon thread calls it
    every ``interval`` seconds, so callers never wait on it.
    """

    kind: PortKind

    def __init__(self, query: str, *, interval: float = RECONNECT_INTERVAL, background: bool = True,
                 require: bool = True, opener: Callable[[str], PortT] | None = None,
                 lister: Callable[[], list[str]] | None = None, client_name: str = CLIENT_NAME) -> None:
        self.query = query
        self.name = query
        self.interval = interval
        self.client_name = client_name
        self.opens = 0
        self._opener: Callable[[str], PortT] = opener or self._open_device
        #: the lister this port made itself (and must close), None when one was injected
        self._own_lister: PortLister | None = None
        if lister is None:
            self._own_lister = lister = PortLister(self.kind)
        self._lister: Callable[[], list[str]] = lister
        self._lock = threading.Lock()  # guards _port against a concurrent send/close
        self._check_lock = threading.Lock()  # one check at a time
        self._port: PortT | None = None
        self._port_name: str | None = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        if require:
            _require_port(query, self._lister, self.kind, self._own_lister)
        self.check()
        if background:
            self._thread = threading.Thread(target=self._watch, name=f"livegen-reconnect-{self.kind}", daemon=True)
            self._thread.start()

    @property
    def connected(self) -> bool:
        return self._port is not None

    def _open_device(self, name: str) -> PortT:
        raise NotImplementedError

    def _attach(self, port: PortT) -> None:
        """Hook run on a freshly opened port before it is used (inputs set their callback)."""

    def _watch(self) -> None:
        while not self._closed.wait(self.interval):
            try:
                self.check()
            except Exception:
                log.exception("MIDI %s reconnect check failed", self.kind)

    def check(self) -> bool:
        """Look once: drop a vanished device, reopen a returned one. Returns :attr:`connected`."""
        with self._check_lock:
            return self._check()

    def _check(self) -> bool:
        if self._closed.is_set():
            return False
        try:
            names = self._lister()
        except Exception as exc:  # the MIDI system itself is unavailable for now
            log.debug("cannot list MIDI %ss: %s", self.kind, exc)
            return self.connected
        try:
            target: str | None = match_port(self.query, names, self.kind)
        except LivegenError:
            target = None
        if self._port is not None and target != self._port_name:
            log.warning("MIDI %s %r went away", self.kind, self._port_name)
            self._drop(self._port)
        if self._port is None and target is not None:
            try:
                port = self._opener(target)
                self._attach(port)
            except Exception as exc:
                log.warning("cannot open MIDI %s %r: %s", self.kind, target, exc)
                return False
            with self._lock:
                if self._closed.is_set():
                    port.close()
                    return False
                self._port, self._port_name, self.name = port, target, target
            self.opens += 1
            log.info("MIDI %s %r %s", self.kind, target, "reconnected" if self.opens > 1 else "connected")
            if self.opens > 1:
                self._on_reconnect(port)
        return self.connected

    def _on_reconnect(self, port: PortT) -> None:
        """Hook run after a device came back (outputs silence it)."""

    @property
    def reconnects(self) -> int:
        """How many times the device was reopened after going away."""
        return max(0, self.opens - 1)

    def _drop(self, port: PortT) -> None:
        with self._lock:
            if self._port is not port:
                return
            name, self._port, self._port_name = self._port_name or self.query, None, None
        try:
            port.close()
        except Exception as exc:
            log.debug("closing vanished %s: %s", self.kind, exc)
        self._on_lost(name)

    def _on_lost(self, name: str) -> None:
        """Hook run after a device went away (inputs release the keys it held)."""

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            port, self._port = self._port, None
        if port is not None:
            port.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * self.interval + 1)
        if self._own_lister is not None:
            self._own_lister.close()


class ReconnectingOutput:
    """A :class:`~livegen.io.base.MidiOut` on a named device that may come and go.

    :meth:`send` never blocks and never raises: while the device is missing it drops the
    message (counted in :attr:`dropped`); a send that fails marks the device lost. Ports
    are opened and closed only on this object's worker thread (``livegen-reconnect-output``),
    which looks every ``interval`` seconds (at once after a failed send) whether the device
    left, came back or its JACK server died, so neither the engine's loop nor the timed
    sender ever waits on a device. A returning device is reopened by name and first gets
    All Notes Off on every channel.

    Closing an rtmidi port holds the GIL, for a second or more when its JACK server is dead
    or stalled (a client killed with SIGKILL stalls a synchronous server for ~5 s, and its
    ports stay listed until then), so a port whose device left the listing, or whose send
    failed, is closed on the worker while the server answers (~10 ms); a port of a server
    that died is never closed, only kept (closing it would block, and the server is gone).

    Each change of connection goes to the listener (:meth:`set_listener`) as
    ``listener(connected, name, reason)`` on the worker thread.

    Args:
        query: device name or fuzzy query (:func:`match_port`); with ``virtual``, the name
            of the virtual port to keep (re-created when a dead JACK server returns).
        interval: seconds between looks (:data:`RECONNECT_INTERVAL`).
        background: run the worker thread (tests may call :meth:`check` by hand).
        require: raise :class:`LivegenError` now if nothing matches ``query``.
        opener, lister: injected for tests: ``opener(name) -> MidiOut``, ``lister() -> names``.
        alive: ``alive() -> bool``, whether the MIDI system answers; default: on JACK, its
            server's request socket (:func:`livegen.io.jack.server_answers`); injected
            openers get none.
        client_name: MIDI client name of the opened ports.
        virtual: keep a virtual port named ``query`` instead of a device.
        settle: seconds a server that came back must answer before a port is opened on it.
    """

    kind: PortKind = "output"

    def __init__(self, query: str, *, interval: float = RECONNECT_INTERVAL, background: bool = True,
                 require: bool = True, opener: Callable[[str], MidiOut] | None = None,
                 lister: Callable[[], list[str]] | None = None, alive: Callable[[], bool] | None = None,
                 client_name: str = CLIENT_NAME, virtual: bool = False,
                 settle: float = SERVER_SETTLE_S) -> None:
        self.query = query
        self.settle = settle
        self.name = query
        self.interval = interval
        self.client_name = client_name
        self.virtual = virtual
        self.opens = 0
        self.dropped = 0
        self._opener: Callable[[str], MidiOut] = opener or self._open_device
        self._alive = alive if alive is not None or opener is not None else _server_probe()
        #: the lister this port made itself (and must close), None when one was injected
        self._own_lister: PortLister | None = None
        if lister is None and virtual:
            lister = self._virtual_names
        if lister is None:
            self._own_lister = lister = PortLister(self.kind)
        self._lister: Callable[[], list[str]] = lister
        self._lock = threading.Lock()  # guards the port, the counters and the events
        self._check_lock = threading.Lock()  # one check at a time
        self._port: MidiOut | None = None
        self._port_name: str | None = None
        self._lost_at: float | None = None
        #: ports whose device left, closed on the worker when that is safe
        self._retired: list[tuple[MidiOut, int]] = []
        #: ports of a JACK server that died: never closed (that blocks), kept till the end
        self._dead: list[MidiOut] = []
        self._generation = 0  # +1 each time the MIDI system comes back
        self._system_up = True
        self._up_since = 0.0  # when the MIDI system last came back (monotonic s)
        self._events: list[tuple[bool, str, str]] = []
        self._listener: ConnectionListener | None = None
        self._open_error = ""
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if require:
            _require_port(query, self._lister, self.kind, self._own_lister)
        self.check()
        with self._lock:
            self._events.clear()  # the state at the start is told by set_listener
        if background:
            self._thread = threading.Thread(target=self._watch, name="livegen-reconnect-output", daemon=True)
            self._thread.start()

    # ---- what the engine's side calls ---------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._port is not None

    @property
    def reconnects(self) -> int:
        """How many times the device was reopened after going away."""
        return max(0, self.opens - 1)

    def set_listener(self, listener: ConnectionListener | None) -> None:
        """Tell ``listener(connected, name, reason)`` of every later change, on the worker
        thread; when the device is missing now, it hears so at once (on this thread)."""
        with self._lock:
            self._listener = listener
            missing = self._port is None
        if listener is not None and missing:
            listener(False, self.name, "not connected")

    def send(self, msg: mido.Message) -> None:
        """Send now, or drop the message while the device is missing. Never blocks on a device."""
        with self._lock:
            port = self._port
            if port is None:
                self.dropped += 1
                return
            try:
                port.send(msg)
                return
            except Exception as exc:
                self.dropped += 1
                self._lose(f"send failed: {exc}")
        self._wake.set()  # the worker reports it and looks for the device

    def close(self) -> None:
        """Stop the worker; close what can be closed without blocking."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * self.interval + 2)
        with self._lock:
            port, self._port = self._port, None
            retired, self._retired = self._retired, []
            self._listener = None
        up = self._system_answers()
        closing = [p for p, gen in retired if gen == self._generation] + ([port] if port is not None else [])
        for p in closing:
            if up:
                _close_quietly(p, self.kind)
            else:
                self._dead.append(p)
        if self._own_lister is not None:
            if up:
                self._own_lister.close()
            else:
                self._own_lister.forget()

    # ---- the worker --------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.check()
            except Exception:
                log.exception("MIDI output reconnect check failed")

    def check(self) -> bool:
        """Look once: drop a vanished device, reopen a returned one, report changes.
        Returns :attr:`connected`. Runs on the worker (or a test's) thread only."""
        with self._check_lock:
            if not self._closed.is_set():
                self._check()
            self._report()
            return self.connected

    def _check(self) -> None:
        if not self._system_answers():
            if self._system_up:
                self._system_up = False
                log.warning("MIDI output %r lost: the JACK server %r is gone; livegen keeps time and "
                            "reconnects when it returns", self._port_name or self.query, server_name())
                with self._lock:
                    self._lose("JACK server gone")
            return
        if not self._system_up:  # the server is back: every client of the dead one is dead
            self._system_up = True
            self._up_since = time.monotonic()
            self._generation += 1
            log.warning("the JACK server %r is back; looking for MIDI output %r", server_name(), self.query)
            if self._own_lister is not None:
                self._own_lister.forget()
            with self._lock:
                self._dead.extend(p for p, _ in self._retired)
                self._retired.clear()
        if time.monotonic() - self._up_since < self.settle:
            return
        try:
            names = self._lister()
        except Exception as exc:  # the MIDI system itself is unavailable for now
            log.debug("cannot list MIDI outputs: %s", exc)
            return
        try:
            target: str | None = match_port(self.query, names, self.kind)
        except LivegenError:
            target = None
        with self._lock:
            if self._port is not None and target != self._port_name:
                self._lose("device gone")
            retired, self._retired = self._retired, []
        for port, gen in retired:  # their devices are gone and the server answers
            if gen == self._generation:
                _close_quietly(port, self.kind)
            else:
                self._dead.append(port)
        if self._port is None and target is not None:
            self._reopen(target)

    def _reopen(self, target: str) -> None:
        try:
            port = self._opener(target)
        except Exception as exc:
            if str(exc) != self._open_error:  # one line per new reason, not one per look
                self._open_error = str(exc)
                log.warning("cannot open MIDI output %r: %s", target, exc)
            return
        self._open_error = ""
        if self.opens:  # whatever sounded when it left may have missed its note-off
            _all_notes_off(port)
        with self._lock:
            if self._closed.is_set():
                self._retired.append((port, self._generation))
                return
            self._port, self._port_name, self.name = port, target, target
            self.opens += 1
            gone_s = None if self._lost_at is None else time.monotonic() - self._lost_at
            self._lost_at = None
            self._events.append((True, target, "reconnected" if self.opens > 1 else "connected"))
        if self.opens > 1:
            log.warning("MIDI output %r is back%s", target, "" if gone_s is None else f" after {gone_s:.1f} s")
        else:
            log.info("MIDI output %r connected", target)

    def _lose(self, reason: str) -> None:
        """Mark the port lost (caller holds the lock); it is closed later, on the worker."""
        port = self._port
        if port is None:
            return
        self._retired.append((port, self._generation))
        name = self._port_name or self.query
        self._port, self._port_name = None, None
        self._lost_at = time.monotonic()
        self._events.append((False, name, reason))

    def _report(self) -> None:
        with self._lock:
            events, self._events = self._events, []
            listener = self._listener
        for connected, name, reason in events:
            if not connected and reason != "JACK server gone":
                log.warning("MIDI output %r lost (%s); will reopen it when it returns", name, reason)
            if listener is not None:
                try:
                    listener(connected, name, reason)
                except Exception:
                    log.exception("MIDI output listener failed")

    def _system_answers(self) -> bool:
        return self._alive is None or self._alive()

    def _open_device(self, name: str) -> MidiOut:
        return _open_plain_output(name, self.virtual, self.client_name, guard=False)

    def _virtual_names(self) -> list[str]:
        return [self.query]


def _close_quietly(port: MidiOut | MidiIn, kind: PortKind) -> None:
    try:
        port.close()
    except Exception as exc:
        log.debug("closing a MIDI %s: %s", kind, exc)


def _all_notes_off(port: MidiOut) -> None:
    for channel in range(16):
        try:
            port.send(mido.Message("control_change", channel=channel, control=123, value=0))
        except Exception:
            return


def _server_probe(api: int | None = None) -> Callable[[], bool] | None:
    """``alive()`` for the MIDI system in use (or rtmidi ``api``): on JACK, whether its
    server answers; None elsewhere (or when the server's socket is not where JACK2 puts it)."""
    if (api if api is not None else _rtmidi_api(current_backend())) != rtmidi.API_UNIX_JACK:
        return None
    name = server_name()
    if not server_answers(name):
        return None  # not a JACK2 server this probe can see: never call it dead
    return lambda: server_answers(name)


class ReconnectingInput(_Reconnecting[MidiIn]):
    """A :class:`~livegen.io.base.MidiIn` on a named device that may come and go.

    The callback stays attached across reconnections. The keys the device holds are
    tracked (per channel and note); when it goes away while keys are down, the callback
    gets a note-off for each of them, so nothing downstream believes them held for the
    rest of the session. Each loss and return goes to the listener
    (:meth:`set_listener`) as ``listener(connected, name, reason)`` on the watching thread.
    """

    kind: PortKind = "input"

    def __init__(self, query: str, callback: MessageCallback | None = None, **kwargs: Any) -> None:
        self._callback = callback
        self._listener: ConnectionListener | None = None
        self._held: set[tuple[int, int]] = set()  # (channel, note) of keys down
        self._held_lock = threading.Lock()
        super().__init__(query, **kwargs)

    def _open_device(self, name: str) -> MidiIn:
        return open_input(name, self._deliver, client_name=self.client_name)

    def _attach(self, port: MidiIn) -> None:
        port.set_callback(self._deliver)

    def _deliver(self, msg: mido.Message, t: float) -> None:
        kind = msg.type
        if kind in ("note_on", "note_off"):
            with self._held_lock:
                if kind == "note_on" and msg.velocity > 0:
                    self._held.add((msg.channel, msg.note))
                else:
                    self._held.discard((msg.channel, msg.note))
        elif kind == "control_change" and msg.control == 123:  # All Notes Off
            with self._held_lock:
                self._held = {k for k in self._held if k[0] != msg.channel}
        callback = self._callback
        if callback is not None:
            callback(msg, t)

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def set_listener(self, listener: ConnectionListener | None) -> None:
        """Tell ``listener(connected, name, reason)`` of every later loss and return; when
        the device is missing now, it hears so at once (on this thread)."""
        self._listener = listener
        if listener is not None and not self.connected:
            listener(False, self.name, "not connected")

    def _on_lost(self, name: str) -> None:
        with self._held_lock:
            held, self._held = sorted(self._held), set()
        if held:
            log.warning("MIDI input %r went away holding %d key(s): released", name, len(held))
        t = time.monotonic()
        callback = self._callback
        for channel, note in held:
            if callback is not None:
                callback(mido.Message("note_off", channel=channel, note=note, velocity=0), t)
        self._tell(False, name, "device gone")

    def _on_reconnect(self, port: MidiIn) -> None:
        self._tell(True, self.name, "reconnected")

    def _tell(self, connected: bool, name: str, reason: str) -> None:
        listener = self._listener
        if listener is not None:
            try:
                listener(connected, name, reason)
            except Exception:
                log.exception("MIDI input listener failed")
