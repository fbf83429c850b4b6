"""The engine's side of the JACK helper process: a scheduler, ports and a watch on both.

With ``--midi-backend jack`` livegen's JACK client runs in a helper process
(:mod:`livegen.io.jack.helper`) with its own GIL. :class:`JackBackend` starts it and talks to
it over a pipe (:mod:`livegen.io.jack.pipe`):

* :class:`PipeScheduler` is the engine's :class:`~livegen.engine.scheduler.Scheduler`: each
  scheduled message goes down the pipe at once with its deadline (the engine schedules a step
  ahead); the helper writes it at the frame of the deadline plus one period. No thread here
  waits for deadlines. ``cancel_pending`` tells the helper to drop whatever is due after now
  and returns exactly those messages.
* Input comes back stamped with its frame's time on the engine's clock and is parsed here
  (:class:`~livegen.io.midi_stream.MidiStream`) on the ``livegen-jack-pipe`` thread.
* Ports are connected, disconnected and listed by the helper; the session wraps them in the
  same reconnecting ports as rtmidi's (:class:`~livegen.io.ports.ReconnectingOutput`,
  :class:`~livegen.io.ports.ReconnectingInput`), so a device that leaves or returns, or a JACK
  server that dies and returns, is reported and handled as on rtmidi.
* A helper that dies is told in one line and started again; the reconnecting ports see their
  device go and come back (All Notes Off first). When the server dies the helper exits; a new
  one starts when a server of that name answers again.

Nothing the engine calls waits on the helper: frames go down a non-blocking pipe and are
dropped (counted) if it is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mido

from livegen.errors import LivegenError
from livegen.io.base import MessageCallback, MidiIn, MidiOut
from livegen.io.jack.pipe import encode, read_frame
from livegen.io.jackd import server_answers, server_name
from livegen.io.midi_stream import MidiStream
from livegen.io.ports import (
    CLIENT_NAME,
    VIRTUAL_IN,
    VIRTUAL_OUT,
    ReconnectingInput,
    ReconnectingOutput,
    match_port,
)
from livegen.io.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
_rt_log = RateLimitedLog(log)

#: seconds to wait for a new helper's ready frame (importing numpy and JACK-Client)
START_TIMEOUT_S = 15.0
#: seconds to wait for a new helper's first stamp of its frame timeline, so the engine's clock
#: is on frames from its first reading (read before it, ``time.monotonic()`` can be ahead of
#: the timeline that stamps the input, and the clock holds still until the timeline catches up)
FIRST_STAMP_TIMEOUT_S = 2.0
#: seconds to wait for the answer to a port request
REQUEST_TIMEOUT_S = 3.0
#: seconds a closing helper gets to write what is due and release what sounds
CLOSE_TIMEOUT_S = 3.0


class JackTimelineClock:
    """The engine's clock on JACK's frames (a :class:`~livegen.engine.clock.Clock`).

    The helper keeps a :class:`~livegen.io.jack.frames.FrameTimeline` and stamps, every
    20 ms, where its latest cycle started in timeline seconds and on ``time.monotonic()``.
    :meth:`now` is the latest stamp plus the wall time since, never going back; before the
    first stamp it is ``time.monotonic()`` (the timeline is anchored there). Deadlines the
    engine computes on it are frames to the helper, exact to the frame.
    """

    def __init__(self) -> None:
        self._stamp: tuple[float, float] | None = None
        self._last = -float("inf")
        self._lock = threading.Lock()
        self.stamped = threading.Event()

    def stamp(self, timeline_s: float, mono_s: float) -> None:
        """The helper's latest cycle started at ``timeline_s`` (timeline) = ``mono_s`` (wall)."""
        self._stamp = (timeline_s, mono_s)
        self.stamped.set()

    def now(self) -> float:
        stamp = self._stamp
        mono = time.monotonic()
        t = mono if stamp is None else stamp[0] + (mono - stamp[1])
        with self._lock:
            if t < self._last:  # a new stamp behind the extrapolation: hold, never step back
                t = self._last
            self._last = t
        return t

    def mono_at(self, t: float) -> float:
        """``time.monotonic()`` expected at timeline time ``t``."""
        stamp = self._stamp
        return t if stamp is None else stamp[1] + (t - stamp[0])

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - self.now()
        await asyncio.sleep(delay if delay > 0 else 0)


class HelperGone(Exception):
    """The helper process is not running."""


class JackHelperProcess:
    """One helper process and the pipe to it.

    Args:
        server: JACK server name.
        client_name, out_name, in_name: the helper's client and ports (``in_name`` None: none).
        on_input: ``callback(data, t)`` for each input event (bytes, engine time s).
    """

    def __init__(self, server: str, client_name: str, out_name: str, in_name: str | None,
                 on_input: Callable[[bytes, float], None], latency: int | None = None,
                 timeline: JackTimelineClock | None = None) -> None:
        anchor = [] if timeline is None else ["--anchor", repr(timeline.now()), repr(time.monotonic())]
        cmd = [sys.executable, "-m", "livegen.io.jack.helper", "--server", server, "--client-name", client_name,
               "--out-name", out_name, *(["--in-name", in_name] if in_name else []),
               *(["--latency", str(latency)] if latency else []), *anchor]
        self._timeline = timeline
        # a session of its own: a terminal's Ctrl-C or hang-up reaches livegen, which then tells
        # the helper to write what is due and quit (it quits too when its pipe ends); delivered
        # to the helper as well, it died mid-write with a traceback and was started again
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._fd = self.proc.stdin.fileno()
        self._stdout = self.proc.stdout
        self._on_input = on_input
        self._lock = threading.Lock()  # one frame at a time into the pipe
        self._answers: dict[int, dict[str, Any]] = {}
        self._answered = threading.Condition()
        self._ids = itertools.count(1)
        self.info: dict[str, Any] = {}
        self.figures: dict[str, Any] | None = None
        self.server_gone: str | None = None
        self.closing = False
        self.dropped = 0
        self.ended = threading.Event()
        ready = read_frame(self._stdout)
        if ready is None or ready[0] != b"R":
            self.proc.wait(timeout=5)
            why = ready[2].decode("utf-8", "replace") if ready is not None else f"exit {self.proc.returncode}"
            raise LivegenError(f"the JACK helper could not open a client on server {server!r} ({why}); "
                               f"is jackd running? (`jackd -n {server} -S -d dummy -r 48000 -p 256`)")
        self.info = json.loads(ready[2])
        os.set_blocking(self._fd, False)
        self._reader = threading.Thread(target=self._read, name="livegen-jack-pipe", daemon=True)
        self._reader.start()

    @property
    def running(self) -> bool:
        return not self.ended.is_set()

    @property
    def period_s(self) -> float:
        return float(self.info.get("period", 256)) / float(self.info.get("rate", 48000))

    def send(self, kind: bytes, t: float, payload: bytes = b"") -> bool:
        """One frame to the helper without waiting; False (counted) when it cannot take it."""
        frame = encode(kind, t, payload)
        with self._lock:
            try:
                return os.write(self._fd, frame) == len(frame)
            except BlockingIOError:
                self.dropped += 1
                _rt_log.warning("pipe-full", "the JACK helper is not reading: %d MIDI message(s) dropped",
                                self.dropped)
            except OSError:  # the helper is gone
                pass
        return False

    def request(self, kind: bytes, body: dict[str, Any]) -> dict[str, Any]:
        """Send a port request and wait for its answer.

        Raises:
            HelperGone: the helper is not running or did not answer.
        """
        rid = next(self._ids)
        if not self.running or not self.send(kind, time.monotonic(), json.dumps({**body, "id": rid}).encode()):
            raise HelperGone("the JACK helper process is not running")
        end = time.monotonic() + REQUEST_TIMEOUT_S
        with self._answered:
            while rid not in self._answers:
                left = end - time.monotonic()
                if left <= 0 or not self.running:
                    raise HelperGone("the JACK helper process did not answer")
                self._answered.wait(min(left, 0.1))
            return self._answers.pop(rid)

    def _read(self) -> None:
        try:
            while True:
                frame = read_frame(self._stdout)
                if frame is None:
                    break
                kind, t, payload = frame
                if kind == b"M":
                    self._on_input(payload, t)
                elif kind == b"T" and self._timeline is not None:
                    self._timeline.stamp(t, struct.unpack("<d", payload)[0])
                elif kind == b"A":
                    answer = json.loads(payload)
                    with self._answered:
                        self._answers[int(answer["id"])] = answer
                        self._answered.notify_all()
                elif kind == b"G":
                    self.server_gone = payload.decode("utf-8", "replace")
                elif kind == b"S":
                    self.figures = json.loads(payload)
        except Exception:
            log.exception("reading from the JACK helper failed")
        finally:
            self.ended.set()
            with self._answered:
                self._answered.notify_all()

    def close(self, *, server_up: bool) -> None:
        """Ask the helper to write what is due, release what sounds and quit; kill it when it
        does not within :data:`CLOSE_TIMEOUT_S` or the server is gone."""
        self.closing = True
        if server_up and self.running:
            self.send(b"Q", time.monotonic())
            self.ended.wait(CLOSE_TIMEOUT_S)
        try:
            self.proc.wait(timeout=0.5 if server_up else 0.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=1.0)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


class PipeScheduler:
    """The engine's :class:`~livegen.engine.scheduler.Scheduler` on the JACK helper.

    Every method may be called from any thread. Messages go to the helper at once; a copy of
    what is not yet due is kept so that :meth:`cancel_pending` can return what it dropped.
    """

    def __init__(self, backend: JackBackend, clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.clock = clock
        self.sent = 0
        self._lock = threading.Lock()
        self._ahead: list[tuple[float, mido.Message]] = []  # sent, not yet due (pruned as they pass)

    def schedule(self, deadline: float, messages: Sequence[mido.Message]) -> None:
        """Hand ``messages`` (in order) to the helper, due at ``deadline`` (engine seconds)."""
        if not messages:
            return
        helper = self.backend.helper
        with self._lock:
            now = self.clock()
            if len(self._ahead) > 64:
                self._ahead = [item for item in self._ahead if item[0] > now]
            for m in messages:
                self._ahead.append((deadline, m))
                if helper is not None:
                    helper.send(b"E", deadline, bytes(m.bytes()))
                self.sent += 1

    def send_now(self, messages: Sequence[mido.Message]) -> None:
        """Due now: written one period from now, after anything due before."""
        self.schedule(self.clock(), messages)

    def cancel_pending(self) -> list[mido.Message]:
        """Tell the helper to drop everything due after now; return those messages in order."""
        with self._lock:
            t = self.clock()
            helper = self.backend.helper
            if helper is not None:
                helper.send(b"X", t)
            dropped = [m for d, m in sorted(self._ahead, key=lambda item: item[0]) if d > t]
            self._ahead.clear()
        return dropped

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until what is due by now has left JACK (two periods), unless no helper runs."""
        helper = self.backend.helper
        if helper is not None and helper.running:
            time.sleep(min(timeout, 2 * helper.period_s + 0.002))

    def close(self) -> None:
        self.flush()


class JackBackend:
    """livegen's JACK client in a helper process, as the engine and the session see it.

    Args:
        server: JACK server (default ``JACK_DEFAULT_SERVER``).
        with_input: register ``livegen in``.
        out_name: livegen's output port name.
        latency: frames of fixed latency (None: one period).
        frame_clock: keep the engine's time on JACK's frames (:attr:`clock`, for the internal
            clock); False: deadlines on ``time.monotonic()`` mapped through JACK's clock (an
            external clock, MIDI or Link, keeps time).

    Raises:
        LivegenError: the helper cannot start (no JACK-Client, no server), one line.
    """

    def __init__(self, *, server: str | None = None, with_input: bool = True, out_name: str = VIRTUAL_OUT,
                 in_name: str = VIRTUAL_IN, client_name: str = CLIENT_NAME, latency: int | None = None,
                 frame_clock: bool = False) -> None:
        self.server = server or server_name()
        self.client_name, self.out_name, self.in_name = client_name, out_name, in_name
        self.with_input = with_input
        self.latency = latency
        self.generation = 0
        self.restarts = 0
        #: the engine's clock on frames (None: the engine keeps ``time.monotonic()``)
        self.clock = JackTimelineClock() if frame_clock else None
        self.scheduler = PipeScheduler(self, self.clock.now if self.clock is not None else time.monotonic)
        self._stream = MidiStream()
        self._callback: MessageCallback | None = None
        self._lock = threading.Lock()  # starting a helper
        self._closed = False
        self._death_told = True
        #: connections to make again on a new helper: (source, dest) with our names as written
        self._links: set[tuple[str, str]] = set()
        self.helper: JackHelperProcess | None = None
        self._start()

    @property
    def name(self) -> str:
        return str(self.helper.info.get("name", self.client_name)) if self.helper else self.client_name

    @property
    def out_port(self) -> str:
        return f"{self.name}:{self.out_name}"

    @property
    def in_port(self) -> str:
        return f"{self.name}:{self.in_name}"

    def _start(self) -> None:
        self.helper = JackHelperProcess(self.server, self.client_name, self.out_name,
                                        self.in_name if self.with_input else None, self._on_input, self.latency,
                                        self.clock)
        self.generation += 1
        self._death_told = False
        self._stream = MidiStream()
        log.info("JACK helper %d on server %r: %s", self.helper.proc.pid, self.server, self.helper.info)
        if self.clock is not None and not self.clock.stamped.wait(FIRST_STAMP_TIMEOUT_S):
            log.warning("the JACK server ran no cycle in %.0f s: livegen keeps time on the wall clock "
                        "until it does", FIRST_STAMP_TIMEOUT_S)

    # ---- liveness ---------------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether the server answers (the reconnecting output asks every 0.1 s)."""
        return server_answers(self.server)

    def ensure(self) -> int:
        """The generation of a running helper: a dead one is told once and a new one started
        while the server answers.

        Raises:
            LivegenError: the server does not answer or the helper cannot start.
        """
        with self._lock:
            if self._closed:
                raise LivegenError("the JACK backend is closed")
            helper = self.helper
            if helper is not None and helper.running:
                return self.generation
            if helper is not None and not self._death_told:
                self._death_told = True
                if helper.server_gone is None and server_answers(self.server):
                    log.warning("the JACK helper process ended (exit %s); starting a new one",
                                helper.proc.poll())
            if not server_answers(self.server):
                raise LivegenError(f"JACK server {self.server!r} is not answering")
            if helper is not None:
                helper.close(server_up=False)
                self.helper = None
            self._start()
            self.restarts += 1
            for source, dest in sorted(self._links):
                self._request(b"C", {"source": self._full(source), "dest": self._full(dest)}, quiet=True)
            return self.generation

    def _full(self, name: str) -> str:
        """Our own port names follow the client's name (``livegen``, or ``livegen-01``)."""
        if name == self.out_name:
            return self.out_port
        if name == self.in_name:
            return self.in_port
        return name

    def _request(self, kind: bytes, body: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
        helper = self.helper
        try:
            if helper is None:
                raise HelperGone("no JACK helper process")
            answer = helper.request(kind, body)
        except HelperGone as exc:
            if quiet:
                return {"error": str(exc)}
            raise LivegenError(str(exc)) from exc
        if answer.get("error") and not quiet:
            raise LivegenError(f"JACK: {answer['error']}")
        return answer

    def port_names(self, *, inputs: bool) -> list[str]:
        """MIDI ports of other clients: inputs livegen can play to, or outputs it can hear."""
        return list(self._request(b"L", {"inputs": inputs}).get("names", []))

    def lister(self, *, inputs: bool | None) -> Callable[[], list[str]]:
        """``lister()`` for a reconnecting port: the MIDI inputs or outputs of other clients,
        or (``inputs`` None) livegen's own virtual output alone. A new helper (after one died,
        or after the server returned) shows an empty listing once, so the port is dropped and
        opened again on the new client."""
        seen = [self.generation]

        def names() -> list[str]:
            generation = self.ensure()
            if generation != seen[0]:
                seen[0] = generation
                return []
            return [self.out_name] if inputs is None else self.port_names(inputs=inputs)

        return names

    # ---- ports ------------------------------------------------------------------------------

    def connect_output(self, target: str) -> MidiOut:
        """Connect ``livegen out`` to ``target`` (itself: the virtual port, no connection)."""
        self.ensure()
        if target != self.out_name:
            self._request(b"C", {"source": self.out_port, "dest": target})
            self._links.add((self.out_name, target))
        return JackOutputHandle(self, target, self.generation)

    def connect_input(self, source: str) -> MidiIn:
        """Connect ``source`` to ``livegen in``."""
        self.ensure()
        self._request(b"C", {"source": source, "dest": self.in_port})
        self._links.add((source, self.in_name))
        return JackInputHandle(self, source, self.generation)

    def disconnect(self, source: str, dest: str, generation: int) -> None:
        self._links.discard((source, dest))
        helper = self.helper
        if generation == self.generation and helper is not None and helper.running and not self._closed:
            self._request(b"D", {"source": self._full(source), "dest": self._full(dest)}, quiet=True)

    def set_input_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def _on_input(self, data: bytes, t: float) -> None:
        callback = self._callback
        if callback is None:
            return
        self._stream.deliver(data, callback, t, _rt_log, self.in_port)

    def close(self) -> dict[str, Any] | None:
        """Stop the helper (it writes what is due and releases what sounds); its figures."""
        with self._lock:
            self._closed = True
            helper, self.helper = self.helper, None
        self._callback = None
        if helper is None:
            return None
        helper.close(server_up=server_answers(self.server))
        figures = helper.figures
        if figures is not None:
            figures = {**figures, "helper_restarts": self.restarts, "pipe_dropped": helper.dropped}
            log.info("JACK MIDI stats %s", json.dumps(figures))
        return figures


class JackOutputHandle:
    """``livegen out``'s connection to one port, as a :class:`~livegen.io.base.MidiOut`:
    :meth:`send` is due now (a returning device's All Notes Off); :meth:`close` disconnects."""

    def __init__(self, backend: JackBackend, target: str, generation: int) -> None:
        self.name = target
        self._backend = backend
        self._generation = generation

    def send(self, msg: mido.Message) -> None:
        self._backend.scheduler.send_now([msg])

    def close(self) -> None:
        if self.name != self._backend.out_name:
            self._backend.disconnect(self._backend.out_name, self.name, self._generation)


class JackInputHandle:
    """A connection into ``livegen in`` (``source`` None: the virtual port itself), as a
    :class:`~livegen.io.base.MidiIn`."""

    def __init__(self, backend: JackBackend, source: str | None, generation: int) -> None:
        self.name = source or backend.in_name
        self._backend = backend
        self._source = source
        self._generation = generation

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._backend.set_input_callback(callback)

    def close(self) -> None:
        self._backend.set_input_callback(None)
        if self._source is not None:
            self._backend.disconnect(self._source, self._backend.in_name, self._generation)


@dataclass
class JackPorts:
    """What ``livegen play`` plays through on the JACK backend: close ``input``, ``output``,
    then :meth:`close`."""

    backend: JackBackend
    output: MidiOut
    input: MidiIn | None

    @property
    def scheduler(self) -> PipeScheduler:
        return self.backend.scheduler

    def close(self) -> None:
        for port in (self.input, self.output):
            if port is not None:
                port.close()
        self.backend.close()


def open_jack_ports(out: str | None, inp: str | None, *, virtual: bool, latency: int | None = None,
                    client_name: str = CLIENT_NAME, frame_clock: bool = False) -> JackPorts:
    """Start the JACK helper and open ``livegen play``'s ports on it (as rtmidi's would be).

    Args:
        out: port to play to (fuzzy, :func:`~livegen.io.ports.match_port`; None: the only
            one); with ``virtual``, the name of livegen's own output port.
        inp: port to listen to (None: none); ignored with ``virtual``.
        virtual: keep ``livegen out`` and ``livegen in`` for others to connect to.
        latency: frames of fixed latency (None: one period).
        frame_clock: the engine keeps time on JACK's frames (``backend.clock``).

    Raises:
        LivegenError: no JACK, or a name that matches no port or several (one line).
    """
    out_name = (out or VIRTUAL_OUT) if virtual else VIRTUAL_OUT
    backend = JackBackend(with_input=bool(inp) or virtual, out_name=out_name, client_name=client_name,
                          latency=latency, frame_clock=frame_clock)
    output: MidiOut | None = None
    midi_in: MidiIn | None = None
    try:
        if virtual:
            output = ReconnectingOutput(out_name, virtual=True, opener=backend.connect_output,
                                        alive=backend.alive, lister=backend.lister(inputs=None),
                                        client_name=client_name)
            midi_in = JackInputHandle(backend, None, backend.generation)
        else:
            targets = backend.port_names(inputs=True)
            query = out if out is not None else _only_port(targets)
            match_port(query, targets, "output")  # fail now, with the candidates
            if inp is not None:
                match_port(inp, backend.port_names(inputs=False), "input")
            output = ReconnectingOutput(query, opener=backend.connect_output, lister=backend.lister(inputs=True),
                                        alive=backend.alive, client_name=client_name)
            if inp is not None:
                midi_in = ReconnectingInput(inp, opener=backend.connect_input, lister=backend.lister(inputs=False),
                                            client_name=client_name)
        return JackPorts(backend, output, midi_in)
    except BaseException:
        if output is not None:
            output.close()
        backend.close()
        raise


def _only_port(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if not names:
        raise LivegenError("there are no MIDI outputs; connect a device or use a virtual port (--virtual)")
    raise LivegenError(f"several MIDI outputs exist, name one with --out: {', '.join(repr(n) for n in names)}")
