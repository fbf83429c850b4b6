"""OSC over real UDP sockets on 127.0.0.1: the receiver thread, validated and coalesced
changes, urgent controls, the decoder and its caps, the deprecated queue view, the
rate-limited log, the feedback client, and liblo's ``oscsend`` as an independent peer.

Floods, fuzzing and the allow list over the network are in ``test_osc_flood.py``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage as PyOscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from livegen.controls.table import CONTROLS, ControlChange, ControlState
from livegen.errors import LivegenError
from livegen.io.osc import (
    BATCH_GAP_S,
    MAX_ARGS,
    URGENT_BURST,
    OscFeedback,
    OscServer,
    build_message,
    decode_packet,
    parse_host_port,
)
from livegen.io.ratelog import RateLimitedLog, quoted, shorten

TIMEOUT = 10.0


def _sender() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def _until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


def _bundle(*dgrams: bytes) -> bytes:
    return b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(d)) + d for d in dgrams)


def _norm(name: str, x: float) -> object:
    return CONTROLS[name].from_normalized(x)


# ---- the server ---------------------------------------------------------------------------------


def test_valid_changes_arrive_validated_garbage_and_bad_values_are_counted():
    with OscServer(port=0) as server:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        s = _sender()
        s.sendto(build_message("/livegen/tempo", [96]), (host, port))
        s.sendto(b"\x00garbage that is not OSC", (host, port))
        s.sendto(b"", (host, port))
        s.sendto(b"/livegen/tempo\x00\x00,s\x00\x00abc", (host, port))  # unterminated string
        s.sendto(build_message("/livegen/temperature/norm", [0.5]), (host, port))
        bundle = OscBundleBuilder(IMMEDIATELY)
        for addr, arg in (("/livegen/key", "Eb"), ("/livegen/scale", "dorian")):
            b = OscMessageBuilder(addr)
            b.add_arg(arg)
            bundle.add_content(b.build())
        s.sendto(bundle.build().dgram, (host, port))
        s.sendto(build_message("/livegen/tempo/norm", [7.0]), (host, port))  # out of range: refused
        s.sendto(build_message("/livegen/nope", [1]), (host, port))  # unknown: refused, no name
        _until(lambda: server.datagrams == 8, "8 datagrams")
        s.close()
        messages = server.poll_messages()
        stats = server.stats()
        refused = server.drain_refused()
    assert [(m.change.name, m.change.value) for m in messages if m.change] == [
        ("tempo", 96.0), ("temperature", _norm("temperature", 0.5)), ("key", "D#"), ("scale", "dorian")]
    assert messages[0].address == "/livegen/tempo" and messages[0].args == (96,)
    assert messages[0].source[0] == "127.0.0.1"
    assert all(a.time <= b.time for a, b in zip(messages, messages[1:]))
    assert stats["garbage"] == 3 and stats["received"] == 6 and stats["refused"] == 2
    assert stats["capped"] == stats["denied"] == stats["dropped"] == stats["pending"] == 0
    assert refused == {"tempo"}


def test_a_burst_of_one_control_coalesces_to_its_latest_value():
    with OscServer(port=0) as server:
        s = _sender()
        for i in range(1000):
            s.sendto(build_message("/livegen/tempo", [30 + i % 270]), server.address)
        _until(lambda: server.datagrams == 1000, "the burst")
        s.close()
        got = server.poll()
        assert server.received == 1000 and server.coalesced == 999 and server.dropped == 0
    assert got == [ControlChange("tempo", float(30 + 999 % 270))]


def test_coalescing_keeps_the_order_of_first_arrival_and_poll_takes_at_most_max_items():
    with OscServer(port=0) as server:
        s = _sender()
        for address, value in (("/livegen/low", 60), ("/livegen/high", 72), ("/livegen/tempo", 100.0),
                               ("/livegen/low", 62), ("/livegen/key", "E")):
            s.sendto(build_message(address, [value]), server.address)
        _until(lambda: server.datagrams == 5, "5 datagrams")
        s.close()
        assert server.pending() == 4
        first = server.poll(2)
        rest = server.poll(10)
        assert server.poll() == []
    assert first == [ControlChange("low", 62), ControlChange("high", 72)]
    assert rest == [ControlChange("tempo", 100.0), ControlChange("key", "E")]


def test_overlong_strings_are_refused_before_the_table_reads_them(caplog):
    with OscServer(port=0) as server:
        s = _sender()
        s.sendto(build_message("/livegen/lyrics/prime", ["la " * 20_000]), server.address)
        s.sendto(build_message("/livegen/lyrics/prime", ["the water is wide"]), server.address)
        _until(lambda: server.datagrams == 2, "2 datagrams")
        s.close()
        assert server.poll() == [ControlChange("lyrics_prime", "the water is wide")]
        assert server.refused == 1 and server.drain_refused() == {"lyrics_prime"}
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "60000 characters" in line and len(line) < 300


def test_urgent_controls_reach_on_urgent_on_the_receiver_thread_at_once():
    calls: list[tuple[ControlChange, str]] = []

    def on_urgent(change: ControlChange) -> None:
        calls.append((change, threading.current_thread().name))

    with OscServer(port=0, on_urgent=on_urgent) as server:
        s = _sender()
        s.sendto(build_message("/livegen/tempo", [90]), server.address)
        s.sendto(build_message("/livegen/panic", []), server.address)
        s.sendto(build_message("/livegen/panic", [0]), server.address)  # a button's release: nothing
        s.sendto(build_message("/livegen/mute", [1]), server.address)
        s.sendto(_bundle(build_message("/livegen/reset", [1.0]), build_message("/livegen/mute/norm", [0.0])),
                 server.address)
        _until(lambda: server.datagrams == 5, "5 datagrams")
        s.close()
        assert server.poll() == [ControlChange("tempo", 90.0)]
        assert server.urgent == 4
    assert [c for c, _ in calls] == [ControlChange("panic", True), ControlChange("mute", True),
                                     ControlChange("reset", True), ControlChange("mute", False)]
    assert {name for _, name in calls} == {f"osc-receiver-{server.address[1]}"}


def test_urgent_controls_jump_the_queue_without_on_urgent():
    with OscServer(port=0) as server:
        s = _sender()
        for address, args in (("/livegen/tempo", [90]), ("/livegen/density", [1.0]), ("/livegen/panic", []),
                              ("/livegen/mute", [True])):
            s.sendto(build_message(address, args), server.address)
        _until(lambda: server.datagrams == 4, "4 datagrams")
        s.close()
        assert server.poll() == [ControlChange("panic", True), ControlChange("mute", True),
                                 ControlChange("tempo", 90.0), ControlChange("density", 1.0)]


def test_a_flood_of_valid_panics_is_rate_limited_never_lost():
    calls: list[ControlChange] = []
    with OscServer(port=0, on_urgent=calls.append) as server:
        s = _sender()
        for _ in range(500):
            s.sendto(build_message("/livegen/panic", []), server.address)
        s.sendto(build_message("/livegen/mute", [1]), server.address)
        s.sendto(build_message("/livegen/mute", [0]), server.address)
        _until(lambda: server.datagrams == 502, "the flood")
        s.close()
        waiting = server.poll()
        # at most a burst plus what the rate refilled while the flood was read
        assert URGENT_BURST <= len(calls) < 502
        assert server.urgent == len(calls)
        assert len(calls) + len(waiting) + server.coalesced == 502
    # the last mute wins wherever it went; nothing urgent is dropped
    last_mute = [c for c in calls + waiting if c.name == "mute"]
    if waiting and waiting[-1].name == "mute":
        assert waiting[-1].value is False
    else:
        assert last_mute[-1].value is False
    assert all(c.name in ("panic", "mute") for c in waiting) and len(waiting) <= 2


def test_an_on_urgent_that_raises_leaves_the_change_waiting(caplog):
    def broken(change: ControlChange) -> None:
        raise RuntimeError("session not ready")

    with OscServer(port=0, on_urgent=broken) as server:
        s = _sender()
        s.sendto(build_message("/livegen/panic", []), server.address)
        _until(lambda: server.pending() == 1, "the panic to wait")
        s.close()
        assert server.poll() == [ControlChange("panic", True)]
        assert server.urgent == 0
    assert any("session not ready" in r.getMessage() for r in caplog.records)


def test_get_and_wait_wake_the_loop_and_closing_ends_them():
    async def scenario() -> tuple[list[ControlChange], bool]:
        async with OscServer(port=0) as server:
            s = _sender()

            async def later() -> None:
                await asyncio.sleep(0.05)
                s.sendto(build_message("/livegen/tempo", [77]), server.address)
                s.sendto(build_message("/livegen/key", ["A"]), server.address)

            task = asyncio.ensure_future(later())
            first = await asyncio.wait_for(server.get(), TIMEOUT)
            await task
            await asyncio.wait_for(server.wait(), TIMEOUT)
            got = [first, *server.poll()]
            while len(got) < 2:  # the key may still be on its way
                got.append(await asyncio.wait_for(server.get(), TIMEOUT))
            waiter = asyncio.ensure_future(server.get())
            await asyncio.sleep(0.01)
            server.close()
            with pytest.raises(RuntimeError, match="closed"):
                await asyncio.wait_for(waiter, TIMEOUT)
            s.close()
            return got, server._thread is not None and server._thread.is_alive()

    got, alive = asyncio.run(scenario())
    assert got == [ControlChange("tempo", 77.0), ControlChange("key", "A")]
    assert not alive


@pytest.mark.realtime
def test_a_flood_of_valid_changes_reaches_the_loop_in_few_batches():
    values = [round(30 + i * 0.09, 2) for i in range(3000)]  # all different

    async def scenario() -> tuple[int, int, float, int]:
        async with OscServer(port=0) as server:
            s = _sender()

            def flood() -> None:
                for i, v in enumerate(values):
                    s.sendto(build_message("/livegen/tempo", [v]), server.address)
                    if i % 100 == 99:
                        time.sleep(0.002)

            batches = taken = 0
            last = ControlChange("tempo", 0.0)
            sender = asyncio.ensure_future(asyncio.to_thread(flood))
            t0 = time.monotonic()
            while last.value != pytest.approx(values[-1]):
                batch = [await asyncio.wait_for(server.get(), TIMEOUT), *server.poll(255)]
                batches += 1
                taken += len(batch)
                last = batch[-1]
            elapsed = time.monotonic() - t0
            await sender
            s.close()
            return batches, taken, elapsed, server.coalesced

    batches, taken, elapsed, coalesced = asyncio.run(scenario())
    assert batches <= elapsed / BATCH_GAP_S + 2  # one batch per gap at most, however fast they came
    assert taken + coalesced == 3000 and batches < 3000


def test_close_stops_the_receiver_thread_quickly():
    server = OscServer(port=0).open()
    thread = server._thread
    assert thread is not None and thread.is_alive()
    t0 = time.monotonic()
    server.close()
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    server.close()  # idempotent


def test_port_in_use_is_a_clear_error():
    with OscServer(port=0) as first, pytest.raises(LivegenError, match="--osc-port"):
        OscServer(port=first.address[1]).open()


@pytest.mark.parametrize("allow", [["nonsense"], ["192.168.1.300"], [], ["example.com"]])
def test_bad_allow_entries_are_one_line_errors(allow):
    with pytest.raises(LivegenError, match="allow"):
        OscServer(port=0, allow=allow)


def test_a_full_store_drops_the_new_control_but_never_an_urgent_one():
    with OscServer(port=0, queue_size=2) as server:
        s = _sender()
        for address, value in (("/livegen/tempo", 90), ("/livegen/key", "E"), ("/livegen/scale", "minor"),
                               ("/livegen/tempo", 91), ("/livegen/panic", 1), ("/livegen/mute", 1)):
            s.sendto(build_message(address, [value]), server.address)
        _until(lambda: server.datagrams == 6, "6 datagrams")
        s.close()
        assert server.dropped == 1 and server.coalesced == 1
        assert server.poll() == [ControlChange("panic", True), ControlChange("mute", True),
                                 ControlChange("tempo", 91.0), ControlChange("key", "E")]


# ---- the decoder --------------------------------------------------------------------------------


def _random_message(rng: random.Random) -> bytes:
    b = OscMessageBuilder(rng.choice(["/livegen/tempo", "/a", "/livegen/lyrics/prime", "/x/" + "y" * rng.randrange(90)]))
    for _ in range(rng.randrange(MAX_ARGS + 1)):
        kind = rng.randrange(7)
        if kind == 0:
            b.add_arg(rng.randrange(-2**31, 2**31), "i")
        elif kind == 1:
            b.add_arg(rng.choice([0.5, -1e30, math.inf, -math.inf, 3.25]), "f")
        elif kind == 2:
            b.add_arg(rng.choice([1e300, -0.0, math.pi]), "d")
        elif kind == 3:
            b.add_arg("".join(rng.choice("abcé ü") for _ in range(rng.randrange(12))), "s")
        elif kind == 4:
            b.add_arg(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))), "b")
        elif kind == 5:
            b.add_arg(rng.choice([True, False]))
        else:
            b.add_arg(rng.randrange(-2**63, 2**63), "h")
    return b.build().dgram


def test_the_decoder_agrees_with_python_osc():
    rng = random.Random(1)
    for _ in range(3000):
        dgram = _random_message(rng)
        packet = decode_packet(dgram)
        reference = PyOscMessage(dgram)
        assert packet.garbage == 0 and len(packet.messages) == 1
        (msg,) = packet.messages
        assert msg.address == reference.address and msg.problem == ""
        assert list(msg.args) == reference.params


@pytest.mark.parametrize(("dgram", "error"), [
    (b"", "not an OSC message"),
    (b"/livegen/tempo", "unterminated"),
    (b"/livegen/tempo\x00\x00,f\x00\x00\x00\x00", "truncated"),  # padding cut short
    (b"/livegen/tempo\x00\x00,f\x00\x00", "truncated argument"),
    (b"/livegen/tempo\x00\x00f\x00\x00\x00", "','"),
    (b"/li\xffe\x00\x00\x00", "UTF-8"),
    (b"/a\x00\x00,b\x00\x00\x7f\xff\xff\xff", "blob"),
    (b"#bundle\x00\x00", "bundle header"),
    (_bundle(b"/a\x00\x00")[:-2], "beyond"),
])
def test_undecodable_datagrams_are_garbage(dgram, error):
    packet = decode_packet(dgram)
    assert packet.garbage == 1 and packet.messages == [] and error in packet.error


def test_messages_the_decoder_reads_but_the_table_must_refuse():
    assert decode_packet(build_message("/livegen/panic", [])).messages[0].args == ()
    too_many = OscMessageBuilder("/livegen/tempo")
    for i in range(MAX_ARGS + 1):
        too_many.add_arg(i)
    (msg,) = decode_packet(too_many.build().dgram).messages
    assert msg.address == "/livegen/tempo" and "arguments" in msg.problem
    (msg,) = decode_packet(b"/livegen/tempo\x00\x00,[f]\x00\x00\x00\x00\x00\x00\x00").messages
    assert "arrays" in msg.problem
    (msg,) = decode_packet(b"/livegen/panic\x00\x00,I\x00\x00").messages
    assert msg.args == () and msg.problem == ""  # an impulse is no argument, like python-osc


def test_bundle_caps_bound_the_work():
    bad = build_message("/livegen/tempo", [5000])
    big = _bundle(*[bad] * 2300)
    assert len(big) < 65507
    packet = decode_packet(big, max_elements=64)
    assert len(packet.messages) == 64 and packet.capped == 1 and packet.garbage == 0
    deep = build_message("/livegen/tempo", [99])
    for _ in range(2500):
        deep = _bundle(deep)
    t0 = time.perf_counter()
    packet = decode_packet(deep, max_depth=4)
    assert time.perf_counter() - t0 < 0.05  # four levels read, not 2500 (generous: noisy machines)
    assert packet.messages == [] and packet.capped == 1
    shallow = _bundle(build_message("/livegen/tempo", [99]), _bundle(build_message("/livegen/key", ["E"])))
    packet = decode_packet(shallow, max_depth=2)
    assert [m.address for m in packet.messages] == ["/livegen/tempo", "/livegen/key"] and packet.capped == 0
    # a bad element inside a bundle is garbage; its neighbours are still read
    packet = decode_packet(_bundle(b"\x00\x00\x00\x00", build_message("/livegen/tempo", [99])))
    assert packet.garbage == 1 and [m.args for m in packet.messages] == [(99,)]


# ---- the rate-limited log -----------------------------------------------------------------------


def test_ratelog_writes_one_line_per_interval_per_kind_with_the_count(caplog):
    now = [100.0]
    rl = RateLimitedLog(logging.getLogger("livegen.test.ratelog"), interval=1.0, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="livegen.test.ratelog")
    for i in range(500):
        rl.warning("garbage", "bad datagram %d: %s", i, "x" * 60000)
        rl.warning("refused", "refused %s", quoted("y" * 60000))
    assert len(caplog.records) == 2
    now[0] += 1.5
    rl.warning("garbage", "bad datagram %d", 500)
    assert len(caplog.records) == 3 and "(+499 more in 1.5 s)" in caplog.records[-1].getMessage()
    assert rl.flush() == 1  # the refused kind went quiet: its last line is written once
    assert "(+498 more" in caplog.records[-1].getMessage()
    assert rl.flush() == 0
    assert max(len(r.getMessage()) for r in caplog.records) < 300
    assert rl.written == 4 and rl.held == 998


def test_shortening():
    assert shorten("abc") == "abc"
    assert shorten("a" * 100, 10) == "aaaaaaaaaa...(+90 chars)"
    assert quoted("a" * 100_000).startswith("'aaaa") and len(quoted("a" * 100_000)) < 100
    assert len(quoted(b"\x00" * 10_000)) < 100
    assert len(quoted(tuple(range(10_000)))) <= 80
    assert quoted((1.5,)) == "(1.5,)"


# ---- the feedback client ------------------------------------------------------------------------


def test_feedback_client_sends_values_and_lyrics():
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5.0)
    fb = OscFeedback(f"127.0.0.1:{sink.getsockname()[1]}")
    state = ControlState.default().apply("tempo", 90).apply("key", "A")
    fb.send_state(state, ["tempo", "key"])
    fb.send_lyrics_line("o my luve is like a red, red rose")
    fb.send_status("listening")
    fb.send_beat(4)
    received = []
    for _ in range(7):
        msg = PyOscMessage(sink.recvfrom(65536)[0])
        received.append((msg.address, msg.params))
    fb.close()
    sink.close()
    assert received == [
        ("/livegen/tempo", [90.0]), ("/livegen/tempo/norm", [pytest.approx(CONTROLS["tempo"].to_normalized(90.0))]),
        ("/livegen/key", ["A"]), ("/livegen/key/norm", [pytest.approx(9 / 11)]),
        ("/livegen/lyrics/line", ["o my luve is like a red, red rose"]),
        ("/livegen/status", ["listening"]), ("/livegen/beat", [4]),
    ]
    assert fb.sent == 7 and fb.errors == 0


def test_feedback_never_raises_when_nobody_listens():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: Linux reports ECONNREFUSED on a later send
    fb = OscFeedback(("127.0.0.1", port))
    for i in range(20):
        fb.send("/livegen/beat", i)
    assert fb.sent + fb.errors == 20
    fb.close()
    assert fb.send("/livegen/beat", 1) is False  # closed socket: dropped, not raised


@pytest.mark.parametrize(("text", "expected"), [
    ("192.168.1.20:9001", ("192.168.1.20", 9001)),
    ("localhost:9000", ("localhost", 9000)),
    (":9001", ("127.0.0.1", 9001)),
    ("9001", ("127.0.0.1", 9001)),
    ("[::1]:9001", ("::1", 9001)),
])
def test_parse_host_port(text, expected):
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:port", "host:0", "host:70000", "::1:9000", "[::1]9000",
                                  "a b:9000"])
def test_parse_host_port_rejects(text):
    with pytest.raises(LivegenError, match="HOST:PORT"):
        parse_host_port(text)


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools (oscsend) not installed")
def test_liblo_oscsend_is_understood():
    urgent: list[ControlChange] = []
    with OscServer(port=0, on_urgent=urgent.append) as server:
        port = str(server.address[1])
        commands = [["/livegen/tempo", "f", "96.5"], ["/livegen/polyphony", "i", "3"],
                    ["/livegen/scale", "s", "dorian"], ["/livegen/mute", "T"], ["/livegen/reset"],
                    ["/livegen/lyrics/prime", "s", "the water is wide"]]
        for args in commands:
            subprocess.run(["oscsend", "127.0.0.1", port, *args], check=True)
        _until(lambda: server.datagrams == len(commands), "oscsend's messages")
        got = server.poll()
    assert got == [ControlChange("tempo", 96.5), ControlChange("polyphony", 3), ControlChange("scale", "dorian"),
                   ControlChange("lyrics_prime", "the water is wide")]
    assert urgent == [ControlChange("mute", True), ControlChange("reset", True)]
