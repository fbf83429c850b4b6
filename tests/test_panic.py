"""Panic at once: every sounding note released and All Notes Off sent without waiting for
the engine's loop, from the OSC receiver's thread or the session's panic thread.

The threaded tests run a live session (live clock, the timed sender thread, memory ports)
and fire panics from other threads while the loop steps, or while a step is busy; the
last test runs ``livegen play`` over real JACK ports and sends ``/livegen/panic`` and
CC 103. No test asserts the 5 ms: the latency is measured by ``python -m benchmarks.panic``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import mido
import numpy as np
import pytest
import torch
from engine_helpers import balanced, make_engine

from livegen.controls.state import LiveControls
from livegen.controls.table import CONTROLS, ControlState
from livegen.engine.clock import LiveClock
from livegen.engine.scheduler import ThreadScheduler
from livegen.io.memory import MemoryInput, MemoryOutput
from livegen.io.osc import build_message
from livegen.io.ports import open_input, open_output
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.sampling.constraints import RollControls
from livegen.session.live import LiveSession, SessionOptions
from livegen.voices.script import ScriptVoice

PANIC_CC = CONTROLS["panic"].cc
assert PANIC_CC == 103
CHORDS: list[int | tuple[int, ...]] = [(60, 64, 67), (62, 65, 69), (60, 64, 67, 72), 48, (55, 59, 62)]


def is_all_notes_off(m: mido.Message) -> bool:
    return bool(m.type == "control_change" and m.control == 123)


def sounding(messages: Sequence[mido.Message]) -> set[tuple[int, int]]:
    on: set[tuple[int, int]] = set()
    for m in messages:
        if m.type == "note_on" and m.velocity > 0:
            on.add((m.channel, m.note))
        elif m.type in ("note_on", "note_off"):
            on.discard((m.channel, m.note))
    return on


def released_before_each_panic(messages: Sequence[mido.Message]) -> list[int]:
    """Indices of All Notes Off messages sent while a note was still sounding (should be none)."""
    return [i for i, m in enumerate(messages) if is_all_notes_off(m) and sounding(messages[:i])]


def live_session(voice: ScriptVoice, bars: int, midi_in: MemoryInput | None = None
                 ) -> tuple[LiveSession, MemoryOutput, ThreadScheduler]:
    out = MemoryOutput()
    scheduler = ThreadScheduler(out, realtime=False)
    controls = LiveControls(ControlState.default().apply_many({"tempo": 240.0, "mode": "solo"}))
    session = LiveSession(voice, controls, clock=LiveClock(), scheduler=scheduler,
                          options=SessionOptions(steps_per_beat=4, bars=bars, channel=2, start_delay=0.05),
                          midi_in=midi_in, thread_panic=True)
    return session, out, scheduler


# ---- manual clock --------------------------------------------------------------------------


def test_a_panic_keeps_the_midi_clock_it_sends() -> None:
    """Ticks already queued for the step are put back: a DAW following livegen keeps time."""
    engine, out, _ = make_engine(ScriptVoice(CHORDS), spb=2, send_clock=True)

    async def scenario() -> None:
        task = asyncio.ensure_future(engine.run(bars=1))
        while engine.stats.steps < 3:
            await asyncio.sleep(0)
        engine.controls.set("panic", True)
        await task

    asyncio.run(scenario())
    clocks = [t for t, m in out.sent if m.type == "clock"]
    assert len(clocks) == 8 * 12
    assert np.allclose(np.diff(clocks), 0.5 / 24)
    assert engine.panics == 1 and released_before_each_panic([m for _, m in out.sent]) == []
    assert balanced(out.sent)


# ---- threads, a live clock and memory ports -------------------------------------------------


def test_panics_from_other_threads_release_every_note_while_the_loop_steps() -> None:
    """Panics from a receiver-like thread (``panic_now``) and CC 103 fed on a port-like
    thread, at random moments of the steps: each All Notes Off follows the note-offs of
    everything that sounded, the engine plays on after each, and nothing is left on."""
    midi_in = MemoryInput()
    session, out, scheduler = live_session(ScriptVoice(CHORDS), bars=4, midi_in=midi_in)
    stop = threading.Event()
    fired = {"direct": 0, "cc": 0}

    def direct() -> None:
        rng = random.Random(1)
        while not stop.wait(0.01 + 0.03 * rng.random()):
            session.panic_now()
            fired["direct"] += 1

    def port() -> None:
        rng = random.Random(2)
        while not stop.wait(0.02 + 0.05 * rng.random()):
            midi_in.feed(mido.Message("control_change", control=PANIC_CC, value=127), time.monotonic())
            midi_in.feed(mido.Message("control_change", control=PANIC_CC, value=0), time.monotonic())
            fired["cc"] += 1

    async def scenario() -> None:
        threads = [threading.Thread(target=f, daemon=True) for f in (direct, port)]
        for th in threads:
            th.start()
        try:
            await session.run()
        finally:
            stop.set()
            for th in threads:
                th.join()

    asyncio.run(scenario())
    scheduler.close()
    messages = [m for _, m in out.sent]
    panics = [i for i, m in enumerate(messages) if is_all_notes_off(m)]
    assert fired["direct"] > 20 and fired["cc"] > 10
    assert session.engine.panics >= fired["direct"]
    assert len(panics) >= fired["direct"] + 1  # the CC panics too (back-to-back requests may merge)
    assert released_before_each_panic(messages) == []
    assert {m.channel for m in messages if m.type in ("note_on", "note_off", "control_change")} == {2}
    after_last = [m for m in messages[panics[-1]:] if m.type == "note_on" and m.velocity]
    assert after_last or len(messages) - panics[-1] < 5, "the engine stopped playing after a panic"
    assert balanced(out.sent)


class BusyVoice(ScriptVoice):
    """Spins (holding the GIL between switches) for ``busy_s`` in step ``at``, as a long
    model step or a burst of work on the loop would."""

    def __init__(self, at: int, busy_s: float) -> None:
        super().__init__(CHORDS)
        self.at, self.busy_s = at, busy_s
        self.steps = 0
        self.busy = threading.Event()
        self.busy_until = 0.0

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        self.steps += 1
        if self.steps == self.at:
            self.busy_until = time.monotonic() + self.busy_s
            self.busy.set()
            while time.monotonic() < self.busy_until:
                pass
        return super().step(frame, controls)


@pytest.mark.parametrize("via", ["direct", "cc"])
def test_a_panic_does_not_wait_for_a_busy_step(via: str) -> None:
    midi_in = MemoryInput()
    voice = BusyVoice(at=6, busy_s=0.3)
    session, out, scheduler = live_session(voice, bars=2, midi_in=midi_in)
    sent_at: list[float] = []

    def panic_when_busy() -> None:
        assert voice.busy.wait(10)
        time.sleep(0.02)
        sent_at.append(time.monotonic())
        if via == "direct":
            session.panic_now()
        else:
            midi_in.feed(mido.Message("control_change", control=PANIC_CC, value=127), time.monotonic())

    async def scenario() -> None:
        th = threading.Thread(target=panic_when_busy, daemon=True)
        th.start()
        await session.run()
        th.join()

    asyncio.run(scenario())
    scheduler.close()
    arrived = [t for t, m in out.sent if is_all_notes_off(m)]
    assert arrived, "no All Notes Off"
    # sent while the loop was still stuck in the step, not after it
    assert sent_at[0] <= arrived[0] < voice.busy_until, (arrived[0] - sent_at[0], voice.busy_until - sent_at[0])
    assert released_before_each_panic([m for _, m in out.sent]) == []
    assert balanced(out.sent)


# ---- livegen play over real JACK ports -------------------------------------------------------

START_TIMEOUT = 60.0
CHORD = (60, 64, 67)


def _chord_model(path: Path) -> Path:
    """A tiny net that holds C4-E4-G4 forever (a note-off only comes from a release)."""
    net = RollLSTM(RollConfig(hidden=8, layers=1, dropout=0.0))
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(-30.0)
        for p in CHORD:
            net.head.bias[p - 21] = 30.0
    save_checkpoint(path, net, {"data": "test", "steps_per_beat": 2, "hears": "own key"})  # plays its pitches as set
    return path


def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


@pytest.mark.jack
def test_panic_over_osc_and_cc_on_real_ports(jack_server, tmp_path):
    received: list[tuple[float, mido.Message]] = []
    fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fb.bind(("127.0.0.1", 0))
    fb.settimeout(0.2)
    osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        osc_port = probe.getsockname()[1]
    before = set(jack_server.ports())
    proc = subprocess.Popen(
        [sys.executable, "-m", "livegen", "play", "--model", str(_chord_model(tmp_path / "chord.pt")),
         "--virtual", "--mode", "solo", "--bpm", "240", "--bars", "40", "--channel", "3", "--no-view",
         "--mute", "1",  # unmuted once the tester listens: the chord's note-ons are heard
         "--osc-port", str(osc_port), "--osc-feedback", f"127.0.0.1:{fb.getsockname()[1]}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    inp = out = None
    try:
        end = time.monotonic() + START_TIMEOUT
        while True:  # livegen's first feedback says its ports are open
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < end, "no feedback from livegen"
            try:
                fb.recv(65536)
                break
            except TimeoutError:
                continue
        _until(lambda: any(n.endswith(":livegen in") for n in set(jack_server.ports()) - before), "livegen's ports")
        new = set(jack_server.ports()) - before
        theirs_in = next(n for n in new if n.endswith(":livegen in"))
        theirs_out = next(n for n in new if n.endswith(":livegen out"))
        out = open_output(theirs_in, client_name="panic-tester")
        inp = open_input(theirs_out, lambda m, t: received.append((t, m)), client_name="panic-tester")
        osc.sendto(build_message("/livegen/mute", [0]), ("127.0.0.1", osc_port))

        def chord_sounds() -> bool:
            return {p for _, p in sounding([m for _, m in received])} == set(CHORD)

        def panicked_after(t: float) -> list[int]:
            return [i for i, (ta, m) in enumerate(list(received)) if ta >= t and is_all_notes_off(m)]

        for via in ("osc", "cc", "osc"):
            _until(chord_sounds, "the chord to sound", timeout=START_TIMEOUT)
            sent = time.monotonic()
            if via == "osc":
                osc.sendto(build_message("/livegen/panic", []), ("127.0.0.1", osc_port))
                osc.sendto(build_message("/livegen/panic", [0]), ("127.0.0.1", osc_port))  # release: ignored
            else:
                out.send(mido.Message("control_change", control=PANIC_CC, value=127))
                out.send(mido.Message("control_change", control=PANIC_CC, value=0))  # release: ignored
            _until(lambda t=sent: panicked_after(t) != [], f"the All Notes Off after the {via} panic")
            got = [m for _, m in received]
            first = panicked_after(sent)[0]
            assert got[first].channel == 2  # --channel 3
            # every note of the chord got its note-off before the All Notes Off
            assert sounding(got[:first]) == set(), got[first - 6:first + 1]
            # one panic per press (the release does nothing); the model plays on: the chord again
            _until(chord_sounds, f"the chord after the {via} panic")
            assert len(panicked_after(sent)) == 1

        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr[-2000:]
        assert "Traceback" not in stderr
        time.sleep(0.2)
        assert sounding([m for _, m in received]) == set(), "a note was left on"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for port in (inp, out):
            if port is not None:
                port.close()
        fb.close()
        osc.close()
