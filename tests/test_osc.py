"""OSC over real UDP sockets on 127.0.0.1: the queueing server, garbage, the feedback client,
and liblo's ``oscsend`` as an independent peer."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage as PyOscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from livegen.controls.table import ControlError, ControlState, parse_osc
from livegen.errors import LivegenError
from livegen.io.osc import OscFeedback, OscServer, build_message, parse_host_port


def _sender() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


async def _drain(server: OscServer, count: int, timeout: float = 10.0) -> list:
    """Wait until ``count`` messages are queued and return them (fails after ``timeout``)."""
    return [await asyncio.wait_for(server.queue.get(), timeout) for _ in range(count)]


def test_values_arrive_and_garbage_is_survived():
    async def scenario():
        async with OscServer(port=0) as server:
            host, port = server.address
            assert host == "127.0.0.1" and port > 0
            s = _sender()
            s.sendto(build_message("/livegen/tempo", [96]), (host, port))
            s.sendto(b"\x00garbage that is not OSC", (host, port))
            s.sendto(b"", (host, port))
            s.sendto(b"/livegen/tempo\x00\x00,s\x00\x00abc", (host, port))  # unterminated string
            s.sendto(build_message("/livegen/temperature/norm", [0.5]), (host, port))
            bundle = OscBundleBuilder(IMMEDIATELY)
            for addr, arg in (("/livegen/key", "Eb"), ("/livegen/mute", True)):
                b = OscMessageBuilder(addr)
                b.add_arg(arg)
                bundle.add_content(b.build())
            s.sendto(bundle.build().dgram, (host, port))
            s.sendto(build_message("/livegen/tempo", [5000]), (host, port))  # bad value: queued, rejected later
            got = await _drain(server, 5)
            s.close()
            return got, server.garbage, server.received

    got, garbage, received = asyncio.run(scenario())
    assert [m.address for m in got] == ["/livegen/tempo", "/livegen/temperature/norm", "/livegen/key",
                                        "/livegen/mute", "/livegen/tempo"]
    assert got[0].args == (96,) and got[0].source[0] == "127.0.0.1"
    assert garbage == 3 and received == 5
    assert all(a.time <= b.time for a, b in zip(got, got[1:], strict=False))
    changes = [parse_osc(m.address, m.args) for m in got[:4]]
    assert [(c.name, c.value) for c in changes] == [("tempo", 96.0), ("temperature", 1.025),
                                                     ("key", "D#"), ("mute", True)]
    with pytest.raises(ControlError, match="outside"):
        parse_osc(got[4].address, got[4].args)


def test_a_burst_of_1000_messages_is_not_lost():
    async def scenario():
        async with OscServer(port=0) as server:
            s = _sender()
            for i in range(1000):
                s.sendto(build_message("/livegen/tempo", [30 + i % 270]), server.address)
            got = await _drain(server, 1000)
            s.close()
            return [m.args[0] for m in got], server.dropped

    values, dropped = asyncio.run(scenario())
    assert values == [30 + i % 270 for i in range(1000)] and dropped == 0


def test_full_queue_drops_the_oldest():
    async def scenario():
        async with OscServer(port=0, queue_size=3) as server:
            s = _sender()
            for i in range(5):
                s.sendto(build_message("/livegen/polyphony", [i]), server.address)
            while server.received < 5:
                await asyncio.sleep(0.01)
            s.close()
            return [server.queue.get_nowait().args[0] for _ in range(3)], server.dropped

    assert asyncio.run(scenario()) == ([2, 3, 4], 2)


def test_port_in_use_is_a_clear_error():
    async def scenario():
        async with OscServer(port=0) as first:
            with pytest.raises(LivegenError, match="--osc-port"):
                await OscServer(port=first.address[1]).start()

    asyncio.run(scenario())


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
        ("/livegen/tempo", [90.0]), ("/livegen/tempo/norm", [pytest.approx(60 / 270)]),
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
    async def scenario():
        async with OscServer(port=0) as server:
            port = str(server.address[1])
            commands = [["/livegen/tempo", "f", "96.5"], ["/livegen/polyphony", "i", "3"],
                        ["/livegen/scale", "s", "dorian"], ["/livegen/mute", "T"], ["/livegen/reset"],
                        ["/livegen/lyrics/prime", "s", "the water is wide"]]
            for args in commands:
                await asyncio.to_thread(subprocess.run, ["oscsend", "127.0.0.1", port, *args], check=True)
            return await _drain(server, len(commands))

    got = asyncio.run(scenario())
    changes = [parse_osc(m.address, m.args) for m in got]
    assert [(c.name, c.value) for c in changes] == [
        ("tempo", 96.5), ("polyphony", 3), ("scale", "dorian"), ("mute", True), ("reset", True),
        ("lyrics_prime", "the water is wide")]
