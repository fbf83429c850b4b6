"""livegen's JACK helper process: MIDI out at the exact frame of each deadline, MIDI in stamped by frame.

``python -m livegen.io.jack.helper`` is started by :class:`~livegen.io.jack.backend.JackBackend`.
It is a JACK client (``livegen``, ports ``livegen out`` and ``livegen in``) in a process of its
own, so its process callback needs only this process's GIL: the engine stepping its model in
the other process cannot hold JACK's cycle up. (In-process, the callback waited for the
engine's GIL every period: 8.2 ms median off the grid and 47 xruns at ``-p 256``.)

The engine writes frames (:mod:`livegen.io.jack.pipe`) to this process's stdin well ahead of
their deadlines; the reader (main thread) puts each message into a
:class:`~livegen.io.jack.schedule.JackScheduler`. Each cycle the process callback maps the
engine's clock onto this cycle's frames (:class:`~livegen.io.jack.frames.FrameClock`:
``jack_get_cycle_times`` plus the offset of JACK's clock, which on Linux is
``CLOCK_MONOTONIC_RAW``, ~0.23 s from the engine's ``CLOCK_MONOTONIC`` here, measured each
cycle by a JACK-time read between two engine-clock reads) and writes every due event at the
frame of its deadline plus one period. Input events are stamped with the engine time of their
frame and go back over stdout from a writer thread (the callback never writes to the pipe).

Bounded work per callback (a few libjack calls, at most 512 events written and 1024 read);
its time per cycle is kept and sent to the engine at exit (``S``). When the pipe ends (the
engine quit or died) or ``Q`` comes, what is due is written, every note still sounding gets
its note-off, then the client closes. When the server shuts the client down the process says
so (``G``) and exits at once without closing the client (that can block).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import queue
import statistics
import struct
import sys
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any, BinaryIO

from livegen.io.jack.frames import FrameClock, FrameTimeline, offset_sample
from livegen.io.jack.lib import JackCalls, address, jack_module
from livegen.io.jack.pipe import encode, read_frame
from livegen.io.jack.schedule import JackScheduler

log = logging.getLogger("livegen.io.jack.helper")

#: callback durations kept (a ring): ~1 min at 48 kHz / 256 frames.
TIMING_RING = 16384
#: incoming events taken per cycle at most; more are dropped and counted (a flood).
MAX_IN_PER_CYCLE = 1024
#: seconds from the cycle's start (JACK's estimate) to the callback's entry that are plausible;
#: outside them the estimate is not used (after a stall it was ~50 ms off)
PLAUSIBLE_START_S = (-0.002, 0.025)
#: output states (:attr:`Helper.output_state`)
OUTPUT_FLOWING, OUTPUT_HELD, OUTPUT_RESET = 0, 1, 2
#: seconds between the timeline's stamps to the engine
STAMP_EVERY_S = 0.02
#: exit code when the server shut the client down.
EXIT_SERVER_GONE = 3


def _try_realtime() -> bool:
    """SCHED_FIFO for the calling thread (Linux: pid 0 is the thread); False when refused."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        return True
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20))
        return True
    except (AttributeError, PermissionError, OSError):
        return False


class Helper:
    """The helper's JACK client, its queue and its pipe to the engine.

    Args:
        out: the engine's end (this process's stdout, binary).
        client_name, server: JACK client and server names.
        out_name, in_name: livegen's port names; ``in_name`` None: no input port.
        latency: frames of fixed latency (None: one period, followed when it changes).
        anchor: ``(timeline s, engine-clock s)``: keep time on a :class:`FrameTimeline` that
            starts there (deadlines and input stamps are timeline seconds, and the engine is
            told where the timeline is every :data:`STAMP_EVERY_S`); None: deadlines are on the
            engine's clock, mapped through JACK's clock each cycle.
    """

    def __init__(self, out: BinaryIO, client_name: str, server: str | None, out_name: str, in_name: str | None,
                 latency: int | None, anchor: tuple[float, float] | None = None) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self.fixed_latency = latency
        self.scheduler = JackScheduler(latency=latency or 256)
        self.fc = FrameClock()
        self.xruns = 0
        self.callback_errors = 0
        self.in_events = 0
        self.in_dropped = 0
        self.work_s = array("d", bytes(8 * TIMING_RING))
        self.start_delay_s = array("d", bytes(8 * TIMING_RING))
        self.n_timed = 0
        self.realtime = False
        #: per channel and key, note-ons written minus note-offs (what sounds on the synth)
        self.sounding = bytearray(16 * 128)
        self._in_queue: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        jack = jack_module()
        self.client = jack.Client(client_name, no_start_server=True, servername=server)
        self.out_port = self.client.midi_outports.register(out_name)
        self.in_port = self.client.midi_inports.register(in_name) if in_name else None
        calls = JackCalls(self.client)
        if latency is None:
            self.scheduler.latency = int(self.client.blocksize)
        #: OUTPUT_FLOWING; OUTPUT_HELD while livegen out is being connected (events wait);
        #: OUTPUT_RESET once it is (the next cycle starts with All Notes Off)
        self.output_state = OUTPUT_FLOWING
        #: cycles whose start JACK placed implausibly (placed at the callback's entry instead)
        self.implausible_cycles = 0
        self.late_cancels = 0  # note-ons written before a cancel that should have dropped them
        self.timeline = FrameTimeline(self.client.samplerate, *anchor) if anchor is not None else None
        #: (timeline s, engine-clock s) of the latest cycle's first frame, for the engine
        self.stamp: tuple[float, float] | None = None
        self.client.set_process_callback(self._make_process(calls, address(self.out_port),
                                                            address(self.in_port) if self.in_port else 0))
        self.client.set_xrun_callback(self._on_xrun)
        self.client.set_shutdown_callback(self._on_shutdown)
        self.client.set_blocksize_callback(self._on_blocksize)
        self._writer = threading.Thread(target=self._write_input, name="livegen-jack-helper-in", daemon=True)
        self._writer.start()
        self.client.activate()

    # ---- the pipe ---------------------------------------------------------------------------

    def send(self, kind: bytes, t: float = 0.0, payload: bytes = b"") -> None:
        """One frame to the engine (any thread but the process callback)."""
        with self._out_lock:
            try:
                self._out.write(encode(kind, t, payload))
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the engine is gone: the reader sees the pipe end and quits

    def _send_stamps(self) -> None:
        """Where the timeline is on the engine's clock, every :data:`STAMP_EVERY_S`."""
        while not self.scheduler.closed:
            stamp = self.stamp
            if stamp is not None:
                self.send(b"T", stamp[0], struct.pack("<d", stamp[1]))
            time.sleep(STAMP_EVERY_S)

    def now(self) -> float:
        """The engine's time now: timeline seconds, or the engine's clock."""
        if self.timeline is not None and self.timeline.started:
            return self.timeline.now(time.monotonic())
        return time.monotonic()

    def _write_input(self) -> None:
        while True:
            item = self._in_queue.get()
            if item is None:
                return
            self.send(b"M", item[0], item[1])

    # ---- JACK's threads ---------------------------------------------------------------------

    def _make_process(self, calls: JackCalls, out_addr: int, in_addr: int) -> Callable[[int], None]:
        fc, scheduler, sounding, timeline = self.fc, self.scheduler, self.sounding, self.timeline
        cycle_map: FrameClock | FrameTimeline = timeline if timeline is not None else fc
        monotonic, perf = time.monotonic, time.perf_counter
        put = self._in_queue.put
        work, delay = self.work_s, self.start_delay_s
        out_buf = [0]
        rt_asked = [False]
        #: what livegen out was connected to in the previous cycle: a port not there before was
        #: just connected (by livegen or by anyone else, e.g. jack_connect to a --virtual port)
        connected = [calls.connections(out_addr)]

        def write(offset: int, data: bytes) -> bool:
            if len(data) == 3:
                kind, k = data[0] & 0xF0, (data[0] & 0x0F) * 128 + (data[1] & 0x7F)
                if kind == 0x90 and data[2] > 0:
                    ok = calls.write(out_buf[0], offset, data)
                    if ok:
                        sounding[k] = min(255, sounding[k] + 1)
                    return ok
                if kind == 0x80 or kind == 0x90:
                    if not sounding[k]:  # a note-off for a note this device never got
                        return True
                    ok = calls.write(out_buf[0], offset, data)
                    if ok:
                        sounding[k] -= 1
                    return ok
            return calls.write(out_buf[0], offset, data)

        def reset_output() -> None:
            """All Notes Off on every channel at the cycle's first frame; nothing sounds."""
            for channel in range(16):
                calls.write(out_buf[0], 0, bytes((0xB0 | channel, 123, 0)))
            sounding[:] = bytes(len(sounding))

        def process(frames: int) -> None:
            entered = perf()
            entered_mono = monotonic()
            if not rt_asked[0]:  # JACK's thread: SCHED_FIFO when jackd itself did not make it real-time
                rt_asked[0] = True
                self.realtime = _try_realtime()
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
                # JACK's estimate of when the cycle started is used while it is plausible (the
                # callback runs after the cycle starts, within a period or two); after a stall
                # it can be far off (seen: output 50 ms off the grid for seconds after a
                # synchronous server waited for a killed client), then the callback's entry is
                start = fc.time_at(0)
                if not PLAUSIBLE_START_S[0] <= entered_mono - start < PLAUSIBLE_START_S[1]:
                    start = entered_mono
                    fc.place_cycle(start)
                    self.implausible_cycles += 1
                if timeline is not None and times is not None:
                    timeline.set_cycle(frames, times[0], start)
                    self.stamp = (timeline.cycle_start(), start)
                buf = out_buf[0] = calls.buffer(out_addr, frames)
                calls.clear(buf)
                state = self.output_state
                now_connected = calls.connections(out_addr)
                if state == OUTPUT_RESET or not now_connected <= connected[0]:
                    # a device was just connected: silence it first, and count what sounds
                    # afresh (it hears no note-off for a note it never got)
                    reset_output()
                    if state == OUTPUT_RESET:
                        self.output_state = OUTPUT_FLOWING
                connected[0] = now_connected
                if state != OUTPUT_HELD:
                    scheduler.write_cycle(cycle_map, write, after)
                if in_addr:
                    n = 0
                    for frame, data in calls.events(calls.buffer(in_addr, frames)):
                        if n >= MAX_IN_PER_CYCLE:
                            self.in_dropped += 1
                            continue
                        n += 1
                        put((cycle_map.time_at(frame), data))
                    self.in_events += n
                k = self.n_timed % TIMING_RING
                delay[k] = before - fc.time_at(0)
                work[k] = perf() - entered
                self.n_timed += 1
            except Exception:  # an exception would stop JACK calling us: count it, go on
                self.callback_errors += 1

        return process

    def _on_xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _on_shutdown(self, status: Any, reason: str) -> None:
        self.scheduler.active = False
        self.send(b"G", time.monotonic(), str(reason).encode("utf-8", "replace")[:1000])
        os._exit(EXIT_SERVER_GONE)  # never close a client whose server is gone: that can block

    def _on_blocksize(self, blocksize: int) -> None:
        if self.fixed_latency is None:
            self.scheduler.latency = int(blocksize)

    # ---- requests ---------------------------------------------------------------------------

    def answer(self, kind: bytes, payload: bytes) -> None:
        """Connect, disconnect or list ports; the answer names the request's ``id``."""
        request = json.loads(payload)
        reply: dict[str, Any] = {"id": request["id"], "error": None}
        try:
            if kind == b"C" and request["source"] == self.out_port.name:
                # a device connected to livegen out hears All Notes Off before anything else,
                # and no note-off for a note it never got (what sounds is counted afresh)
                self.output_state = OUTPUT_HELD
                try:
                    self._connect(request["source"], request["dest"])
                finally:
                    self.output_state = OUTPUT_RESET
            elif kind == b"C":
                self._connect(request["source"], request["dest"])
            elif kind == b"D":
                self.client.disconnect(request["source"], request["dest"])
            else:
                mine = self.client.name + ":"
                want_input = bool(request["inputs"])
                reply["names"] = [p.name for p in self.client.get_ports(is_midi=True, is_input=want_input,
                                                                        is_output=not want_input)
                                  if not p.name.startswith(mine)]
        except Exception as exc:
            reply["error"] = str(exc) or type(exc).__name__
        self.send(b"A", time.monotonic(), json.dumps(reply).encode())

    def _connect(self, source: str, dest: str) -> None:
        """Connect two ports; one already connected is left as it is (not an error)."""
        if dest in [p.name for p in self.client.get_all_connections(source)]:
            return
        self.client.connect(source, dest)

    def cancel_after(self, t: float) -> None:
        """The engine cancelled everything due after engine time ``t`` and counts those notes
        as never struck; a note-on among them that was already written (the cancel came late)
        gets its note-off at once, due at ``t``: before whatever the engine sent after the
        cancel (a panic's All Notes Off), so nothing is left sounding. A note-off that finds
        its note silent is never written (the process callback's rule), so none of this is
        stray."""
        for data in self.scheduler.cancel_after(t):
            if len(data) == 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
                self.late_cancels += 1
                self.scheduler.schedule(t, bytes((0x80 | (data[0] & 0x0F), data[1], 0)))

    def release_all(self) -> None:
        """Note-offs for every note still sounding, at once (after what is due)."""
        now = self.now()
        for k, n in enumerate(self.sounding):
            for _ in range(n):
                self.scheduler.schedule(now, bytes((0x80 | (k // 128), k % 128, 0)))

    def summary(self) -> dict[str, Any]:
        """Counts and callback timing (µs) so far."""
        n = min(self.n_timed, TIMING_RING)
        work = [x * 1e6 for x in self.work_s[:n]]
        delay = [x * 1e6 for x in self.start_delay_s[:n]]

        def pct(a: list[float]) -> dict[str, float]:
            if len(a) < 2:
                return {"median": math.nan, "p99": math.nan, "max": math.nan}
            return {"median": round(statistics.median(a), 1),
                    "p99": round(statistics.quantiles(a, n=100, method="inclusive")[98], 1),
                    "max": round(max(a), 1)}

        s = self.scheduler.stats
        return {"cycles": self.n_timed, "callback_sched_fifo": self.realtime, "latency_frames": self.scheduler.latency,
                "rate": int(self.client.samplerate), "written": s.written, "late": s.late,
                "max_late_frames": s.max_late_frames, "dropped": s.dropped, "write_failures": s.write_failures,
                "lock_misses": s.lock_misses, "xruns": self.xruns, "timeline_jumps": self.timeline.jumps if self.timeline else None,
                "implausible_cycles": self.implausible_cycles, "late_cancels": self.late_cancels, "callback_errors": self.callback_errors,
                "in_events": self.in_events, "in_dropped": self.in_dropped,
                "callback_work_us": pct(work), "callback_start_delay_us": pct(delay)}

    def serve(self, stdin: BinaryIO) -> None:
        """Read the engine's frames until ``Q`` or the pipe's end; then write what is due,
        release what sounds, close the client and send the figures."""
        self.send(b"R", time.monotonic(), json.dumps({
            "name": self.client.name, "rate": int(self.client.samplerate), "period": int(self.client.blocksize),
            "latency": self.scheduler.latency, "pid": os.getpid()}).encode())
        if self.timeline is not None:  # after the ready frame, which must come first
            threading.Thread(target=self._send_stamps, name="livegen-jack-helper-stamps", daemon=True).start()
        schedule = self.scheduler.schedule
        while True:
            frame = read_frame(stdin)
            if frame is None or frame[0] == b"Q":
                break
            kind, t, payload = frame
            if kind == b"E":
                schedule(t, payload)
            elif kind == b"X":
                self.cancel_after(t)
            elif kind in (b"C", b"D", b"L"):
                self.answer(kind, payload)
        self.scheduler.flush(self.now())
        self.release_all()
        self.scheduler.flush(self.now())
        time.sleep(2 * self.client.blocksize / self.client.samplerate)  # the last cycle leaves JACK
        self.scheduler.close()
        self._in_queue.put(None)
        self._writer.join(timeout=1.0)
        figures = self.summary()
        try:
            self.client.deactivate()
            self.client.close()
        except Exception as exc:
            log.debug("closing the JACK client: %s", exc)
        self.send(b"S", time.monotonic(), json.dumps(figures).encode())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m livegen.io.jack.helper", description=__doc__.splitlines()[0])
    ap.add_argument("--client-name", default="livegen")
    ap.add_argument("--server", default=None)
    ap.add_argument("--out-name", default="livegen out")
    ap.add_argument("--in-name", default=None)
    ap.add_argument("--latency", type=int, default=None)
    ap.add_argument("--anchor", type=float, nargs=2, default=None, metavar=("TIMELINE_S", "ENGINE_S"),
                    help="keep time on JACK's frames from timeline time TIMELINE_S at engine time ENGINE_S")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="livegen jack helper: %(message)s")
    sys.setswitchinterval(0.0005)  # the process callback gets the GIL back from the reader quickly
    out = sys.stdout.buffer
    try:
        helper = Helper(out, args.client_name, args.server, args.out_name, args.in_name, args.latency,
                        tuple(args.anchor) if args.anchor else None)
    except Exception as exc:
        out.write(encode(b"F", time.monotonic(), str(exc).encode("utf-8", "replace")[:2000]))
        out.flush()
        return 2
    # the cyclic collector would run inside the process callback now and then (ms); what the
    # helper allocates is freed by reference counting
    gc.collect()
    gc.freeze()
    gc.disable()
    helper.serve(sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
