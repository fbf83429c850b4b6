"""A live session steered over a real OSC socket, with feedback to a socket the test reads.

:class:`livegen.session.live.LiveSession` runs exactly as under ``livegen play`` -- the real
``LiveClock``, the threaded scheduler, the OSC server on a real UDP port and the feedback
client -- with in-memory MIDI ports so what livegen plays can be inspected directly. The
voice is a script (no model), the tempo slow (250 ms steps), so a busy machine cannot make
a step late.
"""

from __future__ import annotations

import asyncio
import math
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import mido
import pytest
from engine_helpers import ScriptVoice, balanced
from pythonosc.osc_message import OscMessage

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import LiveClock
from livegen.engine.recorder import Take
from livegen.engine.scheduler import ThreadScheduler
from livegen.io.memory import MemoryInput, MemoryOutput
from livegen.io.osc import OscFeedback, OscServer, build_message
from livegen.session.live import LiveSession, SessionOptions

pytestmark = pytest.mark.realtime  # the live clock, a sender thread and real sockets

BPM = 120.0
PERIOD = 60.0 / BPM / 2  # steps_per_beat 2: 250 ms
TIMEOUT = 10.0


class Feedback:
    """The controller's side: a UDP socket that collects livegen's feedback."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.got: list[tuple[str, tuple]] = []

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            msg = OscMessage(data)
            self.got.append((msg.address, tuple(msg.params)))

    def clear(self) -> None:
        """Forget what arrived so far (so a wait sees only what comes next)."""
        self.drain()
        self.got.clear()

    def values(self, address: str) -> list[tuple]:
        self.drain()
        return [args for a, args in self.got if a == address]

    async def wait_for(self, address: str, check: Callable[[tuple], bool] = lambda args: True) -> tuple:
        end = time.monotonic() + TIMEOUT
        while True:
            hits = [args for args in self.values(address) if check(args)]
            if hits:
                return hits[-1]
            assert time.monotonic() < end, f"no matching {address} feedback; last: {self.got[-8:]}"
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self.sock.close()


class Live:
    """A running session plus a sender socket aimed at its OSC port."""

    def __init__(self, session: LiveSession, task: asyncio.Task, out: MemoryOutput, midi_in: MemoryInput,
                 feedback: Feedback, osc: OscServer) -> None:
        self.session = session
        self.osc = osc
        self.task = task
        self.out = out
        self.midi_in = midi_in
        self.feedback = feedback
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.address = ("127.0.0.1", osc.address[1])

    @property
    def engine(self):
        return self.session.engine

    @property
    def state(self) -> ControlState:
        return self.session.controls.state

    @property
    def refused(self) -> int:
        """Control messages refused: bad values (by the source) and bad combinations."""
        return self.osc.refused + self.session.controls.refused

    def send(self, address: str, *args) -> None:
        self.sock.sendto(build_message(address, list(args)), self.address)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.address)

    async def steps(self, n: int) -> None:
        """Wait until ``n`` more steps have sounded."""
        target = self.engine.stats.steps + n
        end = time.monotonic() + TIMEOUT + n * PERIOD
        while self.engine.stats.steps < target:
            assert not self.task.done(), "the session ended"
            assert time.monotonic() < end, "the engine stopped stepping"
            await asyncio.sleep(0.01)

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + TIMEOUT
        while not condition():
            assert not self.task.done(), "the session ended"
            assert time.monotonic() < end, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)

    def note_ons(self) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, m in list(self.out.sent) if m.type == "note_on" and m.velocity > 0]

    async def stop(self) -> None:
        self.engine.request_stop()
        await asyncio.wait_for(self.task, TIMEOUT)
        self.sock.close()


def run_live(scenario: Callable[[Live], object], voice: ScriptVoice, mode: str = "solo",
             record: Path | None = None) -> Live:
    """Start a session on real parts (live clock, sender thread, OSC server on a free port,
    feedback socket) with memory MIDI ports; run ``await scenario(live)``; stop it cleanly."""
    feedback = Feedback()

    async def main() -> Live:
        out = MemoryOutput()
        midi_in = MemoryInput()
        controls = LiveControls(ControlState.default().apply_many({"tempo": BPM, "mode": mode}))
        clock = LiveClock()
        scheduler = ThreadScheduler(out, realtime=False)
        osc = await OscServer("127.0.0.1", 0).start()
        fb = OscFeedback(feedback.target)
        take = Take(clock.now(), BPM) if record else None
        session = LiveSession(voice, controls, clock=clock, scheduler=scheduler,
                              options=SessionOptions(steps_per_beat=2, start_delay=0.05), midi_in=midi_in,
                              control_source=osc, feedback=fb, take=take)
        task = asyncio.ensure_future(session.run())
        live = Live(session, task, out, midi_in, feedback, osc)
        try:
            await scenario(live)
        finally:
            if not task.done():
                await live.stop()
            scheduler.close()
            osc.close()
            fb.close()
        return live

    try:
        return asyncio.run(main())
    finally:
        feedback.close()


def test_temperature_and_norm_reach_the_sampler_and_come_back(tmp_path):
    voice = ScriptVoice()

    async def scenario(live: Live) -> None:
        # the whole state is announced at start
        assert await live.feedback.wait_for("/livegen/tempo") == (BPM,)
        live.feedback.clear()
        live.send("/livegen/temperature", 0.3)
        await live.feedback.wait_for("/livegen/temperature", lambda a: math.isclose(a[0], 0.3, abs_tol=1e-6))
        assert live.state.temperature == pytest.approx(0.3, abs=1e-6)
        await live.steps(2)
        assert voice.controls[-1].temperature == pytest.approx(0.3, abs=1e-6)
        live.feedback.clear()
        live.send("/livegen/temperature/norm", 0.5)
        expected = 0.0 + 0.5 * (2.0 - 0.0)
        await live.feedback.wait_for("/livegen/temperature/norm", lambda a: math.isclose(a[0], 0.5, abs_tol=1e-6))
        await live.feedback.wait_for("/livegen/temperature", lambda a: math.isclose(a[0], expected, abs_tol=1e-6))
        assert live.state.temperature == pytest.approx(expected, abs=1e-6)
        # repeat reaches the sampler's controls
        live.send("/livegen/repeat", 2.5)
        await live.feedback.wait_for("/livegen/repeat", lambda a: math.isclose(a[0], 2.5, abs_tol=1e-6))
        await live.steps(2)
        assert voice.controls[-1].repeat == pytest.approx(2.5)
        # tempo changes the grid from the next step on
        live.feedback.clear()
        live.send("/livegen/tempo", 180)
        await live.feedback.wait_for("/livegen/tempo", lambda a: a[0] == 180)
        assert live.state.tempo == 180
        await live.steps(4)
        if shutil.which("oscsend"):  # liblo as an independent OSC peer
            subprocess.run(["oscsend", "127.0.0.1", str(live.address[1]), "/livegen/density", "f", "1.5"],
                           check=True, timeout=10)
            await live.feedback.wait_for("/livegen/density", lambda a: math.isclose(a[0], 1.5))
            assert live.state.density == 1.5

    live = run_live(scenario, voice, record=tmp_path / "take.mid")
    assert live.refused == 0
    # the take holds deadlines: steps 250 ms apart at 120 BPM, then 1/6 s at 180
    onsets = sorted({round(t, 6) for t, m in live.session.take.parts["livegen"] if m.type == "note_on"})
    gaps = {round(b - a, 4) for a, b in zip(onsets, onsets[1:])}
    assert gaps == {0.25, round(1 / 6, 4)}


def test_garbage_bad_values_and_a_burst_do_not_stop_the_engine():
    voice = ScriptVoice()

    async def scenario(live: Live) -> None:
        await live.steps(1)
        rng = random.Random(0)
        garbage = [b"", b"\xff" * 13, b"hello world", b"\x00garbage", bytes(rng.randrange(256) for _ in range(200)),
                   b"/livegen/tempo\x00\x00,s\x00\x00abc"]  # unterminated string
        for data in garbage:
            live.send_raw(data)
        bad = [("/livegen/temperature", "hot"), ("/livegen/temperature", math.nan),
               ("/livegen/temperature", math.inf), ("/livegen/temperature", 5.0), ("/livegen/nope", 1),
               ("/livegen/temperature", 0.5, 0.6), ("/livegen/mode", "jazz"), ("/livegen/tempo/norm", -1.0)]
        for address, *args in bad:
            live.send(address, *args)
        steps_before = live.engine.stats.steps
        values = [round(0.05 + 1.9 * i / 999, 4) for i in range(1000)]

        def burst() -> None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for v in values:
                s.sendto(build_message("/livegen/temperature", [v]), live.address)
            s.close()

        live.feedback.clear()
        await asyncio.to_thread(burst)
        await live.until(lambda: live.osc.received >= 1000 + len(bad), "the burst to arrive")
        await live.feedback.wait_for("/livegen/temperature", lambda a: math.isclose(a[0], values[-1], abs_tol=1e-5))
        assert live.state.temperature == pytest.approx(values[-1], abs=1e-5)
        await live.steps(3)  # still stepping afterwards
        assert live.engine.stats.steps >= steps_before + 3
        assert live.osc.garbage == len(garbage)
        assert live.osc.dropped == 0
        assert live.refused == len(bad)
        # changes are echoed coalesced: the burst does not flood the controller
        assert len(live.feedback.values("/livegen/temperature")) < 100
        live.feedback.clear()
        live.send("/livegen/temperature", 0.7)  # and still listening
        await live.feedback.wait_for("/livegen/temperature", lambda a: math.isclose(a[0], 0.7, abs_tol=1e-6))

    live = run_live(scenario, voice)
    assert live.engine.stats.late_steps == 0
    assert live.state.temperature == pytest.approx(0.7, abs=1e-6)
    assert balanced(live.out.sent)


def test_panic_releases_every_note_at_once():
    voice = ScriptVoice([(60, 64, 67)])  # one chord held for ever

    def is_panic(m: mido.Message) -> bool:
        return m.type == "control_change" and m.control == 123

    async def scenario(live: Live) -> None:
        await live.until(lambda: len(live.note_ons()) == 3, "the chord")
        live.send("/livegen/panic", 0)  # a button's release: nothing happens
        await live.steps(2)
        assert not [m for _, m in live.out.sent if is_panic(m)]
        assert len(live.note_ons()) == 3  # the chord is held, not re-struck
        live.send("/livegen/panic")
        await live.until(lambda: any(is_panic(m) for _, m in live.out.sent), "All Notes Off")
        sent = [m for _, m in live.out.sent]
        k = next(i for i, m in enumerate(sent) if is_panic(m))
        assert sorted(m.note for m in sent[:k] if m.type == "note_off") == [60, 64, 67]
        assert sent[k].channel == 0
        await live.until(lambda: len(live.note_ons()) == 6, "the voice to play on after the panic")

    live = run_live(scenario, voice)
    assert balanced(live.out.sent)
    assert live.refused == 0


def test_mode_switches_over_osc_and_midi_cc():
    voice = ScriptVoice([72])

    async def scenario(live: Live) -> None:
        await live.steps(3)
        assert live.note_ons() == []  # call mode: nothing heard, nothing to answer
        live.feedback.clear()
        live.send("/livegen/mode", "solo")
        await live.feedback.wait_for("/livegen/mode", lambda a: a == ("solo",))
        await live.feedback.wait_for("/livegen/mode/norm", lambda a: a == (1.0,))
        assert live.state.mode == "solo"
        await live.until(lambda: live.note_ons() != [], "solo notes")
        live.feedback.clear()
        live.send("/livegen/mode/norm", 0.5)
        await live.feedback.wait_for("/livegen/mode", lambda a: a == ("accompany",))
        assert live.state.mode == "accompany"
        # the same control table answers MIDI CC 29 (mode) on livegen's input
        live.feedback.clear()
        live.midi_in.feed(mido.Message("control_change", control=29, value=0), time.monotonic())
        await live.feedback.wait_for("/livegen/mode", lambda a: a == ("call",))
        assert live.state.mode == "call"
        # the engine applies a mode at its next step and releases livegen's notes then
        await live.steps(2)

    live = run_live(scenario, voice, mode="call")
    assert balanced(live.out.sent)


class SlowOutput(MemoryOutput):
    """A memory port whose first send blocks until :attr:`gate` is set (a stuck driver)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.blocked = threading.Event()

    def send(self, msg: mido.Message) -> None:
        super().send(msg)
        if not self.gate.is_set():
            self.blocked.set()
            self.gate.wait(5.0)


def test_a_queued_note_off_survives_a_stop_right_after_a_mode_switch():
    async def main() -> MemoryOutput:
        out = SlowOutput()
        controls = LiveControls(ControlState.default().apply_many({"tempo": BPM, "mode": "solo"}))
        scheduler = ThreadScheduler(out, realtime=False)
        session = LiveSession(ScriptVoice([72]), controls, clock=LiveClock(), scheduler=scheduler,
                              options=SessionOptions(steps_per_beat=2, start_delay=0.05))
        task = asyncio.ensure_future(session.run())
        while not out.blocked.is_set():  # the note-on went out and the sending thread is stuck in it
            assert not task.done()
            await asyncio.sleep(0.005)
        controls.set("mode", "call")
        while session.engine.stats.notes_off == 0:  # the switch queued the note-off behind the stuck send
            assert not task.done()
            await asyncio.sleep(0.005)
        threading.Timer(0.5, out.gate.set).start()
        session.engine.request_stop()
        await asyncio.wait_for(task, TIMEOUT)
        scheduler.close()
        return out

    out = asyncio.run(main())
    assert [m.type for _, m in out.sent] == ["note_on", "note_off"]


def test_a_refused_combination_is_logged_and_the_value_in_force_is_sent_back(caplog):
    """``/livegen/high 60`` then ``/livegen/low 100``: the state refuses low = 100 (above
    high) with a log line, nothing changes, and the controller is told low is still 21."""
    voice = ScriptVoice()

    async def scenario(live: Live) -> None:
        await live.feedback.wait_for("/livegen/low")  # the whole state at start
        live.send("/livegen/high", 60)
        await live.feedback.wait_for("/livegen/high", lambda a: a == (60,))
        live.feedback.clear()
        live.send("/livegen/low", 100)
        await live.feedback.wait_for("/livegen/low", lambda a: a == (21,))
        assert live.state.low == 21 and live.state.high == 60
        await live.steps(2)
        assert voice.controls[-1].low == 21 and voice.controls[-1].high == 60
        # a value the table itself refuses comes back the same way
        live.feedback.clear()
        live.send("/livegen/polyphony", 2.5)
        await live.feedback.wait_for("/livegen/polyphony", lambda a: a == (0,))

    with caplog.at_level("WARNING"):
        run_live(scenario, voice)
    refusals = [r.getMessage() for r in caplog.records if "low" in r.getMessage() and "refused" in r.getMessage()]
    assert len(refusals) == 1 and "100" in refusals[0] and "above high pitch 60" in refusals[0]
