"""The OSC server under attack, over real UDP sockets on 127.0.0.1.

A second process floods the server with bad datagrams while an asyncio loop in the test
keeps a 62.5 ms beat (a 16th at 240 BPM): the beat must never skip, the log must stay
short, and a panic sent right after the flood must still get through. Bundles with
thousands of messages and a 2,500-deep nested bundle are cut at the caps. A fuzz run of
10^5 datagrams must never let an invalid value through. The allow list and liblo's
``oscsend`` close the file.

Wall-clock bounds here are generous ("the loop did not stall"); the figures are measured
by ``python -m benchmarks.osc_flood``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import pickle
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from livegen.controls.table import CONTROLS, ControlChange, input_addresses
from livegen.errors import LivegenError
from livegen.io.osc import MAX_BUNDLE_MESSAGES, OscServer, build_message

# floods real sockets and times a beat on the live clock
pytestmark = pytest.mark.realtime

BEAT = 0.0625  # a 16th note at 240 BPM
TIMEOUT = 10.0

#: paces a list of pickled datagrams to 127.0.0.1:PORT at RATE per second (another process,
#: as a flooding controller on the network would be).
SENDER = r"""
import pickle, socket, sys, time
port, path, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
with open(path, "rb") as f:
    dgrams = pickle.load(f)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
sys.stdin.readline()  # go
t0 = time.monotonic()
i = 0
while i < len(dgrams):
    due = min(len(dgrams), int((time.monotonic() - t0) * rate) + 1)
    while i < due:
        try:
            s.sendto(dgrams[i], ("127.0.0.1", port))
        except OSError:
            pass
        i += 1
    time.sleep(0.001)
print(f"{time.monotonic() - t0:.3f}")
"""


def _until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


def _bundle(*dgrams: bytes) -> bytes:
    return b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(d)) + d for d in dgrams)


def _check(change: ControlChange) -> None:
    """What the server hands out is exactly what the table accepts."""
    control = CONTROLS[change.name]
    if control.kind == "trigger":
        assert change.value is True
        return
    assert control.coerce(change.value) == change.value
    if isinstance(change.value, float):
        assert math.isfinite(change.value)


async def _beat(times: list[float], stop: asyncio.Event) -> None:
    """Tick every BEAT on the loop, recording when each tick ran."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while not stop.is_set():
        due += BEAT
        await asyncio.sleep(max(0.0, due - loop.time()))
        times.append(time.monotonic())


class _Flood:
    """A sender process, started (and its datagrams loaded) before the measurement begins:
    starting a Python process on a busy machine can itself take the CPU for 100 ms."""

    def __init__(self, port: int, dgrams: list[bytes], rate: float, tmp_path: Path) -> None:
        path = tmp_path / f"flood-{rate:g}.pickle"
        path.write_bytes(pickle.dumps(dgrams))
        self.proc = subprocess.Popen([sys.executable, "-c", SENDER, str(port), str(path), str(rate)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    async def run(self) -> None:
        """Go, and wait until every datagram is sent."""
        out, _ = await asyncio.wait_for(asyncio.to_thread(self.proc.communicate, "go\n"), 60)
        assert self.proc.returncode == 0, out


def _bad_corpus(n: int, rng: random.Random) -> list[bytes]:
    """``n`` datagrams, each undecodable or exactly one message the table refuses."""
    makers: list[Callable[[int], bytes]] = [
        lambda i: b"\xff" + rng.randbytes(rng.randrange(1, 120)),  # noise
        lambda i: build_message("/livegen/tempo", [5000 + i]),  # out of range
        lambda i: build_message("/livegen/temperature", [math.nan]),
        lambda i: build_message("/livegen/density", [math.inf]),
        lambda i: build_message(f"/livegen/nope/{i}", [1]),  # unknown address
        lambda i: build_message("/livegen/tempo", ["fast"]),  # wrong type
        lambda i: build_message("/livegen/temperature", [0.5, 0.6]),  # wrong count
        lambda i: build_message("/livegen/key", ["X" * (300 + i % 50)]),  # long text
        lambda i: build_message("/livegen/tempo/norm", [2.0]),
        lambda i: build_message("/livegen/tempo", [1.0])[:-3],  # truncated
    ]
    out = [makers[i % len(makers)](i) for i in range(n)]
    for i in range(0, n, 2000):  # a few near-64 KB ones, logged and shortened
        out[i] = build_message("/livegen/key", ["Q" * 60_000])
    return out


def test_a_flood_of_bad_datagrams_never_stops_the_beat(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="livegen")
    urgent: list[tuple[ControlChange, float]] = []
    arrived = threading.Event()

    def on_urgent(change: ControlChange) -> None:
        urgent.append((change, time.monotonic()))
        arrived.set()

    corpus = _bad_corpus(20_000, random.Random(0))

    async def scenario() -> tuple[list[float], dict[str, int], float, list[ControlChange]]:
        async with OscServer(port=0, on_urgent=on_urgent) as server:
            flood = _Flood(server.address[1], corpus, 10_000, tmp_path)  # 20,000 in ~2 s
            beats: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.ensure_future(_beat(beats, stop))
            await asyncio.sleep(0.3)
            await flood.run()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sent = time.monotonic()
            s.sendto(build_message("/livegen/panic", []), server.address)
            s.close()
            assert await asyncio.to_thread(arrived.wait, TIMEOUT), "the panic after the flood was lost"
            await asyncio.sleep(0.3)
            stop.set()
            await ticker
            return beats, server.stats(), sent, server.poll()

    beats, stats, sent, left = asyncio.run(scenario())
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert len(beats) > 30 and max(gaps) <= 2 * BEAT, f"the beat stalled: longest gap {max(gaps) * 1000:.0f} ms"
    # every datagram read is accounted for; nothing bad got through
    assert stats["datagrams"] >= 10_000, stats  # the receiver kept up with the flood
    assert stats["garbage"] + stats["refused"] == stats["datagrams"] - 1, stats
    assert left == [] and [c for c, _ in urgent] == [ControlChange("panic", True)]
    assert urgent[0][1] - sent < 2.0
    lines = [r for r in caplog.records if r.name.startswith("livegen")]
    assert len(lines) <= 100, [r.getMessage()[:100] for r in lines[:20]]
    assert max(len(r.getMessage()) for r in lines) < 500


def test_huge_and_deep_bundles_are_cut_at_the_caps(tmp_path):
    bad = build_message("/livegen/tempo", [5000])
    huge = _bundle(*[bad] * 2300)  # ~64 KB, 2,300 refused messages
    deep = build_message("/livegen/tempo", [99])
    for _ in range(2500):
        deep = _bundle(deep)
    assert len(huge) < 65507 and len(deep) < 65507

    async def scenario() -> tuple[list[float], dict[str, int], list[ControlChange]]:
        async with OscServer(port=0) as server:
            flood = _Flood(server.address[1], [huge] * 40 + [deep], 20, tmp_path)  # 20 a second for 2 s
            beats: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.ensure_future(_beat(beats, stop))
            await asyncio.sleep(0.2)
            await flood.run()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(build_message("/livegen/tempo", [99]), server.address)
            s.close()
            changes = [await asyncio.wait_for(server.get(), TIMEOUT)]
            await asyncio.sleep(0.2)
            stop.set()
            await ticker
            return beats, server.stats(), changes

    beats, stats, changes = asyncio.run(scenario())
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert max(gaps) <= 2 * BEAT, f"the beat stalled: longest gap {max(gaps) * 1000:.0f} ms"
    # 64 messages read of each huge bundle, the rest cut (one count per bundle); the deep
    # bundle is skipped below depth 4 (its tempo 99 was never read); the tempo after them works
    assert stats["datagrams"] == 42 and stats["capped"] == 41
    assert stats["refused"] == 40 * MAX_BUNDLE_MESSAGES and stats["received"] == stats["refused"] + 1
    assert stats["garbage"] == 0
    assert changes == [ControlChange("tempo", 99.0)]


# ---- fuzz ---------------------------------------------------------------------------------------

_POOL: list[object] = [0, 1, -1, 2, 64, 127, 128, 300, 30, 2**31 - 1, -2**31, 2**40, 0.0, 0.5, 1.0, -0.5, 1.5,
                       120.0, 300.0001, 1e308, -1e308, 1e-320, math.nan, -math.nan, math.inf, -math.inf,
                       "C", "d#", "minor", "on", "off", "true", "", "x" * 300, "\u00e9", True, False, None,
                       b"\x00\x01", b"blob"]


def _osc_string(s: bytes) -> bytes:
    return s + b"\x00" * (4 - len(s) % 4)


def _encode(address: str, args: list[object], rng: random.Random) -> bytes:
    """A small independent OSC encoder (ints as i or h, floats as f or d)."""
    tags, payload = [","], []
    for a in args:
        if a is True or a is False:
            tags.append("T" if a else "F")
        elif a is None:
            tags.append("N")
        elif isinstance(a, int):
            if -2**31 <= a < 2**31 and rng.random() < 0.8:
                tags.append("i")
                payload.append(struct.pack(">i", a))
            else:
                tags.append("h")
                payload.append(struct.pack(">q", max(-2**63, min(2**63 - 1, a))))
        elif isinstance(a, float):
            if rng.random() < 0.6 and (not math.isfinite(a) or abs(a) < 3e38):
                tags.append("f")
                payload.append(struct.pack(">f", a))
            else:
                tags.append("d")
                payload.append(struct.pack(">d", a))
        elif isinstance(a, str):
            tags.append("s")
            payload.append(_osc_string(a.encode()))
        else:
            assert isinstance(a, bytes)
            tags.append("b")
            payload.append(struct.pack(">i", len(a)) + a + b"\x00" * (-len(a) % 4))
    return _osc_string(address.encode()) + _osc_string("".join(tags).encode()) + b"".join(payload)


class _Fuzzer:
    """Random datagrams: noise, typed messages of every kind, mutated ones, random type tags,
    bundles (nested, with lying sizes) and near-64 KB ones. Messages come from pools so the
    test spends its time on the server, not on building datagrams."""

    def __init__(self, seed: int, pool: int = 4000) -> None:
        self.rng = random.Random(seed)
        self.addresses = sorted(input_addresses()) + ["/livegen/nope", "/", "/livegen", "/livegen/tempo/norm/x",
                                                      "/" + "a" * 300, "/livegen/tempo\u00e9"]
        self.messages = [self._message() for _ in range(pool)]
        self.mutants = [self._mutated() for _ in range(pool)]
        self.tagged = [self._raw_tags() for _ in range(pool // 2)]

    def _message(self) -> bytes:
        rng = self.rng
        args = [rng.choice(_POOL) for _ in range(rng.choice((0, 1, 1, 1, 1, 2, 3, 9)))]
        return _encode(rng.choice(self.addresses), args, rng)

    def _mutated(self) -> bytes:
        rng = self.rng
        data = bytearray(self._message())
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1:
                del data[rng.randrange(len(data) + 1):]
            else:
                data += rng.randbytes(rng.randrange(1, 9))
        return bytes(data)

    def _raw_tags(self) -> bytes:
        rng = self.rng
        tags = "".join(rng.choice("ifdhsSbTFNIcmtr[]xX") for _ in range(rng.randrange(6)))
        return (_osc_string(rng.choice(self.addresses).encode()) + _osc_string(("," + tags).encode())
                + rng.randbytes(rng.randrange(40)))

    def bundle(self, depth: int = 1) -> bytes:
        rng = self.rng
        parts = []
        size = rng.randrange(60, 90) if depth == 1 and rng.random() < 0.15 else rng.randrange(1, 8)
        for _ in range(size):
            r = rng.random()
            if r < 0.1 and depth < 7:
                parts.append(self.bundle(depth + 1))
            elif r < 0.75:
                parts.append(rng.choice(self.messages))
            else:
                parts.append(rng.choice(self.mutants))
        data = _bundle(*parts)
        if rng.random() < 0.1:  # a lying element size
            data = data[:16] + struct.pack(">i", rng.choice((-1, 2**31 - 1, 3, len(data)))) + data[20:]
        return data

    def oversized(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            return _encode(rng.choice(self.addresses), ["Z" * rng.randrange(60_000, 65_000)], rng)
        if kind == 1:
            one = rng.choice(self.messages)
            return _bundle(*[one] * max(1, 64_000 // (len(one) + 4)))[:65_000]
        return rng.randbytes(rng.randrange(60_000, 65_507))

    def datagram(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            return rng.randbytes(rng.randrange(0, 512))
        if r < 0.55:
            return rng.choice(self.messages)
        if r < 0.72:
            return rng.choice(self.mutants)
        if r < 0.85:
            return rng.choice(self.tagged)
        if r < 0.995:
            return self.bundle()
        return self.oversized()


def test_fuzz_the_server_survives_and_only_valid_values_get_through():
    fuzzer = _Fuzzer(seed=12)
    delivered: list[ControlChange] = []
    with OscServer(port=0, on_urgent=delivered.append) as server:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent = 0
        t0 = time.monotonic()
        for _ in range(100_000):
            data = fuzzer.datagram()
            s.sendto(data, server.address)
            sent += 1
            # keep the kernel's receive buffer from overflowing: a lost datagram is an untested one
            window = 0 if len(data) > 8192 else 64
            if server.datagrams < sent - window:
                target = sent - window // 2
                _until(lambda t=target: server.datagrams >= t, "the receiver to catch up")
                delivered.extend(server.poll())
        _until(lambda: server.datagrams == sent, "the last datagrams")
        s.sendto(build_message("/livegen/tempo", [123]), server.address)
        _until(lambda: server.datagrams == sent + 1, "a valid message after the fuzz")
        last = server.poll()  # a tempo change may still wait from the fuzz: coalesced, in its place
        delivered.extend(last)
        elapsed = time.monotonic() - t0
        stats = server.stats()
        thread = server._thread
        assert thread is not None and thread.is_alive()
        s.close()
    assert ControlChange("tempo", 123.0) in last
    for change in delivered:
        _check(change)
    # every kind of outcome was exercised
    assert min(stats["garbage"], stats["refused"], stats["capped"], stats["coalesced"], len(delivered)) > 100, stats
    assert elapsed < 120  # the run itself; the receiver's speed is measured by the benchmark


# ---- the allow list -----------------------------------------------------------------------------


def _from(host: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    return s


def test_a_source_outside_the_allow_list_is_denied_unread(caplog):
    caplog.set_level(logging.WARNING, logger="livegen")
    with OscServer(port=0, allow=["127.0.0.2"]) as server:
        stranger, friend = _from("127.0.0.1"), _from("127.0.0.2")
        for _ in range(200):
            stranger.sendto(build_message("/livegen/mute", [1]), server.address)
            stranger.sendto(b"\xffgarbage", server.address)
        friend.sendto(build_message("/livegen/tempo", [100]), server.address)
        _until(lambda: server.datagrams == 401, "401 datagrams")
        assert server.denied == 400 and server.garbage == 0 and server.received == 1
        assert server.poll() == [ControlChange("tempo", 100.0)]
        stranger.close()
        friend.close()
    denied = [r for r in caplog.records if "denied" in r.getMessage()]
    assert 1 <= len(denied) <= 3


def test_allow_takes_networks_and_ipv4_mapped_sources():
    with OscServer("::", 0, allow=["127.0.0.0/8", "fd00::/8"]) as server:  # dual stack: ::ffff:127.0.0.1
        s = _from("127.0.0.1")
        s.sendto(build_message("/livegen/tempo", [101]), ("127.0.0.1", server.address[1]))
        _until(lambda: server.datagrams == 1, "a datagram")
        assert server.denied == 0 and server.poll() == [ControlChange("tempo", 101.0)]
        s.close()
    with pytest.raises(LivegenError, match="allow"):
        OscServer(port=0, allow=["127.0.0.1", "not an ip"])


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools (oscsend) not installed")
def test_oscsend_as_an_independent_peer_panic_gets_through_bad_values_do_not():
    urgent: list[ControlChange] = []
    with OscServer(port=0, allow=["127.0.0.1"], on_urgent=urgent.append) as server:
        port = str(server.address[1])
        for args in (["/livegen/temperature", "f", "nan"], ["/livegen/tempo", "i", "5000"],
                     ["/livegen/nope", "i", "1"], ["/livegen/panic"], ["/livegen/mute", "i", "1"],
                     ["/livegen/tempo", "f", "88"]):
            subprocess.run(["oscsend", "127.0.0.1", port, *args], check=True, timeout=10)
        _until(lambda: server.datagrams == 6, "oscsend's datagrams")
        assert urgent == [ControlChange("panic", True), ControlChange("mute", True)]
        assert server.poll() == [ControlChange("tempo", 88.0)]
        assert server.refused == 3 and server.drain_refused() == {"temperature", "tempo"}
    with OscServer(port=0, allow=["10.0.0.0/8"], on_urgent=urgent.append) as closed:
        subprocess.run(["oscsend", "127.0.0.1", str(closed.address[1]), "/livegen/panic"], check=True, timeout=10)
        _until(lambda: closed.datagrams == 1, "oscsend's panic")
        assert closed.denied == 1 and len(urgent) == 2  # the stranger's panic never fired
