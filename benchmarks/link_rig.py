"""Real Ableton Link peers for the Link tests and the ``link_grid`` benchmark, run inside a
private network namespace with only loopback.

Link finds peers by multicast on every network interface, so nothing here runs on the
host's network: :func:`netns_command` wraps a command in ``unshare -n`` (as root) and sets
up loopback for multicast, and every scenario refuses to start when it sees any interface
but ``lo`` (:func:`assert_private_network`).

Scenarios (each prints one JSON line)::

    python -m benchmarks.link_rig peers     # livegen's LinkPeer against a second peer
    python -m benchmarks.link_rig play [--phase-bars 2] [--spb 2] [--jack-period 128]

``play`` runs ``livegen play --clock link --link-start-stop`` end to end: a second Link
peer (this process, the LinkPython-extern binding) leads the session, a JACK server of its
own (``livegen-link``, dummy driver) carries livegen's notes to a recorder client here,
which stamps each event with its JACK frame time in microseconds (JACK's clock, like
Link's, is ``CLOCK_MONOTONIC_RAW``). Each note-on is placed on the peer's beat grid (the
peer's timeline as it was at that moment; tempo changes are located where two timelines
meet). The peer: waits with the transport stopped, starts it, moves 100 -> 130 BPM,
stops and starts it again; then livegen's tempo control is set to 90 BPM over OSC; then
the peer leaves and livegen plays on alone.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import torch

from benchmarks.feedback_socket import FeedbackSocket
from benchmarks.panic import BenchJack
from livegen.io.osc import build_message
from livegen.io.ports import open_output
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.session.link_peer import LinkPeer, binding_available

try:  # the test peer uses the binding directly (an independent view of the session)
    import link as link_binding
except ImportError:  # pragma: no cover - netns_unavailable() says so
    link_binding = None
try:  # JACK-Client: the recorder stamps events with their JACK frame times
    import jack
except (ImportError, OSError):  # pragma: no cover - no JACK-Client or no libjack
    jack = None

ROOT = Path(__file__).resolve().parent.parent
#: set inside the namespace made by :func:`netns_command`.
NETNS_ENV = "LIVEGEN_LINK_NETNS"
#: loopback up, with multicast, and the multicast range routed to it (Link discovery).
NETNS_SETUP = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"
#: the JACK server of the Link tests and benchmark (never the test session's livegen-jack).
SERVER = "livegen-link"
QUANTUM = 4
START_TIMEOUT = 120.0  # s: importing torch on a busy 2-core machine is slow
#: livegen's note velocities with --velocity 90 --accent 8 --dynamics 0: bar line, beat, other step.
DOWNBEAT_VELOCITY, BEAT_VELOCITY, STEP_VELOCITY = 98, 94, 90


# ---- the namespace -------------------------------------------------------------------------

def netns_command(argv: list[str]) -> list[str]:
    """``argv`` run in a new network namespace with only loopback, set up for multicast."""
    return ["unshare", "-n", "sh", "-c", f'{NETNS_SETUP} && exec env {NETNS_ENV}=1 "$@"', "sh", *argv]


def netns_unavailable() -> str | None:
    """Why real Link peers cannot run here (one line), or None when they can."""
    if not sys.platform.startswith("linux"):
        return "Link tests need a Linux network namespace (unshare -n); skipped on this system"
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"Link tests need a private network namespace: {tool} ({package}) is missing"
    if not binding_available():
        return "Link tests need the Link binding: pip install 'livegen[link]'"
    try:
        done = subprocess.run(netns_command(["true"]), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Link tests need a private network namespace (unshare -n, as root): {exc}"
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"Link tests need a private network namespace (unshare -n, as root): {why}"
    return None


def assert_private_network() -> None:
    """Refuse to run Link peers anywhere but a namespace whose only interface is loopback."""
    names = [name for _, name in socket.if_nameindex()]
    if os.environ.get(NETNS_ENV) != "1" or names != ["lo"]:
        raise SystemExit(f"link_rig: refusing to run Link peers outside a private network namespace "
                         f"(interfaces {names}); run it through benchmarks.link_rig.netns_command")


# ---- the second peer and its timeline -------------------------------------------------------

class Peer:
    """The test's own Link peer, straight on the binding; times in Link microseconds."""

    def __init__(self, bpm: float, start_stop: bool = True) -> None:
        assert link_binding is not None
        self.link = link_binding.Link(float(bpm))
        self.clock = self.link.clock()
        self.link.startStopSyncEnabled = start_stop
        self.link.enabled = True

    def micros(self) -> int:
        return int(self.clock.micros())

    def peers(self) -> int:
        return int(self.link.numPeers())

    def tempo(self) -> float:
        return float(self.link.captureAppSessionState().tempo())

    def phase(self, micros: int) -> float:
        return float(self.link.captureAppSessionState().phaseAtTime(micros, QUANTUM))

    def set_tempo(self, bpm: float) -> int:
        s = self.link.captureAppSessionState()
        now = self.micros()
        s.setTempo(float(bpm), now)
        self.link.commitAppSessionState(s)
        return now

    def start(self) -> int:
        """Start the transport as Live and LinkHut do: beat 0 on the session's next bar line."""
        s = self.link.captureAppSessionState()
        now = self.micros()
        s.setIsPlayingAndRequestBeatAtTime(True, now, 0.0, QUANTUM)
        self.link.commitAppSessionState(s)
        return now

    def stop(self) -> int:
        s = self.link.captureAppSessionState()
        now = self.micros()
        s.setIsPlaying(False, now)
        self.link.commitAppSessionState(s)
        return now

    def leave(self) -> int:
        self.link.enabled = False
        return self.micros()


@dataclass
class Line:
    """One straight piece of the peer's timeline: ``beat`` at ``micros``, ``tempo`` BPM,
    in force from ``start`` (Link microseconds)."""

    tempo: float
    beat: float
    micros: int
    start: float = -math.inf

    def beat_at(self, us: float) -> float:
        return self.beat + (us - self.micros) * self.tempo / 60e6


class Timeline:
    """Watches the peer's session state (every ``poll`` s, on a thread) and keeps each
    distinct timeline with the time it took over: where it meets the one before (a tempo
    change keeps the beat), else when it was first seen (a renumbering of bars)."""

    def __init__(self, peer: Peer, poll: float = 0.002) -> None:
        self.peer = peer
        self.poll = poll
        self.lines: list[Line] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="link-timeline", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        s = self.peer.link.captureAppSessionState()
        us = self.peer.micros()
        tempo, beat = float(s.tempo()), float(s.beatAtTime(us, QUANTUM))
        with self._lock:
            last = self.lines[-1] if self.lines else None
            if last is not None and abs(last.tempo - tempo) < 1e-9 and abs(last.beat_at(us) - beat) < 1e-4:
                return
            line = Line(tempo, beat, us)
            if last is not None:
                line.start = float(us)
                d = last.beat_at(us) - beat
                d -= QUANTUM * round(d / QUANTUM)  # a renumbering moves whole bars only
                if abs(tempo - last.tempo) > 1e-9:
                    meet = us + d * 60e6 / (tempo - last.tempo)
                    line.start = min(float(us), max(last.start, meet))
            self.lines.append(line)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._sample()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def at(self, us: float) -> Line:
        """The timeline in force at ``us``."""
        with self._lock:
            found = self.lines[0]
            for line in self.lines:
                if line.start <= us:
                    found = line
            return found

    def changes(self) -> list[float]:
        """Link microseconds at which the tempo changed."""
        with self._lock:
            return [b.start for a, b in zip(self.lines, self.lines[1:]) if abs(a.tempo - b.tempo) > 1e-9]


def bracket_offset(a_now: Any, b_now: Any, readings: int = 9) -> float:
    """``b - a`` of two clocks read alternately (the tightest bracket's middle)."""
    best, offset = math.inf, 0.0
    for _ in range(readings):
        x = a_now()
        y = b_now()
        z = a_now()
        if z - x < best:
            best, offset = z - x, y - (x + z) / 2
    return float(offset)


# ---- the JACK recorder ---------------------------------------------------------------------

class Recorder:
    """A JACK client whose MIDI input stamps each event with its frame's time (JACK's
    microsecond clock, ``CLOCK_MONOTONIC_RAW`` on Linux)."""

    def __init__(self, server: str) -> None:
        if jack is None:
            raise RuntimeError("the Link rig records with JACK-Client: pip install JACK-Client")
        self.client = jack.Client("link-rig", servername=server, no_start_server=True)
        self.port = self.client.midi_inports.register("in")
        self.lib = ctypes.CDLL("libjack.so.0")
        self.lib.jack_frames_to_time.restype = ctypes.c_uint64
        self.lib.jack_frames_to_time.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self.lib.jack_get_time.restype = ctypes.c_uint64
        self.ptr = int(jack._ffi.cast("uintptr_t", self.client._ptr))
        self.events: list[tuple[int, bytes]] = []
        self.dll: list[tuple[int, int]] = []
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        now = None
        for offset, data in self.port.incoming_midi_events():
            if now is None:
                now = int(self.lib.jack_get_time())
                last = self.client.last_frame_time
                self.dll.append((now, int(self.lib.jack_frames_to_time(self.ptr, last + offset))))
            self.events.append((now, bytes(data)))

    def now_us(self) -> int:
        return int(self.lib.jack_get_time())

    def connect_from(self, port_name: str) -> None:
        self.client.connect(port_name, self.port)

    def find(self, suffix: str) -> str | None:
        names = [p.name for p in self.client.get_ports(is_midi=True, is_output=True)]
        return next((n for n in names if n.endswith(suffix)), None)

    def messages(self) -> list[tuple[int, mido.Message]]:
        parser = mido.Parser()
        out = []
        for us, data in list(self.events):
            parser.feed(data)
            out += [(us, m) for m in parser]
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.deactivate()
            self.client.close()


# ---- livegen play in a subprocess -----------------------------------------------------------

def drone_model(path: Path, steps_per_beat: int) -> Path:
    """A tiny checkpoint that holds C4 forever (with ``--max-note-beats`` one step, it
    strikes C4 on every step: a pulse on livegen's grid)."""
    net = RollLSTM(RollConfig(hidden=8, layers=1, dropout=0.0))
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(-30.0)
        net.head.bias[60 - 21] = 30.0
    save_checkpoint(path, net, {"data": "test", "steps_per_beat": steps_per_beat, "hears": "own key"})
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Livegen:
    """``livegen play --clock link`` in a subprocess, its stderr lines and OSC feedback stamped
    with ``time.monotonic()``."""

    def __init__(self, model: Path | str, spb: int, env: dict[str, str], *extra: str) -> None:
        self.fb = FeedbackSocket()
        self.osc_port = free_udp_port()
        self.feedback = self.fb.feedback
        self.lines: list[tuple[float, str]] = []
        verbose = ["-vv"] if os.environ.get("LIVEGEN_RIG_VERBOSE") else []
        cmd = [sys.executable, "-m", "livegen", *verbose, "play", "--model", str(model), "--virtual", "--clock", "link",
               "--link-start-stop", "--mode", "solo", "--bpm", "120", "--steps-per-beat", str(spb),
               "--max-note-beats", f"{1 / spb:g}", "--velocity", "90", "--accent", "8", "--dynamics", "0",
               "--osc-port", str(self.osc_port), "--osc-feedback", self.fb.target,
               "--no-view", "--seed", "1", *extra]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=ROOT)
        self._threads = [threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def line(self, prefix: str, timeout: float = START_TIMEOUT) -> str:
        """The first stderr line starting with ``prefix`` (waits for it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for _, line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError(f"livegen play exited ({self.proc.returncode}): "
                                   + " | ".join(x for _, x in self.lines[-8:]))
            time.sleep(0.02)
        raise RuntimeError(f"no {prefix!r} line from livegen play within {timeout:g} s")

    def fed(self, address: str) -> list[tuple[float, tuple[Any, ...]]]:
        return [(t, args) for t, a, args in list(self.feedback) if a == address]

    def send(self, address: str, *args: float | int | str) -> float:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            t = time.monotonic()
            s.sendto(build_message(address, args), ("127.0.0.1", self.osc_port))
        return t

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=2.0)
        self.fb.close()
        return int(self.proc.returncode)


# ---- the scenarios ---------------------------------------------------------------------------

def scenario_peers() -> dict[str, Any]:
    """livegen's LinkPeer against a second peer: join, tempo both ways, phase, leaving."""
    assert_private_network()
    peer = Peer(100.0)
    time.sleep(1.0)  # two sessions that meet keep the older one's timeline (if older by ~0.5 s or more)
    ours = LinkPeer(120.0)
    joined = ours.wait_joined(timeout=3.0)
    time.sleep(0.05)
    state = ours.capture(QUANTUM)
    result: dict[str, Any] = {"joined_s": joined, "peers_seen": state.peers, "tempo_seen": state.tempo,
                              "offset_bracket_us": ours.offset().bracket_s * 1e6}
    us, t = peer.micros(), time.monotonic()
    theirs, mine = peer.phase(us), ours.capture(QUANTUM).phase_at(t)
    d = (mine - theirs) % QUANTUM
    result["phase_error_beats"] = min(d, QUANTUM - d)
    peer.set_tempo(130.0)
    end = time.monotonic() + 3.0
    while abs(ours.capture(QUANTUM).tempo - 130.0) > 0.01 and time.monotonic() < end:
        time.sleep(0.002)
    result["followed_tempo"] = ours.capture(QUANTUM).tempo
    ours.set_tempo(90.0)
    end = time.monotonic() + 3.0
    while abs(peer.tempo() - 90.0) > 0.01 and time.monotonic() < end:
        time.sleep(0.002)
    result["peer_saw_tempo"] = peer.tempo()
    peer.leave()
    end = time.monotonic() + 10.0
    while ours.peers() and time.monotonic() < end:
        time.sleep(0.01)
    result["peers_after_leave"] = ours.peers()
    ours.close()
    return result


@dataclass
class Marks:
    """When the peer did what, in Link microseconds."""

    start: int = 0
    tempo: int = 0
    stop: int = 0
    restart: int = 0
    osc_tempo: int = 0
    peer_saw: int = 0
    leave: int = 0
    end: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def measure_hop(recorder: Recorder, notes: int, gap_s: float = 0.0237) -> dict[str, float]:
    """The transport floor: this process sends ``notes`` note-ons through rtmidi to the
    recorder at exact ``CLOCK_MONOTONIC_RAW`` deadlines (a SCHED_FIFO thread spinning for the
    last millisecond, as livegen's sender); how late each is read. ``gap_s`` is no multiple
    of the JACK period, so the deadlines fall at every phase of a period."""
    out = open_output("rig hop", virtual=True, client_name="link-hop")
    try:
        end = time.monotonic() + 10.0
        name = None
        while name is None and time.monotonic() < end:
            name = recorder.find(":rig hop")
            time.sleep(0.05)
        if name is None:
            raise RuntimeError("the rig's hop port never appeared")
        recorder.connect_from(name)
        time.sleep(0.3)
        first = len(recorder.events)
        deadlines: list[int] = []

        def send() -> None:
            with contextlib.suppress(AttributeError, PermissionError, OSError):
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            start = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) + 100_000_000
            for i in range(notes):
                due = start + round(i * gap_s * 1e9)
                while (left := due - time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)) > 1_000_000:
                    time.sleep((left - 1_000_000) / 1e9)
                while time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) < due:
                    pass
                out.send(mido.Message("note_on", channel=15, note=i % 128, velocity=1 + i % 127))
                deadlines.append(due // 1000)

        sender = threading.Thread(target=send, name="link-hop")
        sender.start()
        sender.join()
        time.sleep(0.2)
        parser = mido.Parser()
        arrived = []
        for us, data in recorder.events[first:]:
            parser.feed(data)
            arrived += [us for m in parser if m.type == "note_on" and m.channel == 15]
        del recorder.events[first:]
        if len(arrived) != len(deadlines):
            raise RuntimeError(f"hop: {len(arrived)} of {len(deadlines)} notes arrived")
        return _percentiles([a - d for a, d in zip(arrived, deadlines)])
    finally:
        out.close()


def _wait_until(us: float, peer: Peer) -> None:
    while peer.micros() < us:
        time.sleep(min(0.05, max(0.0005, (us - peer.micros()) / 2e6)))


def scenario_play(phase_bars: float = 2.0, spb: int = 2, jack_period: int = 128,
                  model: str | None = None, realtime: bool = False, hop_notes: int = 0) -> dict[str, Any]:
    """``livegen play --clock link --link-start-stop`` against the peer, recorded on JACK."""
    assert_private_network()
    sys.setswitchinterval(0.0005)  # JACK's thread gets the GIL for the recorder's callback quickly
    bar_s = {bpm: QUANTUM * 60.0 / bpm for bpm in (100.0, 130.0, 90.0)}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="link-rig-")))
        server = BenchJack(SERVER, period=jack_period, realtime=realtime)
        server.start()
        stack.callback(server.stop)
        recorder = Recorder(SERVER)
        stack.callback(recorder.close)
        peer = Peer(100.0)
        stack.callback(peer.leave)
        timeline = Timeline(peer)
        stack.callback(timeline.close)
        hop = measure_hop(recorder, hop_notes) if hop_notes else None
        jack_minus_link_us = bracket_offset(peer.micros, recorder.now_us)
        mono_minus_link_s = bracket_offset(lambda: peer.micros() / 1e6, time.monotonic)
        play = Livegen(model or drone_model(tmp / "drone.pt", spb), spb, server.subprocess_env())
        stack.callback(play.stop)
        announce = play.line("Link:")
        play.line("livegen: playing")
        end = time.monotonic() + START_TIMEOUT
        theirs = None
        while theirs is None and time.monotonic() < end:
            if play.feedback:  # its ports are open once it sends feedback
                theirs = recorder.find(":livegen out")
            time.sleep(0.1)
        if theirs is None:
            raise RuntimeError("livegen's output port never appeared")
        recorder.connect_from(theirs)
        marks = Marks()
        waiting_from = peer.micros()
        time.sleep(1.0)  # the session is stopped: livegen waits
        marks.start = peer.start()
        _wait_until(marks.start + (phase_bars + 1) * bar_s[100.0] * 1e6, peer)
        marks.tempo = peer.set_tempo(130.0)
        _wait_until(marks.tempo + phase_bars * bar_s[130.0] * 1e6, peer)
        marks.stop = peer.stop()
        _wait_until(marks.stop + 1.2e6, peer)
        marks.restart = peer.start()
        _wait_until(marks.restart + (phase_bars + 1) * bar_s[130.0] * 1e6, peer)
        marks.osc_tempo = round((play.send("/livegen/tempo", 90.0) - mono_minus_link_s) * 1e6)
        end = time.monotonic() + 5.0
        while abs(peer.tempo() - 90.0) > 0.01 and time.monotonic() < end:
            time.sleep(0.001)
        marks.peer_saw = peer.micros()
        _wait_until(marks.peer_saw + phase_bars * bar_s[90.0] * 1e6, peer)
        timeline.close()  # the peer's timeline as it leaves is the one livegen keeps
        marks.leave = peer.leave()
        _wait_until(marks.leave + max(1.0, phase_bars) * bar_s[90.0] * 1e6, peer)
        marks.end = peer.micros()
        code = play.stop()
        time.sleep(0.3)  # anything still in flight arrives
        notes = [(us - jack_minus_link_us, m) for us, m in recorder.messages()]
        fed = {a: [((t - mono_minus_link_s) * 1e6, args) for t, args in play.fed(a)]
               for a in ("/livegen/link/peers", "/livegen/link/tempo", "/livegen/tempo", "/livegen/status")}
        result = analyse(notes, timeline, marks, spb, fed=fed, announce=announce, exit_code=code,
                         waiting_from=waiting_from, stderr=[x for _, x in play.lines],
                         jack_period=jack_period)
        result["jack_realtime"] = realtime
        result["hop_floor"] = hop
        # JACK's own (DLL-filtered) frame times against the recorder's reading of the clock
        result["jack_frame_time_minus_arrival"] = _percentiles([d - c for c, d in recorder.dll])
        return result
    raise AssertionError("unreachable")


def _percentiles(values_us: list[float]) -> dict[str, float]:
    if not values_us:
        return {"n": 0}
    a = sorted(abs(v) for v in values_us)
    p99 = a[min(len(a) - 1, math.ceil(0.99 * len(a)) - 1)]
    return {"n": len(a), "median_ms": round(a[len(a) // 2] / 1000, 4), "p99_ms": round(p99 / 1000, 4),
            "max_ms": round(a[-1] / 1000, 4)}


def analyse(notes: list[tuple[float, mido.Message]], timeline: Timeline, marks: Marks, spb: int, *,
            fed: dict[str, list[tuple[float, tuple[Any, ...]]]], announce: str, exit_code: int,
            waiting_from: int, stderr: list[str], jack_period: int) -> dict[str, Any]:
    """Place livegen's notes on the peer's grid and summarise each phase of the scenario."""
    lookahead_us = 60_000  # livegen hands steps out 40 ms ahead; 20 ms more for the change to arrive
    ons = [(us, m) for us, m in notes if m.type == "note_on" and m.velocity > 0]
    rows = []
    for us, m in ons:
        line = timeline.at(us)
        beat = line.beat_at(us)
        step = round(beat * spb) / spb
        rows.append({"us": us, "err_us": (beat - step) * 60e6 / line.tempo, "bar_phase": step % QUANTUM,
                     "velocity": m.velocity, "tempo": line.tempo})
    changes = timeline.changes()

    def near_change(us: float) -> bool:
        return any(c <= us < c + lookahead_us for c in changes)

    steady = [r for r in rows if not near_change(r["us"])]
    around = [r for r in rows if near_change(r["us"])]

    def between(a: float, b: float) -> list[dict[str, Any]]:
        return [r for r in rows if a <= r["us"] < b]

    def first_fed(address: str, after: float, value: float) -> float | None:
        hits = [us for us, args in fed.get(address, []) if us >= after and args and abs(args[0] - value) < 0.01]
        return min(hits) if hits else None

    accent_ok = all((r["velocity"] == DOWNBEAT_VELOCITY) == (abs(r["bar_phase"]) < 1e-6) for r in steady)
    downbeats = [r for r in steady if r["velocity"] == DOWNBEAT_VELOCITY]
    after_start = between(marks.start, marks.tempo)
    after_restart = between(marks.restart, marks.osc_tempo)
    stopped = [r for r in rows if marks.stop + lookahead_us <= r["us"] < marks.restart]
    offs_after_stop = [us for us, m in notes if marks.stop <= us < marks.restart
                       and (m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))]
    sounding: dict[int, int] = {}
    for us, m in notes:
        if us >= marks.restart:
            break
        if m.type == "note_on" and m.velocity > 0:
            sounding[m.note] = sounding.get(m.note, 0) + 1
        elif m.type in ("note_on", "note_off") and sounding.get(m.note):
            sounding[m.note] -= 1
    open_at_restart = sum(sounding.values())
    balance: dict[int, int] = {}
    for _, m in notes:
        if m.type == "note_on" and m.velocity > 0:
            balance[m.note] = balance.get(m.note, 0) + 1
        elif m.type in ("note_on", "note_off") and balance.get(m.note):
            balance[m.note] -= 1
    tempo_seen = first_fed("/livegen/link/tempo", marks.tempo, 130.0)
    new_grid = [r for r in rows if r["us"] >= marks.tempo and abs(r["err_us"]) < 3000 and r["tempo"] == 130.0]
    peers_fed = [(us, args[0]) for us, args in fed.get("/livegen/link/peers", [])]
    return {
        "announce": announce,
        "joined_s": _joined(announce),
        "exit_code": exit_code,
        "jack_period_frames": jack_period,
        "steps_per_beat": spb,
        "notes_on": len(rows),
        "notes_while_waiting": len([r for r in rows if waiting_from <= r["us"] < marks.start]),
        "first_after_start": _first(after_start, marks.start),
        "first_after_restart": _first(after_restart, marks.restart),
        "grid": _percentiles([r["err_us"] for r in steady]),
        "grid_by_tempo": {str(bpm): _percentiles([r["err_us"] for r in steady if r["tempo"] == bpm])
                          for bpm in sorted({r["tempo"] for r in steady})},
        "around_tempo_changes": _percentiles([r["err_us"] for r in around]),
        "accents_on_session_bars": accent_ok,
        "downbeats": len(downbeats),
        "downbeat_phase_max_beats": max((min(r["bar_phase"], QUANTUM - r["bar_phase"]) for r in downbeats),
                                        default=None),
        "tempo_change_seen_ms": None if tempo_seen is None else round((tempo_seen - marks.tempo) / 1000, 3),
        "first_note_on_new_grid_ms": (round((min(r["us"] for r in new_grid) - marks.tempo) / 1000, 3)
                                      if new_grid else None),
        "beat_at_100_ms": 600.0,
        "notes_while_stopped": len(stopped),
        "release_after_stop_ms": (round((max(offs_after_stop) - marks.stop) / 1000, 3)
                                  if offs_after_stop else None),
        "notes_open_at_restart": open_at_restart,
        "notes_open_at_end": sum(balance.values()),
        "livegen_tempo_to_peer_ms": round((marks.peer_saw - marks.osc_tempo) / 1000, 3),
        "peer_tempo_after_osc": timeline.lines[-1].tempo if timeline.lines else None,
        "notes_after_osc_tempo": len([r for r in steady if marks.peer_saw + lookahead_us <= r["us"] < marks.leave]),
        "grid_after_osc_tempo": _percentiles([r["err_us"] for r in steady
                                              if marks.peer_saw + lookahead_us <= r["us"] < marks.leave]),
        "peers_fed": [p for _, p in peers_fed],
        "peers_after_leave": next((p for us, p in reversed(peers_fed) if us >= marks.leave), None),
        "notes_after_leave": len(between(marks.leave, marks.end)),
        "grid_after_leave": _percentiles([r["err_us"] for r in between(marks.leave, marks.end)]),
        "stderr_tail": stderr[-20:] if not os.environ.get("LIVEGEN_RIG_VERBOSE") else stderr,
        "timeline": [[round((ln.start - marks.start) / 1e6, 4) if math.isfinite(ln.start) else None,
                      round(ln.tempo, 3)] for ln in timeline.lines],
        "marks_s": {k: round((v - marks.start) / 1e6, 4) for k, v in vars(marks).items() if isinstance(v, int)},
        "onsets": [[round((r["us"] - marks.start) / 1e6, 4), round(r["err_us"] / 1000, 3), r["velocity"],
                    round(r["tempo"], 2)] for r in rows],
    }


def _joined(announce: str) -> float | None:
    """The seconds in ``Link: 1 peer, 100 BPM (joined in 0.50 s)``."""
    if "joined in" not in announce:
        return None
    return float(announce.split("joined in", 1)[1].split()[0])


def _first(rows: list[dict[str, Any]], since: int) -> dict[str, Any] | None:
    if not rows:
        return None
    r = rows[0]
    return {"after_ms": round((r["us"] - since) / 1000, 3), "bar_phase": r["bar_phase"],
            "velocity": r["velocity"], "err_ms": round(r["err_us"] / 1000, 4)}


def join_trials(n: int = 10) -> list[float | None]:
    """Seconds from enabling livegen's Link peer to seeing a first peer, ``n`` times."""
    assert_private_network()
    peer = Peer(100.0)
    time.sleep(1.0)
    times = []
    for _ in range(n):
        ours = LinkPeer(120.0)
        times.append(ours.wait_joined(timeout=5.0))
        ours.close()
        del ours
        time.sleep(0.3)
    peer.leave()
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = p.add_subparsers(dest="scenario", required=True)
    sub.add_parser("peers")
    play = sub.add_parser("play")
    play.add_argument("--phase-bars", type=float, default=2.0)
    play.add_argument("--spb", type=int, default=2)
    play.add_argument("--jack-period", type=int, default=128)
    play.add_argument("--model", default=None)
    play.add_argument("--jack-realtime", action="store_true")
    joins = sub.add_parser("joins")
    joins.add_argument("--n", type=int, default=10)
    args = p.parse_args(argv)
    if args.scenario == "peers":
        result: Any = scenario_peers()
    elif args.scenario == "play":
        result = scenario_play(args.phase_bars, args.spb, args.jack_period, args.model, args.jack_realtime)
    else:
        result = {"join_s": join_trials(args.n)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
