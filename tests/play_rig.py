"""``livegen play`` in a subprocess with a tester client on its JACK ports and a socket for its
OSC feedback: the rig the end-to-end tests over real ports share."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time

import mido
import pytest
from pythonosc.osc_message import OscMessage

from benchmarks.feedback_socket import FeedbackSocket
from livegen.io import midi_backend
from livegen.io.ports import open_input, open_output

START_TIMEOUT = 60.0  # s: importing torch on a loaded 2-core machine is slow
#: cycles the server runs after livegen's last process ended before what it sent has surely
#: reached the tester (the tester's rtmidi input gets it in the cycle it is written)
SETTLE_CYCLES = 3
_runs = itertools.count()


def processes_of(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (``NAME=VALUE``: livegen and every
    child it started, whatever session they are in)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if marker.encode() in env.split(b"\0") and not zombie:
            pids.append(int(entry))
    return pids


class FrameRecorder:
    """A JACK client in this process noting the frame of every note-on on its input.

    Attributes:
        onsets: ``(monotonic s at the cycle, JACK frame, pitch)`` of every note-on (velocity
            > 0), in arrival order; the frame is the cycle's ``last_frame_time`` plus the
            event's offset, exact whatever Python does.
        rate: the server's sample rate (frames/s).
        xruns: xruns JACK reported to this client.
    """

    def __init__(self, server: str, name: str = "frame-recorder") -> None:
        jack = pytest.importorskip("jack")
        self.name = name
        self.client = jack.Client(name, no_start_server=True, servername=server)
        self.rate = float(self.client.samplerate)
        self.port = self.client.midi_inports.register("in")
        self.onsets: list[tuple[float, int, int]] = []
        self.xruns = 0
        self.closed = False
        self.cycles = 0
        self.cycled = threading.Condition()

        def process(frames: int) -> None:
            first = self.client.last_frame_time
            now = time.monotonic()
            with self.cycled:
                self.cycles += 1
                self.cycled.notify_all()
            for offset, data in self.port.incoming_midi_events():
                raw = bytes(data)
                if len(raw) == 3 and raw[0] & 0xF0 == 0x90 and raw[2] > 0:
                    self.onsets.append((now, first + offset, raw[1]))

        def xrun(delay_us: float) -> None:
            self.xruns += 1

        self.client.set_process_callback(process)
        self.client.set_xrun_callback(xrun)
        self.client.activate()

    def wait_cycles(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until the server has run ``n`` more cycles of this client."""
        with self.cycled:
            target = self.cycles + n
            return self.cycled.wait_for(lambda: self.cycles >= target, timeout)

    def listen_to(self, source: str) -> None:
        """Connect the JACK output port ``source`` to this recorder."""
        self.client.connect(source, f"{self.name}:in")

    def close(self) -> None:
        """Deactivate and close the client (once)."""
        if not self.closed:
            self.closed = True
            self.client.deactivate()
            self.client.close()


def engine_keeps_jack_frames() -> bool:
    """Whether ``livegen play`` started now (this process's environment) keeps time on JACK's
    frames: the JACK backend does (its onsets sit on a grid of frames, and the dummy driver's
    frames fall behind the wall clock by the cycles an xrun loses); rtmidi keeps wall-clock time."""
    choice = os.environ.get("LIVEGEN_MIDI_BACKEND", "auto")
    return midi_backend.resolve_midi_backend(choice) == "jack"


class PlayProcess:
    """``livegen play ARGV --no-view --osc-feedback ...`` and what the tester hears of it.

    Attributes:
        received: ``(monotonic s, message)`` of everything livegen's output sent the tester.
        feedback: ``(monotonic s, address, args)`` of every OSC message livegen sent back.
        hello: set by livegen's first feedback (its ports are open by then).
    """

    def __init__(self, argv: list[str]) -> None:
        self.received: list[tuple[float, mido.Message]] = []
        self.fb = FeedbackSocket(lambda t, msg: self.on_feedback(t, msg))
        self.feedback = self.fb.feedback
        self.hello = self.fb.hello
        cmd = [sys.executable, "-m", "livegen", "play", *argv, "--no-view", "--osc-feedback", self.fb.target]
        #: in the environment of livegen and every process it starts (its JACK helper)
        self.marker = f"LIVEGEN_PLAY_RIG={os.getpid()}-{next(_runs)}"
        name, _, value = self.marker.partition("=")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, name: value})
        self.inp = self.out = None
        self.frames: FrameRecorder | None = None

    def on_feedback(self, t: float, msg: OscMessage) -> None:
        """Called for each feedback message (``t``: arrival, monotonic s)."""

    def connect(self, server) -> None:
        """Wait for livegen's ports and connect the tester to both.

        livegen's first OSC feedback says its ports are open; only then are they looked up
        (``jack_lsp``). Polling JACK in a tight loop while livegen registers its clients has
        been seen to stall a loaded synchronous JACK server for seconds.
        """
        end = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"livegen play exited early ({self.proc.returncode}): {err[-2000:]}")
            assert time.monotonic() < end, "livegen's ports never appeared"
            if self.hello.wait(0.1):
                names = server.ports()
                theirs_out = [n for n in names if n.endswith(":livegen out")]
                theirs_in = [n for n in names if n.endswith(":livegen in")]
                if theirs_out and theirs_in:
                    break
                time.sleep(0.3)
        # output first: a JACK call made while this process's input callback is receiving
        # (it takes the GIL on JACK's thread) can stall a synchronous server for seconds
        self.out = open_output(theirs_in[0], client_name="tester")
        self.inp = open_input(theirs_out[0], lambda m, t: self.received.append((t, m)), client_name="tester")
        # after the rtmidi ports (their JACK calls hold the GIL): the frame of every onset
        self.frames = FrameRecorder(server.name, "tester-frames")
        self.frames.listen_to(theirs_out[0])

    def wait_exit(self, timeout: float) -> tuple[int, str, str]:
        """Wait for livegen to exit (killed and failed after ``timeout`` s); exit code, stdout,
        stderr. Returns once every process of livegen's has ended (its JACK helper writes what is
        due as it quits) and the server has run :data:`SETTLE_CYCLES` cycles since: what livegen
        sent has reached the tester."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"livegen play did not exit: {err[-2000:]}")
        end = time.monotonic() + timeout
        while processes_of(self.marker):
            assert time.monotonic() < end, f"livegen's processes outlived it: {processes_of(self.marker)}"
            time.sleep(0.02)
        if self.frames is not None:
            assert self.frames.wait_cycles(SETTLE_CYCLES), "the JACK server ran no cycle after livegen ended"
        return self.proc.returncode, out, err

    def grid_onsets(self, start: float = float("-inf"), end: float = float("inf")) -> list[tuple[float, int]]:
        """``(s, pitch)`` of livegen's note-ons that reached the tester between monotonic times
        ``start`` and ``end``, timed on the clock livegen keeps: the frame / rate with the JACK
        backend, the arrival (monotonic s) with rtmidi. Onsets on a steady grid of that clock
        are what a synth on the port hears in time."""
        if engine_keeps_jack_frames():
            assert self.frames is not None, "connect() first"
            return [(frame / self.frames.rate, pitch) for t, frame, pitch in list(self.frames.onsets)
                    if start < t < end]
        return [(t, m.note) for t, m in list(self.received)
                if m.type == "note_on" and m.velocity > 0 and start < t < end]

    def close(self) -> None:
        """Kill livegen if it still runs; close the tester's ports (the input first) and the
        feedback socket."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # its JACK helper quits when its pipe from livegen ends; until then its ports are on the
        # server, where the next test would find two 'livegen out'
        end = time.monotonic() + 10.0
        while processes_of(self.marker) and time.monotonic() < end:
            time.sleep(0.02)
        for pid in processes_of(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.frames is not None:
            self.frames.close()  # its onsets stay readable
        for port in (self.inp, self.out):
            if port is not None:
                port.close()
        self.fb.close()
