"""The MIDI byte-stream parser against what real devices send, and the followed clock's bounds."""

from __future__ import annotations

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.engine.midi_clock import MAX_BPM, MIN_BPM, PPQN, ClockFollower
from livegen.io.midi_stream import MidiStream

channel_messages = st.one_of(
    st.builds(lambda c, n, v: mido.Message("note_on", channel=c, note=n, velocity=v),
              st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)),
    st.builds(lambda c, n, v: mido.Message("note_off", channel=c, note=n, velocity=v),
              st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)),
    st.builds(lambda c, n, v: mido.Message("control_change", channel=c, control=n, value=v),
              st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)),
    st.builds(lambda c, p: mido.Message("program_change", channel=c, program=p),
              st.integers(0, 15), st.integers(0, 127)),
    st.builds(lambda c, p: mido.Message("aftertouch", channel=c, value=p), st.integers(0, 15), st.integers(0, 127)),
    st.builds(lambda c, p: mido.Message("pitchwheel", channel=c, pitch=p), st.integers(0, 15),
              st.integers(-8192, 8191)),
)


def running_status_bytes(messages: list[mido.Message]) -> list[int]:
    """The messages as a device using running status sends them: a status byte only when it changes."""
    out: list[int] = []
    status = None
    for msg in messages:
        data = msg.bytes()
        if data[0] != status:
            out.append(data[0])
            status = data[0]
        out.extend(data[1:])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(channel_messages, max_size=40), st.data())
def test_running_status_and_realtime_anywhere_give_back_every_message(messages, data):
    stream = running_status_bytes(messages)
    # clock bytes dropped in at random places, even between a message's data bytes
    where = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    for i in sorted(where, reverse=True):
        stream.insert(i, 0xF8)
    # fed in random chunks, as events of any size
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    parser = MidiStream()
    got: list[mido.Message] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got.extend(parser.feed(stream[a:b]))
    assert [m for m in got if m.type != "clock"] == messages
    assert sum(m.type == "clock" for m in got) == len(where)


def test_sysex_is_skipped_unbuffered_and_stray_bytes_are_counted():
    parser = MidiStream()
    huge_sysex = [0xF0] + [0x11] * 100_000 + [0xF7]
    got = parser.feed([0x40, 0x41, *huge_sysex, 0x90, 60, 100, 0xF7, 0xF4, 0xFD, 0xFE, 0xF2, 0x10, 0x01, 0x3C, 0x40])
    assert [m.type for m in got] == ["note_on", "songpos"]
    assert parser.counts["stray"] == 2 + 1 + 2  # two leading data bytes, an F7 alone, two after songpos
    assert parser.counts["sysex"] == 100_002
    assert parser.counts["undefined"] == 2 and parser.counts["active_sense"] == 1
    # a sysex cut short by a status byte: the data after it is a message again
    assert [m.type for m in parser.feed([0xF0, 1, 2, 0x80, 60, 0])] == ["note_off"]


def test_a_system_message_cancels_running_status():
    parser = MidiStream()
    assert len(parser.feed([0x90, 60, 100, 0xF6, 62, 100])) == 2  # note-on, tune request; then stray
    assert parser.counts["stray"] == 2


def clocks(follower: ClockFollower, bpm: float, seconds: float, t0: float = 0.0) -> list[str]:
    interval = 60.0 / bpm / PPQN
    events = []
    for k in range(int(seconds / interval)):
        e = follower.on_message(mido.Message("clock"), t0 + k * interval)
        if e is not None:
            events.append(e.kind)
    return events


@pytest.mark.parametrize("bpm", [5000.0, 1000.0, 400.0])
def test_a_clock_far_too_fast_never_steps_livegen_past_the_top_tempo(bpm, caplog):
    follower = ClockFollower(steps_per_beat=4)
    follower.on_message(mido.Message("start"), 0.0)
    steps = clocks(follower, bpm, 10.0)
    # steps come no faster than MAX_BPM allows (with the jitter slack), whatever the clock's rate
    most = 10.0 * MAX_BPM / 60 * 4 / 0.75 + 1
    assert len(steps) <= most
    assert follower.dropped_steps > 0
    assert follower.bpm == MAX_BPM and follower.measured_bpm == pytest.approx(bpm, rel=0.01)
    assert sum("outside" in r.message for r in caplog.records) == 1  # said once, not per clock


@pytest.mark.parametrize("bpm", [MIN_BPM, 97.0, MAX_BPM])
def test_a_clock_in_range_steps_on_every_step(bpm):
    follower = ClockFollower(steps_per_beat=4)
    follower.on_message(mido.Message("start"), 0.0)
    steps = clocks(follower, bpm, 8.0)
    assert len(steps) == pytest.approx(8.0 * bpm / 60 * 4, abs=1)
    assert follower.dropped_steps == 0
    assert follower.bpm == pytest.approx(bpm, rel=1e-6)


def test_a_clock_that_stops_ticking_counts_as_lost():
    follower = ClockFollower(steps_per_beat=2)
    follower.on_message(mido.Message("start"), 0.0)
    clocks(follower, 120.0, 1.0)
    assert not follower.lost(1.0)
    assert follower.lost(1.0 + 0.6)
    follower.on_message(mido.Message("stop"), 1.7)
    assert not follower.lost(5.0)  # a stopped clock is not lost
