"""livegen's JACK MIDI backend: the frame timeline, the per-cycle writer, the backend choice, and
``livegen play --midi-backend jack`` on a real JACK server, with a recorder reading the frame of
every note-on.

The recorder is a JACK client in this process (JACK-Client): what it reads are frame numbers,
so the end-to-end check is exact arithmetic (every onset a whole number of sixteenths from the
first), not a timing figure; the timing figures are in ``benchmarks/jack_grid.py``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import pytest
from play_rig import FrameRecorder

from livegen.errors import LivegenError
from livegen.io import midi_backend
from livegen.io.jack.backend import JackTimelineClock
from livegen.io.jack.frames import MAX_LAG_S, FrameClock, FrameTimeline
from livegen.io.jack.schedule import JackScheduler

RATE = 48000


# ---- the frame timeline ----------------------------------------------------------------------

def test_the_timeline_starts_at_its_anchor_and_maps_each_deadline_to_one_frame() -> None:
    tl = FrameTimeline(RATE, anchor_s=100.0, anchor_mono_s=50.0)
    tl.set_cycle(256, first_frame=1_000_000, start_mono_s=50.010)  # 10 ms after the anchor
    assert tl.cycle_start() == pytest.approx(100.010)
    # sixteenths at 120 BPM (125 ms = 6,000 frames) from the cycle's start: exact frames apart
    slots = [tl.slot(100.010 + k * 0.125, latency=256) for k in range(1000)]
    assert all(b - a == 6000 for a, b in zip(slots, slots[1:], strict=False))
    assert slots[0] == 256  # the cycle's first frame plus one period of latency
    tl.set_cycle(256, first_frame=1_000_256, start_mono_s=50.0153)
    assert tl.slot(100.010, latency=256) == 0
    assert tl.time_at(0) == pytest.approx(100.010 + 256 / RATE)


def test_the_timeline_keeps_counting_across_the_frame_counter_wrap() -> None:
    tl = FrameTimeline(RATE, anchor_s=0.0, anchor_mono_s=0.0)
    tl.set_cycle(256, first_frame=2**32 - 256, start_mono_s=0.0)
    tl.set_cycle(256, first_frame=0, start_mono_s=256 / RATE)  # wrapped
    assert tl.cycle_frame == 256
    assert tl.cycle_start() == pytest.approx(256 / RATE)


def test_the_timeline_holds_small_lags_and_jumps_forward_after_a_stall() -> None:
    tl = FrameTimeline(RATE, anchor_s=10.0, anchor_mono_s=10.0)
    tl.set_cycle(256, 0, 10.0)
    # frames 1% behind the wall clock over 10 s (what the dummy driver does after xruns): kept
    tl.set_cycle(256, int(9.9 * RATE), 20.0)
    assert tl.jumps == 0 and tl.cycle_start() == pytest.approx(19.9)
    # a 5 s stall (a synchronous server waiting for a killed client): frames stopped
    tl.set_cycle(256, int(9.9 * RATE) + 256, 25.0)
    assert tl.jumps == 1 and tl.cycle_start() == pytest.approx(25.0)
    assert MAX_LAG_S < 1.0


def test_the_engine_clock_on_the_timeline_never_steps_back() -> None:
    clock = JackTimelineClock()
    before = time.monotonic()
    assert before <= clock.now() <= time.monotonic()  # before any stamp: the engine's own clock
    m = time.monotonic()
    clock.stamp(m + 5.0, m)  # the timeline 5 s ahead (a stall it jumped over)
    t1 = clock.now()
    assert t1 == pytest.approx(time.monotonic() + 5.0, abs=0.01)
    clock.stamp(m + 4.0, time.monotonic())  # a stamp behind the extrapolation
    assert clock.now() >= t1
    assert clock.mono_at(t1 + 0.5) == pytest.approx(time.monotonic() + 1.5, abs=0.05)


def test_a_clock_read_before_the_first_stamp_holds_still_until_the_timeline_catches_up() -> None:
    """The shared-stamp fault (issue 26): the engine read the clock before the helper's first
    stamp (``time.monotonic()``), the first stamp put the timeline behind that reading, and the
    clock held still until the timeline caught up: every note stamped meanwhile shared one time.
    Hence the backend's wait for the first stamp (the next test)."""
    clock = JackTimelineClock()
    early = clock.now()  # before any stamp
    m = time.monotonic()
    clock.stamp(m - 0.3, m)  # the timeline 0.3 s behind the wall clock
    held = [clock.now() for _ in range(5)]
    assert held == [early] * 5  # five readings, one stamp


@pytest.mark.jack
def test_the_backend_is_ready_only_once_its_clock_is_on_frames(jack_server) -> None:
    """Before the fix the backend returned as soon as its helper said ready, ~20 ms before the
    first stamp; the engine's first reading was on the wall clock (the test above) and the
    performer's first notes of a run shared a stamp (about 1 run in 3 of the frame test)."""
    from livegen.io.jack.backend import JackBackend

    backend = JackBackend(server=jack_server.name, frame_clock=True, client_name="livegen-stamp-test")
    try:
        assert backend.clock is not None
        assert backend.clock.stamped.is_set(), "the backend was handed over before its clock was on frames"
    finally:
        backend.close()


# ---- the per-cycle writer --------------------------------------------------------------------

def test_each_event_is_written_at_its_frame_in_order_and_late_ones_at_once() -> None:
    tl = FrameTimeline(RATE, anchor_s=0.0, anchor_mono_s=0.0)
    sched = JackScheduler(latency=256)
    period = 256 / RATE
    for k in (3, 1, 2):  # out of order: the heap sorts them
        sched.schedule(k * 0.001, bytes((0x90, 60 + k, 100)))
    sched.schedule(-1.0, bytes((0x80, 59, 0)))  # long past: late
    written: list[tuple[int, bytes]] = []
    tl.set_cycle(256, 0, 0.0)
    sched.write_cycle(tl, lambda offset, data: written.append((offset, data)) or True, 0.0)
    # latency 256 frames: the 1 ms events (48 frames apart) fall in the next cycle
    assert written == [(0, bytes((0x80, 59, 0)))]
    assert sched.stats.late == 1
    tl.set_cycle(256, 256, period)
    written.clear()
    sched.write_cycle(tl, lambda offset, data: written.append((offset, data)) or True, period)
    assert [(o, d[1]) for o, d in written] == [(48, 61), (96, 62), (144, 63)]


def test_a_cancel_that_comes_late_hands_back_what_was_already_written() -> None:
    """The panic's race (a full clean-clone run, tests/test_panic.py): the engine cancels at
    engine time t and counts every note due after t as never struck; the cancel reaches the
    helper after a cycle already wrote one of them. The scheduler returns it, and the helper
    releases it due at t, before the All Notes Off the engine sends after the cancel."""
    tl = FrameTimeline(RATE, anchor_s=0.0, anchor_mono_s=0.0)
    sched = JackScheduler(latency=0)
    period = 256 / RATE
    sched.schedule(0.5 * period, bytes((0x90, 60, 100)))  # the chord's next note-on
    sched.schedule(3.0 * period, bytes((0x90, 62, 100)))  # not yet written
    written: list[bytes] = []
    tl.set_cycle(256, 0, 0.0)
    sched.write_cycle(tl, lambda offset, data: written.append(data) or True, 0.0)
    assert written == [bytes((0x90, 60, 100))]
    # the engine cancelled at 0.25 periods (before the 60 was due) but the cancel arrives now
    assert sched.cancel_after(0.25 * period) == [bytes((0x90, 60, 100))]
    assert sched.pending() == 0  # the 62 is dropped as before
    assert sched.cancel_after(0.25 * period) == [bytes((0x90, 60, 100))]  # still known: idempotent
    assert sched.cancel_after(period) == []  # a cancel after its deadline: it was due, it sounds


def test_the_jack_clock_map_places_a_cycle_whose_estimate_is_implausible() -> None:
    fc = FrameClock(frames=256, start_us=1_000_000.0, period_us=256 / RATE * 1e6, offset_s=2.0)
    assert fc.time_at(0) == pytest.approx(3.0)
    fc.place_cycle(3.05)
    assert fc.time_at(0) == pytest.approx(3.05)
    assert fc.rate_hz() == pytest.approx(RATE)


# ---- which backend ---------------------------------------------------------------------------

def test_auto_is_rtmidi_off_jack_and_an_unknown_backend_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/LINUX_ALSA")
    assert midi_backend.resolve_midi_backend("auto") == "rtmidi"
    assert midi_backend.resolve_midi_backend("rtmidi") == "rtmidi"
    with pytest.raises(LivegenError, match="unknown MIDI backend 'alsa'"):
        midi_backend.resolve_midi_backend("alsa")


def test_jack_without_jack_client_is_one_line(monkeypatch) -> None:
    monkeypatch.setattr(midi_backend, "jack_client_installed", lambda: False)
    with pytest.raises(LivegenError, match="pip install JACK-Client"):
        midi_backend.resolve_midi_backend("jack")


@pytest.mark.jack
def test_auto_picks_the_jack_helper_when_midi_goes_through_jack(jack_server) -> None:
    assert midi_backend.midi_goes_through_jack()
    assert midi_backend.resolve_midi_backend("auto") == "jack"


@pytest.mark.jack
def test_jack_with_no_server_is_one_line(jack_server, monkeypatch) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "livegen-no-such-server")
    with pytest.raises(LivegenError, match="is not running"):
        midi_backend.resolve_midi_backend("jack")


# ---- end to end: the frame of every note-on ----------------------------------------------------

def _ports(jack_server) -> list[str]:
    """The server's ports; none while ``jack_lsp`` gets no answer (a synchronous server that is
    busy with a vanished client stalls for seconds: the caller keeps polling to its deadline)."""
    try:
        return jack_server.ports()
    except LivegenError:
        return []


def _play_connected(jack_server, backend: str, args: list[str], port: str, connect) -> None:
    """``livegen play --virtual ARGS`` on ``backend``; once it says it plays (it listens from
    then on: its port existing is not enough, a loaded machine takes seconds from there) and
    its port ending in ``port`` exists, ``connect(full name)``; wait for the play to end
    (exit 0)."""
    env = dict(os.environ, **jack_server.env, LIVEGEN_MIDI_BACKEND=backend)
    proc = subprocess.Popen([sys.executable, "-m", "livegen", "play", "--model", "nottingham", "--virtual",
                             *args, "--seed", "5", "--no-view", "--osc-port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    playing = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            said.append(line)
            if line.startswith("livegen: playing"):
                playing.set()
        playing.set()  # ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert playing.wait(60) and proc.poll() is None, "".join(said)[-2000:]
        end = time.monotonic() + 60
        while not any(p.endswith(port) for p in _ports(jack_server)):
            assert proc.poll() is None and time.monotonic() < end, "".join(said)[-2000:]
            time.sleep(0.2)
        connect(next(p for p in jack_server.ports() if p.endswith(port)))
        proc.wait(timeout=90)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(said)[-2000:]


@pytest.mark.jack
@pytest.mark.parametrize(("backend", "swing"), [("jack", "0"), ("jack", "50"), ("rtmidi", "0")])
def test_onsets_fall_on_whole_sixteenths_of_frames_with_the_jack_backend(jack_server, backend, swing) -> None:
    """120 BPM sixteenths are 6,000 frames at 48 kHz: with the JACK backend every onset is a
    whole number of them from the first (the engine keeps time on frames), and with 50% swing
    every off-beat lands exactly half a step (3,000 frames) late; rtmidi's land wherever the
    next period starts (the check is not empty)."""
    rec = FrameRecorder(jack_server.name)
    try:
        _play_connected(jack_server, backend, ["--mode", "solo", "--bpm", "120", "--steps-per-beat", "4",
                                               "--bars", "3", "--density", "1.5", "--swing", swing],
                        ":livegen out", rec.listen_to)
    finally:
        rec.close()
    onsets = sorted({frame for _, frame, _ in rec.onsets})
    assert len(onsets) >= 12, f"only {len(onsets)} onsets"
    step = round(60 / 120 / 4 * RATE) // (2 if swing == "50" else 1)
    off = [(f - onsets[0]) % step for f in onsets]
    off = [min(o, step - o) for o in off]
    if backend == "jack":
        assert max(off) == 0, f"onsets off the frame grid by {off} frames ({rec.xruns} xruns)"
        if swing == "50":  # onsets on the beat and on the swung off-beats, 3,000 frames apart
            assert {(f - onsets[0]) % (2 * step) for f in onsets} == {0, step}
    else:
        assert max(off) > 0, "rtmidi's onsets were frame-exact: the check would prove nothing"
    assert not math.isnan(sum(off))


class FramePlayer:
    """A JACK client in this process playing note-ons at exact frames into a port."""

    def __init__(self, server: str, notes: list[tuple[int, int]]) -> None:
        jack = pytest.importorskip("jack")
        self.client = jack.Client("frame-player", no_start_server=True, servername=server)
        self.port = self.client.midi_outports.register("out")
        self.events: list[tuple[int, bytes]] = []  # (absolute frame, bytes), in order
        self._start: int | None = None
        self.notes = notes

        #: the longest wall-clock gap (s) between two cycles while notes were due: a stalled
        #: server, which the test does not measure
        self.longest_gap_s = 0.0
        self._last_cycle: float | None = None

        def process(frames: int) -> None:
            self.port.clear_buffer()
            now = time.monotonic()
            if self.events and self._last_cycle is not None:
                self.longest_gap_s = max(self.longest_gap_s, now - self._last_cycle)
            self._last_cycle = now
            first = self.client.last_frame_time
            while self.events and self.events[0][0] < first + frames:
                frame, data = self.events.pop(0)
                self.port.write_midi_event(max(0, frame - first), data)

        self.client.set_process_callback(process)
        self.client.activate()

    def play_from(self, start: int) -> None:
        """Queue the notes (``(offset frames, pitch)``) from absolute frame ``start``."""
        events = []
        for offset, pitch in self.notes:
            events += [(start + offset, bytes((0x90, pitch, 100))), (start + offset + 3000, bytes((0x80, pitch, 0)))]
        self.events = sorted(events)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def _performers_gaps(jack_server, backend: str, take: Path) -> tuple[list[int], float]:
    """Sixteen notes 6,000 frames apart played into ``livegen in`` (accompany mode, recording
    ``take``): the gaps (ticks) between them in the take's performer track, and the longest
    wall-clock gap (s) between the player's cycles while notes were due."""
    notes = [(k * 6000, 60 + k) for k in range(16)]
    player = FramePlayer(jack_server.name, notes)

    def connect(dest: str) -> None:
        player.client.connect("frame-player:out", dest)
        player.play_from(player.client.frame_time + RATE)  # one second from now

    try:
        _play_connected(jack_server, backend, ["--mode", "accompany", "--bpm", "120", "--bars", "4",
                                               "--record", str(take)], ":livegen in", connect)
    finally:
        player.close()
    mid = mido.MidiFile(str(take))
    track = next(t for t in mid.tracks if any(getattr(m, "name", "") == "performer" for m in t))
    ticks, now = [], 0
    for msg in track:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            ticks.append(now)
    assert len(ticks) == 16, ticks
    return [b - a for a, b in zip(ticks, ticks[1:], strict=False)], player.longest_gap_s


@pytest.mark.jack
@pytest.mark.parametrize("backend", ["jack", "rtmidi"])
def test_the_performers_notes_are_stamped_with_their_frames(jack_server, backend, tmp_path) -> None:
    """Sixteen notes played exactly 6,000 frames (125 ms) apart into ``livegen in``: the take
    (960 ticks a beat at 120 BPM: 240 ticks a note) has them 240 ticks apart, give or take the
    rounding of one tick, with the JACK backend; rtmidi stamps them when they reach livegen, at
    the next period (6,000 mod 128 = 112 frames: the delay wraps within 16 notes, so one gap is
    ~5 ticks short: the check is not empty)."""
    gaps, stall = _performers_gaps(jack_server, backend, tmp_path / "take.mid")
    print(f"\n{backend}: the performer's notes {gaps} ticks apart in the take (played 240 apart); "
          f"longest gap between cycles {stall * 1000:.0f} ms")
    if backend == "jack":
        assert all(abs(g - 240) <= 1 for g in gaps), gaps
    else:
        assert any(abs(g - 240) > 1 for g in gaps), f"rtmidi's stamps were frame-exact: {gaps}"
