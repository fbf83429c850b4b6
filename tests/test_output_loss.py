"""An output device that leaves and comes back, without JACK: the reconnecting output's
worker logic on injected devices, and the engine's note tracking on a manual clock.

What must hold: the engine never waits on a device (no port is closed by ``send``); notes
sounding on a lost output count as released and the device that returns gets no note-off
for a note it never got, and no note is left hanging on it; a dead JACK server's ports are
never closed (that blocks); the status says what happened. The same over real JACK is in
``test_output_loss_jack.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time

import mido
import numpy as np
from engine_helpers import balanced, make_engine

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import ManualClock
from livegen.engine.scheduler import ManualScheduler
from livegen.io import ports
from livegen.io.memory import MemoryDevices, MemoryOutput
from livegen.io.ports import ReconnectingOutput
from livegen.session.live import LiveSession, SessionOptions, output_status
from livegen.voices.script import ScriptVoice

NOTE = mido.Message("note_on", note=60, velocity=90)


class Events:
    """Records ``listener(connected, name, reason)`` calls."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, str, str]] = []

    def __call__(self, connected: bool, name: str, reason: str) -> None:
        self.seen.append((connected, name, reason))


def test_a_device_that_leaves_and_returns_is_reported_and_reopened():
    dev = MemoryDevices(["Synth"])
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister)
    events = Events()
    out.set_listener(events)
    assert events.seen == []  # connected: nothing to tell
    dev.unplug("Synth")
    assert out.check() is False
    assert events.seen == [(False, "Synth", "device gone")]
    assert dev.opened[0].closed  # closed on the checking (worker) thread, the device being gone
    out.send(NOTE)
    assert out.dropped == 1 and dev.opened[0].lost == []  # dropped before it reached the port
    dev.plug("Synth")
    assert out.check() is True
    assert events.seen[-1] == (True, "Synth", "reconnected")
    out.close()


def test_a_missing_device_is_told_to_a_new_listener_at_once():
    dev = MemoryDevices([])
    out = ReconnectingOutput("synth", background=False, require=False, opener=dev.opener, lister=dev.lister)
    events = Events()
    out.set_listener(events)
    assert events.seen == [(False, "synth", "not connected")]
    dev.plug("Synth")
    out.check()
    assert events.seen[-1] == (True, "Synth", "connected")  # the listener was told it was missing
    out.close()


def test_a_failing_send_never_closes_the_port_on_the_sending_thread():
    dev = MemoryDevices(["Synth"])
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister)
    events = Events()
    out.set_listener(events)
    port = dev.opened[0]
    closes: list[str] = []
    port.close = lambda: closes.append("closed")  # type: ignore[method-assign]
    port.closed = True  # the next send raises inside the port
    out.send(NOTE)
    assert not out.connected and out.dropped == 1
    assert closes == [] and events.seen == []  # the sender only marks it; the worker does the rest
    out.check()
    assert closes == ["closed"]
    assert events.seen[0][0] is False and events.seen[0][2].startswith("send failed")
    assert events.seen[1] == (True, "Synth", "reconnected")
    out.close()


def test_a_dead_servers_ports_are_never_closed_and_a_new_one_is_opened_when_it_returns(caplog):
    dev = MemoryDevices(["Synth"])
    up = [True]
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister,
                             alive=lambda: up[0], settle=0.05)
    events = Events()
    out.set_listener(events)
    first = dev.opened[0]
    up[0] = False  # the server dies; its listing still shows the device (shared memory)
    with caplog.at_level(logging.WARNING, logger="livegen.io.ports"):
        assert out.check() is False
        assert out.check() is False
    gone = [r.getMessage() for r in caplog.records if "JACK server" in r.getMessage()]
    assert len(gone) == 1 and "gone" in gone[0]  # one clear line, not one per look
    assert events.seen == [(False, "Synth", "JACK server gone")]
    out.send(NOTE)  # nothing reaches a dead server's port (its buffer would fill and block)
    assert first.sent == [] and out.dropped == 1
    up[0] = True
    assert out.check() is False  # a server that just came back is left to settle first
    time.sleep(0.06)
    assert out.check() is True and len(dev.opened) == 2
    assert events.seen[-1] == (True, "Synth", "reconnected")
    up[0] = False
    out.close()
    assert not first.closed and not dev.opened[1].closed  # closing on a dead server blocks: never


def test_open_failures_are_logged_once_per_reason(caplog):
    dev = MemoryDevices(["Synth"])
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister)
    dev.unplug("Synth")
    out.check()

    def refuse(name: str) -> MemoryOutput:
        raise OSError("busy")

    out._opener = refuse
    dev.plug("Synth")
    with caplog.at_level(logging.WARNING, logger="livegen.io.ports"):
        for _ in range(20):
            out.check()
    assert sum("cannot open" in r.getMessage() for r in caplog.records) == 1
    out.close()


# -- the engine: notes on a lost output count as released ------------------------------------

class Feedback:
    def __init__(self) -> None:
        self.statuses: list[str] = []

    def send(self, address: str, *args: object) -> bool:
        if address.endswith("/status"):
            self.statuses.append(str(args[0]))
        return True

    def send_state(self, state: ControlState, names: object = None) -> None:
        pass

    def send_status(self, status: str) -> bool:
        self.statuses.append(status)
        return True


def _session(dev: MemoryDevices, clock: ManualClock, **kw: object) -> tuple[LiveSession, ReconnectingOutput, Feedback]:
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister)
    controls = LiveControls(ControlState.default().apply_many({"tempo": 120.0, "mode": "solo",
                                                               "max_note_beats": 4.0}))
    feedback = Feedback()
    session = LiveSession(ScriptVoice([(60, 64), (60, 64), (67,), (67,)]), controls, clock=clock,
                          scheduler=ManualScheduler(out, clock), feedback=feedback, watched_output=out,
                          options=SessionOptions(steps_per_beat=2, start_delay=0.5, **kw))  # type: ignore[arg-type]
    return session, out, feedback


def _heard_offs_without_ons(sent: list[tuple[float, mido.Message]]) -> list[int]:
    """Note-offs a device got for a note it never got a note-on for."""
    on: set[int] = set()
    bad = []
    for _, m in sent:
        if m.type == "note_on" and m.velocity > 0:
            on.add(m.note)
        elif m.type in ("note_on", "note_off"):
            if m.note not in on:
                bad.append(m.note)
            on.discard(m.note)
    return bad


def test_notes_on_a_lost_output_count_as_released_and_the_returned_device_starts_clean():
    clock = ManualClock(0.0)
    dev = MemoryDevices(["Synth"], clock=clock.now)
    session, out, feedback = _session(dev, clock, bars=3)
    engine = session.engine
    seen: dict[str, object] = {}

    async def scenario() -> None:
        task = asyncio.ensure_future(session.run())
        while engine.stats.steps < 3:
            await asyncio.sleep(0)
        assert engine.tracker.sounding.any()
        dev.unplug("Synth")
        out.check()  # the worker's look: lost
        for _ in range(3):
            await asyncio.sleep(0)  # the loop takes the event
        seen["sounding_after_loss"] = int(engine.tracker.sounding.sum())
        seen["status_after_loss"] = engine.status()["status"]
        while engine.stats.steps < 10:
            await asyncio.sleep(0)
        seen["sounding_while_lost"] = int(engine.tracker.sounding.sum())
        dev.plug("Synth")
        out.check()  # back: All Notes Off first, then the engine strikes afresh
        for _ in range(3):
            await asyncio.sleep(0)
        seen["status_after_return"] = engine.status()["status"]
        await task

    asyncio.run(scenario())
    first, second = dev.opened
    assert seen["sounding_after_loss"] == 0 and seen["sounding_while_lost"] == 0
    assert seen["status_after_loss"] == "output lost: Synth (device gone)"
    assert seen["status_after_return"] == "playing"
    assert "output lost: Synth (device gone)" in feedback.statuses
    assert "output back: Synth" in feedback.statuses
    assert first.sent and first.lost == []  # nothing was sent to the port once the loss was seen
    # the returned device: All Notes Off on every channel first, then notes, each note-off
    # after its note-on, and nothing left hanging when the performance ends
    got = second.sent
    assert [(m.channel, m.control) for _, m in got[:16]] == [(c, 123) for c in range(16)]
    notes = [(t, m) for t, m in got[16:] if m.type in ("note_on", "note_off")]
    assert notes and _heard_offs_without_ons(notes) == []
    assert balanced(notes)
    assert out.dropped > 0  # what the engine sent between the loss and its report
    assert engine.stats.late_steps == 0 and engine.stats.steps == 24
    out.close()


def test_a_loss_between_a_frame_and_its_deadline_drops_that_frame():
    """A frame scheduled for the lost device must not reach the device when it returns
    within the same step (its note-ons would hang: the tracker forgot them)."""
    engine, out, clock = make_engine(ScriptVoice([(60, 64)]), spb=2)
    frame = np.zeros(88, dtype=bool)
    frame[[60 - 21, 64 - 21]] = True
    engine._schedule_frame(frame, 1.0, 0)
    engine.output_changed(False, "output lost: memory out (device gone)")
    engine.output_changed(True, "output back: memory out")
    clock.advance_to(2.0)
    assert out.sent == [] and not engine.tracker.sounding.any()


def test_output_status_words():
    assert output_status(False, "synth:in", "JACK server gone") == "output lost: synth:in (JACK server gone)"
    assert output_status(True, "synth:in", "reconnected") == "output back: synth:in"


class FakeRt:
    """Stands in for a python-rtmidi output: records calls."""

    def __init__(self) -> None:
        self.sent: list[list[int]] = []
        self.calls: list[str] = []

    def send_message(self, data: list[int]) -> None:
        self.sent.append(list(data))

    def close_port(self) -> None:
        self.calls.append("close_port")

    def delete(self) -> None:
        self.calls.append("delete")


def test_a_plain_jack_output_stops_sending_once_its_server_died(monkeypatch):
    """rtmidi's JACK ring buffer is emptied only by the server: once it is full (~2,300
    messages after the server died) ``send_message`` spins forever with the GIL. A plain
    port looks whether its server lives (after a send, at most every SERVER_LOOK_S) and
    refuses to send once it died; it is never closed then (that blocks for a second)."""
    up = [True]
    looks: list[float] = []

    def alive() -> bool:
        looks.append(time.monotonic())
        return up[0]

    monkeypatch.setattr(ports, "SERVER_LOOK_S", 0.01)
    rt = FakeRt()
    port = ports.RtMidiOutput(rt, "synth:synth in", alive)
    for _ in range(50):
        port.send(NOTE)  # back to back: at most one look per SERVER_LOOK_S
    assert len(rt.sent) == 50 and len(looks) <= 1
    up[0] = False
    time.sleep(0.011)
    port.send(NOTE)  # this one still goes; the look after it finds the server dead
    try:
        port.send(NOTE)
        raise AssertionError("a port of a dead server took a message")
    except OSError as exc:
        assert "JACK server gone" in str(exc)
    assert len(rt.sent) == 51 and port.server_gone
    port.close()
    assert rt.calls == [] and port.closed
