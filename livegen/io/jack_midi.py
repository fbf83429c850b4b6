"""livegen's own JACK client: MIDI out at the exact frame of each deadline, MIDI in stamped by frame.

With rtmidi on JACK a message is handed to JACK when it is sent and leaves at the start of the
next period: at ``-p 256`` (5.3 ms) onsets land 0-5 ms off the grid. Here livegen is a JACK
client itself (JACK-Client, CFFI): its process callback writes each event the engine
scheduled at the frame offset of its deadline plus one period of fixed latency
(:class:`~livegen.io.jack_schedule.JackScheduler`), so onsets keep the grid to the frame.
Incoming events are stamped with their frame, converted to the engine's clock
(:class:`~livegen.io.jack_frames.FrameClock`): the engine knows when the performer played, or
when a MIDI clock ticked, to the frame, however late Python reads it.

The callback does bounded work: the cycle's times, one clock-offset sample, the events due in
this cycle (libjack calls that keep the GIL, :mod:`livegen.io.jack_lib`), and each incoming
event copied onto a queue. Parsing and the input callback run on the ``livegen-jack-in``
thread. Its duration is kept per cycle (:meth:`JackMidi.summary`).

Ports: one client (``livegen``) with ``livegen out`` and ``livegen in``. ``--out NAME`` /
``--in NAME`` connect them to other JACK ports, through the same reconnecting wrappers as
rtmidi (:class:`~livegen.io.ports.ReconnectingOutput`, :class:`~livegen.io.ports.ReconnectingInput`):
a port that vanishes is reported and reconnected by name, and nothing the engine calls ever
waits on JACK. When the server dies the client is never closed (that can block); a new one
is made when a server of the same name is back.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mido
import numpy as np

from livegen.errors import LivegenError
from livegen.io.base import MessageCallback, MidiIn, MidiOut
from livegen.io.jack import server_answers, server_name
from livegen.io.jack_frames import FrameClock, offset_sample
from livegen.io.jack_lib import JackCalls, address, jack_module
from livegen.io.jack_schedule import JackScheduler
from livegen.io.midi_stream import MidiStream
from livegen.io.ports import (
    CLIENT_NAME,
    VIRTUAL_IN,
    VIRTUAL_OUT,
    ReconnectingInput,
    ReconnectingOutput,
    match_port,
)
from livegen.io.ratelog import Quoted, RateLimitedLog

log = logging.getLogger(__name__)
_rt_log = RateLimitedLog(log)

#: callback durations kept (a ring): ~1 min at 48 kHz / 256 frames.
TIMING_RING = 16384
#: incoming events taken per cycle at most; more are dropped and counted (a flood).
MAX_IN_PER_CYCLE = 1024


@dataclass
class JackInStats:
    """Incoming events: taken from JACK, dropped in a flood, bad bytes."""

    events: int = 0
    dropped: int = 0
    bad: int = 0


class JackMidi:
    """One JACK client with a sample-accurate MIDI output and a frame-stamped MIDI input.

    Args:
        client_name: JACK client name (``livegen``: ports show as ``livegen:livegen out``).
        server: JACK server name (default: ``JACK_DEFAULT_SERVER``, else ``default``).
        latency: frames between an event's deadline and where it is written; None: one
            period (the client's buffer size, followed when it changes).
        with_input: also register ``livegen in``.
        clock: the engine's clock (``time.monotonic``).

    Raises:
        LivegenError: JACK-Client or libjack missing, or the server cannot be reached.
    """

    def __init__(self, client_name: str = CLIENT_NAME, *, server: str | None = None, latency: int | None = None,
                 with_input: bool = True, out_name: str = VIRTUAL_OUT, in_name: str = VIRTUAL_IN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client_name = client_name
        self.server = server or server_name()
        self.fixed_latency = latency
        self.out_name, self.in_name = out_name, in_name
        self.with_input = with_input
        self.clock = clock
        self.scheduler = JackScheduler(clock=clock, latency=latency or 256)
        self.frame_clock = FrameClock()
        self.in_stats = JackInStats()
        self.xruns = 0
        self.callback_errors = 0
        self.opens = 0
        #: seconds of Python work per cycle, and from the cycle's start until the callback ran
        self.work_s = array("d", bytes(8 * TIMING_RING))
        self.start_delay_s = array("d", bytes(8 * TIMING_RING))
        self._n_timed = 0
        self._in_callback: MessageCallback | None = None
        self._in_queue: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        self._stream = MidiStream()
        self._lock = threading.Lock()  # guards opening a client
        self._client: Any = None
        self._dead = False  # the current client's server went away
        self._death_told = False  # alive() said so once
        #: full names of the ports ``livegen in`` is connected from, made again on a new client
        self._sources: set[str] = set()
        self._targets: set[str] = set()
        self._closed = False
        self._reader = threading.Thread(target=self._read_input, name="livegen-jack-in", daemon=True)
        self._open()
        self._reader.start()

    # ---- the client -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The client's name as JACK gave it (``livegen``, or ``livegen-01`` when taken)."""
        return str(self._client.name) if self._client is not None else self.client_name

    @property
    def out_port(self) -> str:
        """Full name of the output port (``livegen:livegen out``)."""
        return f"{self.name}:{self.out_name}"

    @property
    def in_port(self) -> str:
        """Full name of the input port (``livegen:livegen in``)."""
        return f"{self.name}:{self.in_name}"

    @property
    def latency(self) -> int:
        """Frames from an event's deadline to where it is written."""
        return self.scheduler.latency

    @property
    def rate(self) -> int:
        return int(self._client.samplerate) if self._client is not None else 48000

    def _open(self) -> None:
        jack = jack_module()
        try:
            client = jack.Client(self.client_name, no_start_server=True, servername=self.server)
        except jack.JackError as exc:
            raise LivegenError(f"cannot open a JACK client on server {self.server!r} ({exc}); is jackd running? "
                               f"(`jackd -n {self.server} -S -d dummy -r 48000 -p 256`)") from exc
        try:
            out = client.midi_outports.register(self.out_name)
            inp = client.midi_inports.register(self.in_name) if self.with_input else None
            calls = JackCalls(client)
            if self.fixed_latency is None:
                self.scheduler.latency = int(client.blocksize)
            client.set_process_callback(self._make_process(calls, address(out),
                                                           address(inp) if inp is not None else 0))
            client.set_xrun_callback(self._on_xrun)
            client.set_shutdown_callback(self._on_shutdown)
            client.set_blocksize_callback(self._on_blocksize)
            client.activate()
        except BaseException:
            client.close()
            raise
        self._client = client
        self._dead = False
        self._death_told = False
        self.scheduler.active = True
        self.opens += 1
        log.info("JACK MIDI client %r on server %r: %d frames at %d Hz, latency %d frames",
                 client.name, self.server, client.blocksize, client.samplerate, self.scheduler.latency)

    def _make_process(self, calls: JackCalls, out_addr: int, in_addr: int) -> Callable[[int], None]:
        """The process callback of one client (its calls and port addresses are its own)."""
        fc = self.frame_clock
        scheduler = self.scheduler
        monotonic = time.monotonic
        perf = time.perf_counter
        put = self._in_queue.put
        in_stats = self.in_stats
        work, delay = self.work_s, self.start_delay_s
        out_buf = [0]

        def write(offset: int, data: bytes) -> bool:
            return calls.write(out_buf[0], offset, data)

        def process(frames: int) -> None:
            entered = perf()
            try:
                times = calls.cycle_times()
                if times is not None:
                    fc.set_cycle(frames, times[1], times[2])
                before = monotonic()
                jack_us = calls.time_us()
                after = monotonic()
                offset = offset_sample(before, jack_us, after)
                if offset is not None:
                    fc.set_offset(offset)
                buf = out_buf[0] = calls.buffer(out_addr, frames)
                calls.clear(buf)
                scheduler.write_cycle(fc, write, after)
                if in_addr:
                    n = 0
                    for frame, data in calls.events(calls.buffer(in_addr, frames)):
                        if n >= MAX_IN_PER_CYCLE:
                            in_stats.dropped += 1
                            continue
                        n += 1
                        put((fc.time_at(frame), data))
                    in_stats.events += n
                k = self._n_timed % TIMING_RING
                delay[k] = before - fc.time_at(0)
                work[k] = perf() - entered
                self._n_timed += 1
            except Exception as exc:  # an exception would stop JACK calling us: count it, go on
                self.callback_errors += 1
                _rt_log.warning("process", "JACK process callback failed: %r", exc)

        return process

    def _on_xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _on_shutdown(self, status: Any, reason: str) -> None:
        self._dead = True
        self.scheduler.active = False
        _rt_log.warning("shutdown", "JACK server %r shut livegen's client down: %s", self.server, reason)

    def _on_blocksize(self, blocksize: int) -> None:
        if self.fixed_latency is None:
            self.scheduler.latency = int(blocksize)

    def alive(self) -> bool:
        """Whether the server answers (a dead one's ports stay listed; the reconnecting output
        asks every 0.1 s). A client the server shut down is told once as a dead server, even if
        a new server already answers, so that the output is lost and opened again."""
        up = server_answers(self.server)
        if not up:
            self._dead = True
            self.scheduler.active = False
        if self._dead and not self._death_told:
            self._death_told = True
            return False
        return up

    def ensure(self) -> None:
        """A live client: after the server died and came back, a new one with the same ports
        (the dead one is left unclosed) and the input's connections made again."""
        with self._lock:
            if self._closed or not self._dead:
                return
            if not server_answers(self.server):
                raise LivegenError(f"JACK server {self.server!r} is not answering")
            self._client = None
            self._open()
            for source in sorted(self._sources):
                self._connect(source, self.in_port, quiet=True)

    def _connect(self, source: str, dest: str, quiet: bool = False) -> bool:
        try:
            self._client.connect(source, dest)
            return True
        except Exception as exc:
            if not quiet:
                raise LivegenError(f"cannot connect JACK port {source!r} to {dest!r}: {exc}") from exc
            return False

    def _disconnect(self, source: str, dest: str) -> None:
        if self._dead or self._client is None:
            return
        try:
            self._client.disconnect(source, dest)
        except Exception as exc:
            log.debug("disconnecting %s -> %s: %s", source, dest, exc)

    def port_names(self, *, is_input: bool) -> list[str]:
        """MIDI ports of other clients: inputs livegen can play to (``is_input``) or outputs it
        can listen to."""
        if self._dead or self._client is None:
            raise LivegenError(f"JACK server {self.server!r} is gone")
        mine = self.name + ":"
        return [p.name for p in self._client.get_ports(is_midi=True, is_input=is_input, is_output=not is_input)
                if not p.name.startswith(mine)]

    # ---- output -----------------------------------------------------------------------------

    def connect_output(self, target: str) -> MidiOut:
        """Connect ``livegen out`` to the JACK port ``target``; the handle disconnects on close."""
        self.ensure()
        if target != self.out_name:
            self._connect(self.out_port, target)
            self._targets.add(target)
        return JackOutputHandle(self, target)

    # ---- input ------------------------------------------------------------------------------

    def set_input_callback(self, callback: MessageCallback | None) -> None:
        """Deliver each incoming message as ``callback(msg, t)`` on the ``livegen-jack-in``
        thread, ``t`` the engine time (s) of its frame."""
        self._in_callback = callback

    def connect_input(self, source: str) -> MidiIn:
        """Connect the JACK port ``source`` to ``livegen in``; the handle disconnects on close."""
        self.ensure()
        self._connect(source, self.in_port)
        self._sources.add(source)
        return JackInputHandle(self, source)

    def _read_input(self) -> None:
        while True:
            item = self._in_queue.get()
            if item is None:
                return
            t, data = item
            callback = self._in_callback
            if callback is None:
                continue
            try:
                messages = self._stream.feed(data)
            except Exception as exc:
                self.in_stats.bad += 1
                _rt_log.warning("bad-bytes", "bad MIDI bytes on %s: %s", self.in_port, exc)
                continue
            for msg in messages:
                try:
                    callback(msg, t)
                except Exception as exc:
                    _rt_log.warning("callback", "MIDI input callback failed on %s: %r", Quoted(msg), exc)

    # ---- the end ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts and callback timing (µs) of this client so far."""
        n = min(self._n_timed, TIMING_RING)
        work = np.frombuffer(self.work_s, dtype=np.float64)[:n] * 1e6
        delay = np.frombuffer(self.start_delay_s, dtype=np.float64)[:n] * 1e6

        def pct(a: np.ndarray) -> dict[str, float]:
            if a.size == 0:
                return {"median": math.nan, "p99": math.nan, "max": math.nan}
            return {"median": round(float(np.median(a)), 1), "p99": round(float(np.percentile(a, 99)), 1),
                    "max": round(float(a.max()), 1)}

        s = self.scheduler.stats
        return {"cycles": self._n_timed, "latency_frames": self.latency, "rate": self.rate,
                "written": s.written, "late": s.late, "max_late_frames": s.max_late_frames,
                "dropped": s.dropped, "write_failures": s.write_failures, "lock_misses": s.lock_misses,
                "xruns": self.xruns, "callback_errors": self.callback_errors,
                "in_events": self.in_stats.events, "in_dropped": self.in_stats.dropped,
                "callback_work_us": pct(work), "callback_start_delay_us": pct(delay), "opens": self.opens}

    def close(self) -> None:
        """Stop delivering input, deactivate and close the client (a dead server's client is
        left alone: closing it can block). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._in_callback = None
        self._in_queue.put(None)
        self._reader.join(timeout=1.0)
        client, self._client = self._client, None
        self.scheduler.active = False
        if client is not None and not self._dead and server_answers(self.server):
            try:
                client.deactivate()
                client.close()
            except Exception as exc:
                log.debug("closing the JACK client: %s", exc)


class JackOutputHandle:
    """``livegen out``'s connection to one JACK port, as a :class:`~livegen.io.base.MidiOut`.

    :meth:`send` goes out through the scheduler at once (a reconnecting output sends All Notes
    Off through it); :meth:`close` disconnects.
    """

    def __init__(self, midi: JackMidi, target: str) -> None:
        self.name = target
        self._midi = midi

    def send(self, msg: mido.Message) -> None:
        self._midi.scheduler.send_now([msg])

    def close(self) -> None:
        if self.name != self._midi.out_name:
            self._midi._targets.discard(self.name)
            self._midi._disconnect(self._midi.out_port, self.name)


class JackInputHandle:
    """A connection into ``livegen in`` (or the virtual port itself, ``source`` None), as a
    :class:`~livegen.io.base.MidiIn`; :meth:`close` disconnects and stops delivery."""

    def __init__(self, midi: JackMidi, source: str | None) -> None:
        self.name = source or midi.in_name
        self._midi = midi
        self._source = source

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._midi.set_input_callback(callback)

    def close(self) -> None:
        self._midi.set_input_callback(None)
        if self._source is not None:
            self._midi._sources.discard(self._source)
            self._midi._disconnect(self._source, self._midi.in_port)


@dataclass
class JackPorts:
    """What ``livegen play`` plays through on the JACK backend.

    ``output`` and ``input`` are the ports the session watches (reconnecting by name, as on
    rtmidi); ``scheduler`` is the engine's; close ``input``, ``output``, then :meth:`close`.
    """

    midi: JackMidi
    output: MidiOut
    input: MidiIn | None

    @property
    def scheduler(self) -> JackScheduler:
        return self.midi.scheduler

    def close(self) -> None:
        """Close the ports and the client; logs the client's figures (INFO)."""
        for port in (self.input, self.output):
            if port is not None:
                port.close()
        self.midi.close()
        log.info("JACK MIDI stats %s", json.dumps(self.midi.summary()))


def open_jack_ports(out: str | None, inp: str | None, *, virtual: bool, latency: int | None = None,
                    client_name: str = CLIENT_NAME) -> JackPorts:
    """Open livegen's JACK client and its ports for ``livegen play`` (as rtmidi's would be).

    Args:
        out: JACK port to play to (fuzzy name, :func:`~livegen.io.ports.match_port`; None: the
            only one there is); with ``virtual``, the name of livegen's own output port.
        inp: JACK port to listen to (None: no input); ignored with ``virtual``.
        virtual: keep ``livegen out`` and ``livegen in`` for others to connect to.
        latency: frames of fixed latency (None: one period).

    Raises:
        LivegenError: no JACK, or a name that matches no port or several (one line).
    """
    out_name = (out or VIRTUAL_OUT) if virtual else VIRTUAL_OUT
    midi = JackMidi(client_name, latency=latency, with_input=bool(inp) or virtual, out_name=out_name)
    output: MidiOut | None = None
    midi_in: MidiIn | None = None
    try:
        if virtual:
            output = ReconnectingOutput(out_name, virtual=True, opener=midi.connect_output, alive=midi.alive,
                                       client_name=client_name)
            midi_in = JackInputHandle(midi, None)
        else:
            targets = midi.port_names(is_input=True)
            query = out if out is not None else _only_port(targets)
            match_port(query, targets, "output")  # fail now, with the candidates
            if inp is not None:
                match_port(inp, midi.port_names(is_input=False), "input")
            output = ReconnectingOutput(query, opener=midi.connect_output, lister=_lister(midi, True),
                                        alive=midi.alive, client_name=client_name)
            if inp is not None:
                midi_in = ReconnectingInput(inp, opener=midi.connect_input, lister=_lister(midi, False),
                                            client_name=client_name)
        return JackPorts(midi, output, midi_in)
    except BaseException:
        if output is not None:
            output.close()
        midi.close()
        raise


def _only_port(names: list[str]) -> str:
    """The one JACK MIDI input there is (``livegen play`` without ``--out`` or ``--virtual``)."""
    if len(names) == 1:
        return names[0]
    if not names:
        raise LivegenError("there are no MIDI outputs; connect a device or use a virtual port (--virtual)")
    raise LivegenError(f"several MIDI outputs exist, name one with --out: {', '.join(repr(n) for n in names)}")


def _lister(midi: JackMidi, is_input: bool) -> Callable[[], list[str]]:
    def names() -> list[str]:
        if is_input:
            midi.ensure()  # the output's worker makes a new client once a returned server settled
        return midi.port_names(is_input=is_input)

    return names
