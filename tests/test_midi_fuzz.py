"""What real (and broken) MIDI devices send, through a real JACK port into ``livegen play``.

A raw python-rtmidi client writes bytes into ``livegen in``: running status, sysex, stray
data bytes, a clock at 5,000 BPM, and a fuzz of 10^5 events (:mod:`benchmarks.midi_fuzz`).
"""

from __future__ import annotations

import time

import pretty_midi
import pytest

from benchmarks.midi_fuzz import _connect_fuzzer, fuzz_events, run_fuzz
from benchmarks.panic import Rig, sounding

pytestmark = pytest.mark.jack


def _livegen_in(server) -> str:
    return next(n for n in server.ports() if n.endswith(":livegen in"))


@pytest.mark.slow
def test_a_fuzz_of_100000_events_leaves_livegen_playing_in_time_and_clean(jack_server, tmp_path):
    result = run_fuzz(jack_server, "nottingham", fuzz_events(100_000, seed=1), 10_000.0, tmp_path)
    assert result["exit_status"] == 0 and result["tracebacks"] == 0, result
    assert result["left_sounding"] == []
    assert result["bad_values"] == []  # every value livegen reported is finite and in range
    assert result["late_steps"] is not None and "late steps" in result["steps_line"]
    assert result["log_lines"] <= 100
    step_ms = 60_000 / 120 / 2  # nottingham: 2 steps a beat at 120 BPM
    assert result["worst_beat_gap_beyond_a_beat_ms"] < step_ms, result


def test_running_status_sysex_and_stray_bytes_over_a_real_port(jack_server, tmp_path):
    take = tmp_path / "take.mid"
    rig = Rig(jack_server, ["--model", "nottingham", "--bpm", "240", "--mode", "accompany", "--bars", "4",
                            "--record", str(take)], tmp_path, client="bytes-tester")
    fuzzer = None
    try:
        rig.start()
        assert rig.wait_for(lambda: len(rig.beats) >= 1, 30.0)
        fuzzer = _connect_fuzzer(_livegen_in(jack_server))
        time.sleep(0.3)
        events = [
            [0x40], [0x7F, 0x01],  # stray data bytes before any status
            [0x90, 60, 90], [64, 90], [67, 90],  # a chord in running status
            [0xF0, *range(100), 0xF7],  # sysex between
            [0xF0, 1, 2, 3],  # a sysex cut short by the next status
            [0x80, 60, 0], [64, 0], [67, 0],  # released in running status
            [0xF4], [0xFD], [0xF7],  # undefined status bytes and a lone end of sysex
            [0x90, 72, 100], [0x90, 72, 0],  # a velocity-0 release
        ]
        for event in events:
            fuzzer.send_message(event)
            time.sleep(0.02)
        assert rig.proc is not None
        assert rig.wait_for(lambda: rig.proc is not None and rig.proc.poll() is not None, 60.0)
        status, out = rig.stop()
    finally:
        if fuzzer is not None:
            fuzzer.close_port()
        rig.close()
    assert status == 0, rig.stderr()[-2000:]
    assert "Traceback" not in rig.stderr()
    performer = next(i for i in pretty_midi.PrettyMIDI(str(take)).instruments if i.name == "performer")
    assert sorted(n.pitch for n in performer.notes) == [60, 64, 67, 72]
    assert sounding(rig.received) == set()


def test_a_clock_at_5000_bpm_is_followed_no_faster_than_300(jack_server, tmp_path):
    rig = Rig(jack_server, ["--model", "nottingham", "--clock", "midi", "--mode", "solo"], tmp_path,
              client="clock-tester")
    fuzzer = None
    try:
        rig.start()
        fuzzer = _connect_fuzzer(_livegen_in(jack_server))
        time.sleep(0.3)
        fuzzer.send_message([0xFA])  # Start
        t0 = time.monotonic()
        for k in range(6000):  # 2,000 clocks a second for 3 s: 5,000 BPM
            while time.monotonic() < t0 + k / 2000:
                time.sleep(0.0002)
            fuzzer.send_message([0xF8])
        elapsed = time.monotonic() - t0
        fuzzer.send_message([0xFC])  # Stop
        time.sleep(0.5)
        status, out = rig.stop()
    finally:
        if fuzzer is not None:
            fuzzer.close_port()
        rig.close()
    assert status == 0, rig.stderr()[-2000:]
    beats = len(rig.beats)
    # at 5,000 BPM it would be 250 beats; held to 300 BPM with a DAW's jitter slack it is about
    # 20 (JACK hands the clocks over in bursts, once a period: room for a few more)
    assert 0 < beats <= 1.25 * elapsed * 300 / 60 / 0.75, beats
    assert "outside 30-300 BPM" in rig.stderr()
    assert sounding(rig.received) == set()  # the Stop released everything


def test_a_clock_that_stops_mid_song_releases_every_note(jack_server, tmp_path):
    # a seed whose answer sounds from its first step: from silence with no seed, about one answer
    # in 150 rests through all 8 beats (2 of seeds 0-299 rendered offline), and this check
    # then proves nothing (with no performer the seed alone decides the frames)
    rig = Rig(jack_server, ["--model", "nottingham", "--clock", "midi", "--mode", "solo", "--seed", "1"], tmp_path,
              client="clock-tester")
    fuzzer = None
    try:
        rig.start()
        fuzzer = _connect_fuzzer(_livegen_in(jack_server))
        time.sleep(0.3)
        fuzzer.send_message([0xFA])
        t0 = time.monotonic()
        for k in range(24 * 8):  # 8 beats at 120 BPM, then nothing: the DAW crashed
            while time.monotonic() < t0 + k * 60 / 120 / 24:
                time.sleep(0.0005)
            fuzzer.send_message([0xF8])
        assert rig.wait_for(lambda: any(a.endswith("/status") and args and args[0] == "MIDI clock lost"
                                        for _, a, args in rig.feedback), 5.0)
        assert any(m.type == "note_on" for _, m in rig.received), (
            "livegen never played: the check proves nothing", rig.beats, rig.feedback[:40], rig.stderr()[-3000:])
        assert rig.wait_for(lambda: sounding(rig.received) == set(), 1.0), sounding(rig.received)
        status, out = rig.stop()
    finally:
        if fuzzer is not None:
            fuzzer.close_port()
        rig.close()
    assert status == 0, rig.stderr()[-2000:]


def test_fuzz_events_are_what_rtmidi_accepts():
    events = fuzz_events(20_000, seed=5)
    assert len(events) == 20_000
    assert all(1 <= len(e) <= 3 or e[0] == 0xF0 for e in events)
    assert all(0 <= b <= 255 for e in events for b in e)
