"""The OSC server under a flood: how late the engine's loop runs, what is dropped, how
much is logged, and how fast a panic still gets through.

A second process sends datagrams at a fixed rate to an :class:`~livegen.io.osc.OscServer`
on 127.0.0.1 for ``--seconds`` per scenario. Meanwhile, in this process:

* a probe task on the asyncio loop wakes every 5 ms and records how late it woke (the
  stall a step of the engine would see);
* a thread sends ``/livegen/panic`` ten times a second, each after the previous one
  reached ``on_urgent`` (or 0.5 s passed: counted as lost), and records the time from
  ``sendto`` to ``on_urgent``;
* a counting handler on the ``livegen`` logger counts log lines;
* a consumer task takes changes the way a session does (``get`` then ``poll``);
* the engine's timed MIDI sender (:class:`~livegen.engine.scheduler.ThreadScheduler`, on
  its own thread) sends a note every 62.5 ms to a memory port, scheduled a step ahead from
  the loop; its send error (actual - deadline) is recorded. It shares the GIL with the
  receiver thread, so this is what a flood costs the output timing.

Scenarios: idle; bad datagrams (undecodable, out of range, NaN, unknown addresses, wrong
types, a few near 64 KB) at 1k..50k per second; valid tempo changes at 10k per second;
bundles of 2,300 bad messages and bundles nested 2,500 deep at 20 per second. Kernel drops
(``/proc/net/udp``) are read for the server's socket. The receiver's own cost per datagram
is measured in-process as well.

    python -m benchmarks.osc_flood [--seconds 4] [--rates 1000 5000 10000 20000 50000]
                                   [--switch-intervals 0.005 0.001]

``--switch-intervals`` repeats every scenario with ``sys.setswitchinterval`` at each value
(Python's default is 0.005 s: how long a thread that wants the GIL may wait for it).

Results go to ``benchmarks/results/osc_flood.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import pickle
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import mido

from benchmarks.common import machine, percentiles
from livegen.controls.table import ControlChange
from livegen.engine.scheduler import ThreadScheduler
from livegen.io.memory import MemoryOutput
from livegen.io.osc import OscServer, build_message

RESULTS = Path(__file__).resolve().parent / "results" / "osc_flood.json"
PROBE_S = 0.005
PANIC_EVERY_S = 0.1
PANIC_TIMEOUT_S = 0.5
STEP_S = 0.0625  # a 16th at 240 BPM

SENDER = r"""
import pickle, socket, sys, time
port, path, rate, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
with open(path, "rb") as f:
    dgrams = pickle.load(f)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
total = int(rate * seconds)
print("ready", flush=True)
sys.stdin.readline()  # go
t0 = time.monotonic()
i = 0
while i < total:
    due = min(total, int((time.monotonic() - t0) * rate) + 1)
    while i < due:
        try:
            s.sendto(dgrams[i % len(dgrams)], ("127.0.0.1", port))
        except OSError:
            pass
        i += 1
    time.sleep(0.0005)
print(i, f"{time.monotonic() - t0:.3f}")
"""


def _bundle(*dgrams: bytes) -> bytes:
    return b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(d)) + d for d in dgrams)


def bad_corpus(n: int = 20_000, seed: int = 0) -> list[bytes]:
    """Undecodable or refused datagrams, one message each (a few near 64 KB)."""
    rng = random.Random(seed)
    makers = [
        lambda i: b"\xff" + rng.randbytes(rng.randrange(1, 120)),
        lambda i: build_message("/livegen/tempo", [5000 + i]),
        lambda i: build_message("/livegen/temperature", [math.nan]),
        lambda i: build_message("/livegen/density", [math.inf]),
        lambda i: build_message(f"/livegen/nope/{i}", [1]),
        lambda i: build_message("/livegen/tempo", ["fast"]),
        lambda i: build_message("/livegen/temperature", [0.5, 0.6]),
        lambda i: build_message("/livegen/key", ["X" * 300]),
        lambda i: build_message("/livegen/tempo/norm", [2.0]),
        lambda i: build_message("/livegen/tempo", [1.0])[:-3],
    ]
    out = [makers[i % len(makers)](i) for i in range(n)]
    for i in range(0, n, 2000):
        out[i] = build_message("/livegen/key", ["Q" * 60_000])
    return out


def huge_bundle() -> bytes:
    return _bundle(*[build_message("/livegen/tempo", [5000])] * 2300)


def deep_bundle() -> bytes:
    deep = build_message("/livegen/tempo", [99])
    for _ in range(2500):
        deep = _bundle(deep)
    return deep


def valid_corpus(n: int = 2000) -> list[bytes]:
    return [build_message("/livegen/tempo", [30 + i % 270]) for i in range(n)]


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0
        self.longest = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        self.longest = max(self.longest, len(record.getMessage()))


def kernel_drops(port: int) -> int | None:
    """The ``drops`` column of /proc/net/udp{,6} for the socket bound to ``port``."""
    total = None
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total = (total or 0) + int(fields[-1])
    return total


class _PanicProbe(threading.Thread):
    """Sends a panic every PANIC_EVERY_S and times its arrival at on_urgent."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.arrived = threading.Event()
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.lost = 0

    def on_urgent(self, change: ControlChange) -> None:
        if change.name == "panic":
            self.arrived.set()

    def run(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        panic = build_message("/livegen/panic", [])
        while not self.stop.wait(PANIC_EVERY_S):
            self.arrived.clear()
            t0 = time.perf_counter()
            s.sendto(panic, self.address)
            if self.arrived.wait(PANIC_TIMEOUT_S):
                self.latencies.append(time.perf_counter() - t0)
            else:
                self.lost += 1
        s.close()


async def _probe(lateness: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time() + PROBE_S
    while not stop.is_set():
        await asyncio.sleep(max(0.0, due - loop.time()))
        now = loop.time()
        lateness.append(max(0.0, now - due))
        due = max(due + PROBE_S, now)


async def _steps(scheduler: ThreadScheduler, stop: asyncio.Event) -> None:
    """Like the engine: schedule one note a step ahead on the timed sender thread."""
    note = [mido.Message("note_on", note=60, velocity=1)]
    due = time.monotonic() + STEP_S
    while not stop.is_set():
        scheduler.schedule(due + STEP_S, note)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        due += STEP_S


async def _consume(server: OscServer, counts: dict[str, int]) -> None:
    while True:
        batch = [await server.get(), *server.poll(255)]
        counts["changes"] += len(batch)
        counts["batches"] += 1


async def scenario(name: str, dgrams: list[bytes], rate: float, seconds: float, workdir: Path,
                   realtime: bool = False) -> dict[str, Any]:
    probe = None
    counter = _Count()
    root = logging.getLogger("livegen")
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(counter)
    try:
        async with OscServer(port=0) as server:
            port = server.address[1]
            probe = _PanicProbe(("127.0.0.1", port))
            server.on_urgent = probe.on_urgent
            drops0 = kernel_drops(port) or 0
            lateness: list[float] = []
            counts = {"changes": 0, "batches": 0}
            stop = asyncio.Event()
            scheduler = ThreadScheduler(MemoryOutput(), realtime=realtime)
            tasks = [asyncio.ensure_future(_probe(lateness, stop)), asyncio.ensure_future(_consume(server, counts)),
                     asyncio.ensure_future(_steps(scheduler, stop))]
            proc = None
            if rate > 0:  # started and loaded before the measurement begins
                path = workdir / f"{name}.pickle"
                path.write_bytes(pickle.dumps(dgrams))
                proc = subprocess.Popen([sys.executable, "-c", SENDER, str(port), str(path), str(rate), str(seconds)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            probe.start()
            await asyncio.sleep(0.2)
            lines0 = counter.lines
            sent = 0
            if proc is not None:
                out, _ = await asyncio.to_thread(proc.communicate, "go\n")
                sent = int(out.split()[0])
            else:
                await asyncio.sleep(seconds)
            await asyncio.sleep(0.5)  # let the receiver finish what is queued
            probe.stop.set()
            await asyncio.to_thread(probe.join)
            stop.set()
            tasks[1].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            scheduler.close()
            send_errors = scheduler.stats.errors_s
            stats = server.stats()
            drops = (kernel_drops(port) or 0) - drops0
        lines = counter.lines - lines0
    finally:
        root.removeHandler(counter)
        root.setLevel(old_level)
    assert probe is not None
    return {
        "scenario": name, "rate_per_s": rate, "seconds": seconds, "sent": sent,
        "read": stats["datagrams"] - len(probe.latencies) - probe.lost,
        "kernel_dropped": drops, "counters": stats,
        "loop_lateness_ms": percentiles(lateness), "midi_send_error_ms": percentiles(send_errors),
        "log_lines": lines, "longest_log_line": counter.longest,
        "log_lines_per_20000": round(lines * 20_000 / sent, 1) if sent and name == "bad datagrams" else None,
        "panic_ms": percentiles(probe.latencies) if probe.latencies else None, "panics_lost": probe.lost,
        "changes_taken": counts["changes"], "loop_wakeups": counts["batches"],
    }


def receiver_cost() -> dict[str, float]:
    """Receiver-thread time per datagram (microseconds), measured in-process."""
    server = OscServer(port=0)
    logging.getLogger("livegen").setLevel(logging.WARNING)
    cases = {"bad message": build_message("/livegen/tempo", [5000]),
             "valid change": build_message("/livegen/tempo", [100]),
             "garbage": b"\xff" * 40,
             "near-64KB string": build_message("/livegen/key", ["Q" * 60_000]),
             "bundle of 2300 bad": huge_bundle(),
             "bundle 2500 deep": deep_bundle()}
    guarded = OscServer(port=0, allow=["192.168.1.0/24"])
    out = {}
    for name, data in [*cases.items(), ("denied (allow list)", cases["bad message"])]:
        target = guarded if name.startswith("denied") else server
        n = 200 if data.startswith(b"#bundle") else 5000
        t0 = time.perf_counter()
        for _ in range(n):
            target._datagram(data, ("127.0.0.1", 1), 0.0)
        out[name] = round((time.perf_counter() - t0) / n * 1e6, 1)
    server.log.flush(force=True)
    guarded.log.flush(force=True)
    return out


def _table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'scenario':<19}{'rate/s':>7}{'sent':>8}{'read':>8}{'kdrop':>7}{'loop late':>10}{'p99':>7}"
            f"{'max':>7}{'send p99':>9}{'max':>7}{'logs/20k':>9}{'panic med':>10}{'p99':>7}{'lost':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lat, pan, snd = r["loop_lateness_ms"], r["panic_ms"] or {}, r["midi_send_error_ms"]
        lines.append(f"{r['scenario']:<19}{r['rate_per_s']:>7g}{r['sent']:>8}{r['read']:>8}{r['kernel_dropped']:>7}"
                     f"{lat['median_ms']:>10.2f}{lat['p99_ms']:>7.2f}{lat['max_ms']:>7.2f}"
                     f"{snd['p99_ms']:>9.2f}{snd['max_ms']:>7.2f}"
                     f"{r['log_lines_per_20000'] if r['log_lines_per_20000'] is not None else '-':>9}"
                     f"{pan.get('median_ms', math.nan):>10.2f}{pan.get('p99_ms', math.nan):>7.2f}{r['panics_lost']:>5}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rates", type=float, nargs="*", default=[1000, 5000, 10000, 20000, 50000])
    ap.add_argument("--switch-intervals", type=float, nargs="*", default=[sys.getswitchinterval()])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    quiet = logging.getLogger("livegen")
    quiet.propagate = False  # lines are counted, not printed
    quiet.addHandler(logging.NullHandler())
    load_before = list(os.getloadavg())
    bad = bad_corpus()
    plan: list[tuple[str, list[bytes], float]] = [("idle", [], 0)]
    plan += [("bad datagrams", bad, rate) for rate in args.rates]
    plan += [("valid changes", valid_corpus(), 10_000), ("bundles 2300 bad", [huge_bundle()], 20),
             ("bundles 2500 deep", [deep_bundle()], 20)]
    rows = []
    default_interval = sys.getswitchinterval()
    with tempfile.TemporaryDirectory() as tmp:
        for interval in args.switch_intervals:
            sys.setswitchinterval(interval)
            for name, dgrams, rate in plan:
                row = asyncio.run(scenario(name, dgrams, rate, args.seconds, Path(tmp)))
                rows.append({"switch_interval_ms": round(interval * 1000, 3), **row})
                print(f"  switch interval {interval * 1000:g} ms: {name} at {rate:g}/s done", file=sys.stderr)
    sys.setswitchinterval(default_interval)
    cost = receiver_cost()
    doc = {"command": "python -m benchmarks.osc_flood " + " ".join(sys.argv[1:]),
           "probe_period_ms": PROBE_S * 1000, "panic_every_ms": PANIC_EVERY_S * 1000,
           "rcvbuf_max": _rmem_max(), "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
           "rows": rows, "receiver_cost_us": cost, "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for interval in args.switch_intervals:
        print(f"GIL switch interval {interval * 1000:g} ms; times in ms")
        print(_table([r for r in rows if r["switch_interval_ms"] == round(interval * 1000, 3)]))
    print("receiver cost per datagram (us): " + ", ".join(f"{k} {v}" for k, v in cost.items()))
    print(f"wrote {args.out}")


def _rmem_max() -> int | None:
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    main()
