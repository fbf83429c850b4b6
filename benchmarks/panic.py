"""Panic latency over real JACK ports: ``livegen play`` in a subprocess, a tester client on
its ports, ``/livegen/panic`` over OSC and CC 103 on livegen's MIDI input.

The tester (this process) holds livegen's output and input, sends a panic at a random
phase of the step grid every ``--every`` seconds, alternating OSC and CC, and records
when livegen's All Notes Off (CC 123) arrives, ``time.monotonic()`` at both ends. Each
panic is also checked: every note livegen had sounding is released before its All Notes
Off. The JACK hop (tester out -> tester in, one period boundary) is measured beside it:
an OSC panic crosses one hop, a CC panic two (into livegen, out again).

    python -m benchmarks.panic [--panics 200] [--every 0.3] [--model nottingham]
                               [--jack-period 64] [--no-jack-realtime]

Results go to ``benchmarks/results/panic.json``. :class:`Rig` (livegen play + tester) is
shared with :mod:`benchmarks.soak`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
from pythonosc.osc_message import OscMessage

from benchmarks.common import machine, percentiles
from livegen.io.base import MidiIn, MidiOut
from livegen.io.jackd import JackServer
from livegen.io.osc import build_message
from livegen.io.ports import open_input, open_output

RESULTS = Path(__file__).resolve().parent / "results" / "panic.json"
#: a JACK server of the benchmarks' own, so a test session's server is never stopped under it.
SERVER = "livegen-soak"
PANIC_CC = 103
ALL_NOTES_OFF = 123
START_TIMEOUT = 120.0  # s: importing torch on a busy 2-core machine is slow
#: Linux: the kernel stamps each datagram's arrival (CLOCK_REALTIME), so a beat's time is
#: when it reached this machine's socket, not when the tester's thread got to read it.
SO_TIMESTAMPNS = 35


class BenchJack(JackServer):
    """The benchmarks' JACK server: ``-R`` (realtime) unless asked otherwise."""

    def __init__(self, name: str = SERVER, *, period: int = 64, realtime: bool = True) -> None:
        super().__init__(name, period=period)
        self.realtime = realtime

    @property
    def command(self) -> list[str]:
        cmd = super().command
        if self.realtime:
            cmd[cmd.index("--no-realtime")] = "-R"
        return cmd


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class PanicRecord:
    """One panic: how it was sent, when, and what arrived."""

    via: str
    sent: float
    latency_s: float | None = None
    sounding_before: int = 0
    released: bool = False


@dataclass
class Rig:
    """``python -m livegen play --virtual`` on ``server`` plus a tester client on its ports.

    livegen's OSC feedback comes to a socket read here (beats, values in force, lateness);
    everything livegen plays is recorded in :attr:`received` with ``time.monotonic()``.
    """

    server: JackServer
    play_args: Sequence[str]
    workdir: Path
    channel: int = 0  # mido channel of livegen's notes (--channel is 1-based)
    client: str = "panic-tester"
    received: list[tuple[float, mido.Message]] = field(default_factory=list)
    beats: list[tuple[float, int]] = field(default_factory=list)
    feedback: list[tuple[float, str, tuple[Any, ...]]] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    osc_port: int = 0

    def __post_init__(self) -> None:
        self.fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.fb.bind(("127.0.0.1", 0))
        self.fb.settimeout(0.2)
        with contextlib.suppress(OSError):
            self.fb.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hello = threading.Event()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_feedback, daemon=True)
        self.out: MidiOut | None = None
        self.inp: MidiIn | None = None
        self.stdout_path = self.workdir / "play.out"
        self.stderr_path = self.workdir / "play.err"

    # ---- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start livegen, wait for its first feedback, connect the tester to its ports."""
        self._reader.start()
        before = set(self.server.ports())
        self.osc_port = free_udp_port()
        cmd = [sys.executable, "-m", "livegen", "play", "--virtual", "--no-view",
               "--osc-port", str(self.osc_port), "--channel", str(self.channel + 1),
               "--osc-feedback", f"127.0.0.1:{self.fb.getsockname()[1]}", *self.play_args]
        # output to files: a full pipe would block livegen's logging
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=self.server.subprocess_env())
        end = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"livegen play exited early ({self.proc.returncode}): {self.stderr()[-2000:]}")
            if time.monotonic() > end:
                raise RuntimeError("livegen's ports never appeared")
            if self.hello.wait(0.1):
                new = [n for n in self.server.ports() if n not in before]
                theirs_out = [n for n in new if n.endswith(":livegen out")]
                theirs_in = [n for n in new if n.endswith(":livegen in")]
                if theirs_out and theirs_in:
                    break
                time.sleep(0.3)
        # output first: opening a port while our input callback takes the GIL on JACK's
        # thread can stall a synchronous server
        self.out = open_output(theirs_in[0], client_name=self.client)
        self.inp = open_input(theirs_out[0], lambda m, t: self.received.append((t, m)), client_name=self.client)

    def stop(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGTERM livegen (if it still runs), wait, close the tester. Returns (status, stdout)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.3)  # the last messages arrive
        self.close()
        return self.proc.returncode, self.stdout_path.read_text()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for port in (self.inp, self.out):  # the input (and its callback) first
            if port is not None:
                port.close()
        self.inp = self.out = None
        self._stop.set()
        if self._reader.is_alive():
            self._reader.join(timeout=1)
        self.fb.close()
        self.osc.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    # ---- talking to livegen --------------------------------------------------------------

    def send_osc(self, address: str, *args: Any) -> float:
        t = time.monotonic()
        self.osc.sendto(build_message(address, list(args)), ("127.0.0.1", self.osc_port))
        return t

    def send_midi(self, msg: mido.Message) -> float:
        assert self.out is not None
        t = time.monotonic()
        self.out.send(msg)
        return t

    def panic(self, via: str) -> float:
        """Send a panic by ``osc`` or ``cc`` (press, then release); returns the send time."""
        if via == "osc":
            t = self.send_osc("/livegen/panic")
            self.send_osc("/livegen/panic", 0)  # a button's release: ignored
            return t
        t = self.send_midi(mido.Message("control_change", control=PANIC_CC, value=127))
        self.send_midi(mido.Message("control_change", control=PANIC_CC, value=0))
        return t

    def _read_feedback(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _, _ = self.fb.recvmsg(65536, 64)
            except (TimeoutError, OSError):
                continue
            t = time.monotonic()
            for level, kind, stamp in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(stamp) >= 16:
                    sec, nsec = struct.unpack("qq", stamp[:16])
                    t = min(t, sec + nsec * 1e-9 - (time.time() - time.monotonic()))
            self.hello.set()
            try:
                msg = OscMessage(data)
            except Exception:
                continue
            self.feedback.append((t, msg.address, tuple(msg.params)))
            if msg.address == "/livegen/beat":
                self.beats.append((t, int(msg.params[0])))

    # ---- what arrived ---------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                return False
            time.sleep(0.001)
        return True

    def all_notes_off_after(self, t: float) -> tuple[int, float] | None:
        """Index and arrival time of the first All Notes Off on livegen's channel after ``t``."""
        got = list(self.received)
        for i, (ta, m) in enumerate(got):
            if ta >= t and is_all_notes_off(m, self.channel):
                return i, ta
        return None

    def check_panic(self, via: str, sent: float, timeout: float = 2.0) -> PanicRecord:
        """Wait for the All Notes Off after ``sent``; check every note sounding then was released."""
        record = PanicRecord(via, sent)
        if not self.wait_for(lambda: self.all_notes_off_after(sent) is not None, timeout):
            return record
        found = self.all_notes_off_after(sent)
        assert found is not None
        index, arrived = found
        got = list(self.received)
        record.latency_s = arrived - sent
        before = sounding(got[:index], lambda ta: ta < sent)
        record.sounding_before = len(before)
        record.released = not sounding(got[:index])
        return record


def is_all_notes_off(m: mido.Message, channel: int) -> bool:
    return bool(m.type == "control_change" and m.control == ALL_NOTES_OFF and m.channel == channel)


def sounding(messages: Sequence[tuple[float, mido.Message]],
             when: Callable[[float], bool] = lambda t: True) -> set[tuple[int, int]]:
    """(channel, pitch) of the notes sounding after ``messages`` (those whose time passes ``when``)."""
    on: set[tuple[int, int]] = set()
    for t, m in messages:
        if not when(t):
            continue
        if m.type == "note_on" and m.velocity > 0:
            on.add((m.channel, m.note))
        elif m.type in ("note_on", "note_off"):
            on.discard((m.channel, m.note))
        elif m.type == "control_change" and m.control == ALL_NOTES_OFF:
            on = {k for k in on if k[0] != m.channel}
    return on


def jack_hop(client: str, pings: int = 100) -> dict[str, float]:
    """One JACK hop: the tester's own output -> its own input, ``pings`` notes spread over
    random phases of the period."""
    arrived: list[float] = []
    out = open_output("hop out", virtual=True, client_name=f"{client}-hop")
    try:
        inp = open_input(f"{client}-hop:hop out", lambda m, t: arrived.append(t), client_name=f"{client}-hopin")
    except Exception:
        out.close()
        raise
    latencies = []
    rng = random.Random(1)
    try:
        for _ in range(pings):
            time.sleep(0.01 + rng.random() * 0.01)
            n = len(arrived)
            t = time.monotonic()
            out.send(mido.Message("note_on", note=60, velocity=1))
            end = t + 1.0
            while len(arrived) == n and time.monotonic() < end:
                time.sleep(0.0001)
            if len(arrived) > n:
                latencies.append(arrived[n] - t)
    finally:
        inp.close()
        out.close()
    return percentiles(latencies)


def summarize(records: Sequence[PanicRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for via in ("osc", "cc"):
        rs = [r for r in records if r.via == via]
        lat = [r.latency_s for r in rs if r.latency_s is not None]
        out[via] = {
            "sent": len(rs), "answered": len(lat), "not_released": sum(1 for r in rs if r.latency_s is not None
                                                                     and not r.released),
            "with_notes_sounding": sum(1 for r in rs if r.sounding_before),
            "within_5ms": sum(1 for x in lat if x <= 0.005),
            **({"latency_ms": percentiles(lat)} if lat else {}),
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    server = BenchJack(period=args.jack_period, realtime=not args.no_jack_realtime).start()
    records: list[PanicRecord] = []
    try:
        hop = jack_hop("panic-tester")
        with tempfile.TemporaryDirectory() as tmp:
            rig = Rig(server, ["--model", args.model, "--mode", "solo", "--bpm", str(args.bpm),
                               "--steps-per-beat", str(args.steps_per_beat), "--density", str(args.density),
                               "--seed", "1"], Path(tmp))
            try:
                rig.start()
                rig.wait_for(lambda: len(rig.beats) >= 4, 30)
                load_before = load_average()
                rng = random.Random(0)
                for i in range(args.panics):
                    time.sleep(args.every * (0.5 + rng.random()))
                    via = "osc" if i % 2 == 0 else "cc"
                    records.append(rig.check_panic(via, rig.panic(via)))
                load_after = load_average()
                status, out = rig.stop()
            finally:
                rig.close()
            stderr = rig.stderr()
    finally:
        server.stop()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return {"command": "python -m benchmarks.panic " + " ".join(sys.argv[1:]),
            "model": args.model, "bpm": args.bpm, "steps_per_beat": args.steps_per_beat,
            "jack": {"period": args.jack_period, "rate": 48000, "realtime": not args.no_jack_realtime},
            "jack_hop_ms": hop, "panics": summarize(records), "livegen_status": status, "livegen_summary": last,
            "tracebacks": stderr.count("Traceback"),
            "load_average_before": load_before, "load_average_after": load_after, "machine": machine()}


def table(doc: dict[str, Any]) -> str:
    lines = [f"{'panic via':<10}{'sent':>6}{'answered':>10}{'<=5 ms':>8}{'median':>9}{'p99':>8}{'max':>8}"
             f"{'unreleased':>12}", "-" * 71]
    for via, r in doc["panics"].items():
        lat = r.get("latency_ms", {})
        lines.append(f"{via:<10}{r['sent']:>6}{r['answered']:>10}{r['within_5ms']:>8}"
                     f"{lat.get('median_ms', float('nan')):>9.2f}{lat.get('p99_ms', float('nan')):>8.2f}"
                     f"{lat.get('max_ms', float('nan')):>8.2f}{r['not_released']:>12}")
    hop = doc["jack_hop_ms"]
    lines.append(f"JACK hop (period {doc['jack']['period']}): median {hop['median_ms']:.2f} ms, "
                 f"p99 {hop['p99_ms']:.2f}, max {hop['max_ms']:.2f}; load {doc['load_average_before']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--panics", type=int, default=200)
    ap.add_argument("--every", type=float, default=0.3, help="mean seconds between panics")
    ap.add_argument("--model", default="nottingham")
    ap.add_argument("--bpm", type=float, default=240.0)
    ap.add_argument("--steps-per-beat", type=int, default=4)
    ap.add_argument("--density", type=float, default=1.0, help="more notes sounding at each panic")
    ap.add_argument("--jack-period", type=int, default=64)
    ap.add_argument("--no-jack-realtime", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    doc = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
