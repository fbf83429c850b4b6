"""Real MIDI ports through mido/python-rtmidi: listing, fuzzy names, virtual ports, reconnection.

The backend follows ``MIDO_BACKEND`` *at call time* (``mido.backends.rtmidi/UNIX_JACK``
for JACK, see :mod:`livegen.io.jack`), so a :class:`~livegen.io.jack.JackServer` started
after ``import mido`` still takes effect.

Inputs are opened on python-rtmidi directly rather than through ``mido.open_input``:
JACK may hand several MIDI messages to a reader as one event, and mido's rtmidi backend
decodes one message per event (the rest vanish). Here every event is fed to a
``mido.Parser`` as a byte stream, and each parsed message goes to the user callback as
``callback(msg, time.monotonic())`` *on rtmidi's thread*; the engine wraps its callback
with ``loop.call_soon_threadsafe``. Sysex and MIDI clock (0xF8) are delivered; active
sensing is ignored.

Every port livegen opens belongs to a client called ``livegen``; on JACK a virtual output
shows as ``livegen:livegen out`` to other programs.
"""

from __future__ import annotations

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

log = logging.getLogger(__name__)

CLIENT_NAME = "livegen"
VIRTUAL_IN = "livegen in"
VIRTUAL_OUT = "livegen out"
#: seconds between checks whether a reconnecting port's device left or came back.
RECONNECT_INTERVAL = 1.0

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

def drain(parser: mido.Parser) -> list[mido.Message]:
    """Every complete message a :class:`mido.Parser` holds, oldest first."""
    out: list[mido.Message] = []
    while (msg := parser.get_message()) is not None:
        out.append(msg)
    return out


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
        self._parser = mido.Parser()
        self._callback = callback
        rt.ignore_types(sysex=False, timing=False, active_sense=True)
        rt.set_callback(self._on_event)

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def _on_event(self, event: tuple[list[int], float], data: object = None) -> None:
        t = time.monotonic()
        try:
            self._parser.feed(event[0])
            messages = drain(self._parser)
        except Exception:  # never let an exception escape into rtmidi's thread
            log.exception("bad MIDI bytes from %s", self.name)
            return
        callback = self._callback
        if callback is None:
            return
        for msg in messages:
            try:
                callback(msg, t)
            except Exception:
                log.exception("MIDI input callback failed on %s", msg)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._callback = None
        try:
            self._rt.cancel_callback()
            self._rt.close_port()
            self._rt.delete()
        except Exception as exc:
            log.debug("closing %s: %s", self.name, exc)


class RtMidiOutput:
    """An open python-rtmidi output; satisfies :class:`livegen.io.base.MidiOut`.

    :meth:`send` raises OSError on a closed port or when rtmidi reports an error.
    """

    def __init__(self, rt: Any, name: str) -> None:
        self.name = name
        self.closed = False
        self._rt = rt
        self._lock = threading.Lock()

    def send(self, msg: mido.Message) -> None:
        with self._lock:
            if self.closed:
                raise OSError(f"MIDI output {self.name!r} is closed")
            try:
                self._rt.send_message(msg.bytes())
            except Exception as exc:
                raise OSError(f"sending to {self.name!r} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
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
            away and coming back (ignored for virtual ports, which cannot vanish).
        client_name: MIDI client name.
    """
    if reconnect and not virtual and name is not None:
        return ReconnectingOutput(name, client_name=client_name)
    backend = current_backend()
    api = _rtmidi_api(backend)
    if api is not None:
        rt, port_name = _open_rt("output", api, name, virtual, client_name)
        log.info("opened MIDI output %r%s", port_name, " (virtual)" if virtual else "")
        return RtMidiOutput(rt, port_name)
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
            try:
                match_port(query, self._lister(), self.kind)  # raise now with the candidates
            except BaseException:
                if self._own_lister is not None:
                    self._own_lister.close()  # a leaked JACK client stalls the server at exit
                raise
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
            self._port, self._port_name = None, None
        try:
            port.close()
        except Exception as exc:
            log.debug("closing vanished %s: %s", self.kind, exc)

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


class ReconnectingOutput(_Reconnecting[MidiOut]):
    """A :class:`~livegen.io.base.MidiOut` on a named device that may come and go.

    While the device is missing, :meth:`send` drops messages (counted in
    :attr:`dropped`) and returns at once; a failed send marks the device gone. The device
    is reopened by name when it reappears (checked every ``interval`` s in a thread).

    Args:
        query: device name or fuzzy query (:func:`match_port`).
        require: raise :class:`LivegenError` now if nothing matches ``query``.
        background: run the checking thread (tests may call :meth:`check` by hand).
        opener, lister: injected for tests: ``opener(name) -> MidiOut``, ``lister() -> names``.
    """

    kind: PortKind = "output"

    def __init__(self, query: str, **kwargs: Any) -> None:
        self.dropped = 0
        super().__init__(query, **kwargs)

    def _open_device(self, name: str) -> MidiOut:
        return open_output(name, client_name=self.client_name)

    def _on_reconnect(self, port: MidiOut) -> None:
        # whatever was sounding when the device left may have lost its note-off: silence all
        for channel in range(16):
            try:
                port.send(mido.Message("control_change", channel=channel, control=123, value=0))
            except Exception:
                return

    def send(self, msg: mido.Message) -> None:
        failed = None
        with self._lock:
            port = self._port
            if port is None:
                self.dropped += 1
                return
            try:
                port.send(msg)
            except Exception as exc:
                failed = exc
                self.dropped += 1
        if failed is not None:
            log.warning("MIDI output %r failed (%s); will reopen it when it returns", self._port_name, failed)
            self._drop(port)


class ReconnectingInput(_Reconnecting[MidiIn]):
    """A :class:`~livegen.io.base.MidiIn` on a named device that may come and go.

    The callback stays attached across reconnections.
    """

    kind: PortKind = "input"

    def __init__(self, query: str, callback: MessageCallback | None = None, **kwargs: Any) -> None:
        self._callback = callback
        super().__init__(query, **kwargs)

    def _open_device(self, name: str) -> MidiIn:
        return open_input(name, self._deliver, client_name=self.client_name)

    def _attach(self, port: MidiIn) -> None:
        port.set_callback(self._deliver)

    def _deliver(self, msg: mido.Message, t: float) -> None:
        callback = self._callback
        if callback is not None:
            callback(msg, t)

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback
