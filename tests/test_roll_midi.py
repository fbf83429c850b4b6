"""Piano roll <-> notes <-> MIDI: exact round trips, tempo maps, drums, range, determinism."""

from __future__ import annotations

import io

import mido
import numpy as np
import pretty_midi
import pytest
from shared_data import DataSets

from livegen.errors import LivegenError
from livegen.music.roll_midi import (
    END_MARKER,
    midi_bytes,
    midi_to_roll,
    notes_to_roll,
    roll_to_midi,
    roll_to_notes,
    write_midi_bytes,
)


def _reread(pm: pretty_midi.PrettyMIDI) -> pretty_midi.PrettyMIDI:
    return pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(pm)))


def _abs_events(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out


def _write_smf(path, tpb: int, tracks: list[list[tuple[int, mido.Message]]]) -> None:
    """Write a type-1 file from absolute-tick event lists (test fixture built with mido)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    for events in tracks:
        track = mido.MidiTrack()
        last = 0
        for tick, msg in sorted(events, key=lambda e: e[0]):
            track.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(track)
    mid.save(str(path))


def _note(tick_on: int, tick_off: int, pitch: int, channel: int = 0) -> list[tuple[int, mido.Message]]:
    return [
        (tick_on, mido.Message("note_on", note=pitch, velocity=90, channel=channel)),
        (tick_off, mido.Message("note_off", note=pitch, velocity=0, channel=channel)),
    ]


def test_roll_to_notes_finds_held_notes_at_both_edges() -> None:
    roll = np.zeros((6, 88), dtype=np.uint8)
    roll[0:2, 39] = 1  # C4 from step 0
    roll[4:6, 39] = 1  # again, to the last step
    roll[1:6, 0] = 1  # A0
    roll[3, 87] = 1  # C8, one step
    notes = roll_to_notes(roll)
    assert notes == [(60, 0, 2), (21, 1, 6), (108, 3, 4), (60, 4, 6)]
    assert np.array_equal(notes_to_roll(notes, 6), roll)
    assert notes_to_roll(notes).shape == (6, 88)


def test_notes_to_roll_merges_touching_notes_and_rejects_bad_ones() -> None:
    roll = notes_to_roll([(60, 0, 2), (60, 2, 4)], 5)
    assert roll_to_notes(roll) == [(60, 0, 4)]
    with pytest.raises(LivegenError, match="off the 88 keys"):
        notes_to_roll([(20, 0, 1)], 2)
    with pytest.raises(LivegenError, match="start < end"):
        notes_to_roll([(60, 1, 1)], 2)
    with pytest.raises(LivegenError, match="shape"):
        roll_to_notes(np.zeros((3, 87)))


@pytest.mark.parametrize("seed", range(40))
def test_random_roll_round_trip_is_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_steps = int(rng.integers(1, 70))
    roll = (rng.random((n_steps, 88)) < rng.uniform(0.0, 0.5)).astype(np.uint8)
    roll[0, rng.integers(0, 88)] = 1  # touches step 0
    roll[-1, rng.integers(0, 88)] = 1  # touches the last step
    if seed % 3 == 0:
        roll[-5:] = 0  # trailing silence survives too
    spb = int(rng.choice([1, 2, 3, 4, 6, 7, 12, 24]))
    bpm = float(rng.uniform(30.0, 300.0))
    pm = roll_to_midi(roll, spb, bpm)
    back, stats = midi_to_roll(_reread(pm), spb)
    assert back.dtype == np.uint8
    assert np.array_equal(back, roll)
    assert np.array_equal(midi_to_roll(pm, spb)[0], roll)  # the in-memory object too
    assert stats.notes_out == len(roll_to_notes(roll)) == stats.notes_in
    assert stats.merged == stats.short == stats.folded == stats.dropped == 0


def test_empty_and_silent_rolls_round_trip() -> None:
    for roll in (np.zeros((0, 88), np.uint8), np.zeros((9, 88), np.uint8)):
        back, stats = midi_to_roll(_reread(roll_to_midi(roll, 4, 120)), 4)
        assert back.shape == roll.shape and not back.any()
        assert stats.notes_out == 0


def test_written_file_has_exact_ticks_and_tempo(tmp_path) -> None:
    roll = notes_to_roll([(60, 0, 3), (64, 3, 7), (67, 5, 8)], 10)
    path = tmp_path / "x.mid"
    write_midi_bytes(roll_to_midi(roll, 3, 97.0, program=5, velocity=64), path)
    mid = mido.MidiFile(str(path))
    tpb = mid.ticks_per_beat
    assert tpb % 3 == 0
    per_step = tpb // 3
    tempos = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"]
    assert tempos == [round(60_000_000 / 97.0)]
    texts = [(t, m.text) for t, m in _abs_events(mid.tracks[0]) if m.type == "text"]
    assert texts == [(10 * per_step, END_MARKER)]
    events = _abs_events(mid.tracks[1])
    assert [m.program for _, m in events if m.type == "program_change"] == [5]
    ons = [(t, m.note) for t, m in events if m.type == "note_on" and m.velocity > 0]
    offs = sorted((t, m.note) for t, m in events if m.type == "note_on" and m.velocity == 0)
    assert ons == [(0, 60), (3 * per_step, 64), (5 * per_step, 67)]
    assert offs == [(3 * per_step, 60), (7 * per_step, 64), (8 * per_step, 67)]
    assert {m.velocity for _, m in events if m.type == "note_on" and m.velocity} == {64}


def test_named_tracks_become_instruments_and_read_back_as_their_union() -> None:
    prime = notes_to_roll([(60, 0, 4), (64, 0, 4)], 8)
    gen = notes_to_roll([(67, 4, 8), (60, 6, 8)], 8)
    pm = roll_to_midi(None, 4, 120.0, tracks={"prime": prime, "livegen": gen})
    again = _reread(pm)
    assert [i.name for i in again.instruments] == ["prime", "livegen"]
    assert [len(i.notes) for i in again.instruments] == [2, 2]
    back, _ = midi_to_roll(again, 4)
    assert np.array_equal(back, prime | gen)
    # a full roll passed beside the tracks only sets the length; the tracks are written
    longer = np.zeros((12, 88), np.uint8)
    both = _reread(roll_to_midi(longer, 4, 120.0, tracks={"prime": prime, "livegen": gen}))
    assert [i.name for i in both.instruments] == ["prime", "livegen"]
    back, _ = midi_to_roll(both, 4)
    assert back.shape == (12, 88) and np.array_equal(back[:8], prime | gen) and not back[8:].any()
    with pytest.raises(LivegenError, match="a roll or a tracks"):
        roll_to_midi(None, 4, 120.0)


def test_midi_bytes_are_identical_for_identical_input(tmp_path) -> None:
    rng = np.random.default_rng(7)
    roll = (rng.random((64, 88)) < 0.1).astype(np.uint8)
    a = write_midi_bytes(roll_to_midi(roll, 4, 133.0), tmp_path / "a.mid")
    b = write_midi_bytes(roll_to_midi(roll.copy(), 4, 133.0), tmp_path / "b.mid")
    assert a == b == (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    # the same notes listed in another order give the same bytes, and the input is untouched
    shuffled = roll_to_midi(roll, 4, 133.0)
    notes = shuffled.instruments[0].notes
    notes.reverse()
    first = notes[0]
    assert midi_bytes(shuffled) == a
    assert shuffled.instruments[0].notes[0] is first
    assert midi_bytes(roll_to_midi(roll, 4, 134.0)) != a


def test_tempo_changes_still_land_on_the_grid(tmp_path) -> None:
    tpb = 96
    tempo = [
        (0, mido.MetaMessage("set_tempo", tempo=500_000)),
        (4 * tpb, mido.MetaMessage("set_tempo", tempo=1_250_000)),  # 48 bpm from beat 4
        (6 * tpb, mido.MetaMessage("set_tempo", tempo=300_000)),  # 200 bpm from beat 6
    ]
    notes = (
        _note(0, tpb, 60)
        + _note(3 * tpb + tpb // 2, 5 * tpb, 62)  # spans the first change
        + _note(5 * tpb + tpb // 4, 7 * tpb, 64)  # spans the second
        + _note(8 * tpb, 9 * tpb + tpb // 2, 65)
    )
    path = tmp_path / "tempo.mid"
    _write_smf(path, tpb, [tempo, notes])
    roll, stats = midi_to_roll(path, 4)
    assert roll_to_notes(roll) == [(60, 0, 4), (62, 14, 20), (64, 21, 28), (65, 32, 38)]
    assert stats.notes_out == 4 and roll.shape[0] == 38
    # a grid that ignored the tempo map (seconds at the first tempo) would misplace the later notes
    pm = pretty_midi.PrettyMIDI(str(path))
    (f4,) = [n for n in pm.instruments[0].notes if n.pitch == 65]
    assert f4.start == pytest.approx(5.1)  # 4 beats at 0.5 s, 2 at 1.25 s, 2 at 0.3 s
    assert round(f4.start * 2 * 4) != 32


def test_drums_skipped_range_folded_or_dropped_short_and_overlaps(tmp_path) -> None:
    tpb = 48  # 12 ticks per step at 4 steps per beat
    events = (
        _note(0, 48, 60)
        + _note(24, 72, 60, channel=1)  # overlaps the first C4 on another channel: merged
        + _note(0, 48, 36, channel=9)  # drums
        + _note(12, 60, 38, channel=9)
        + _note(48, 96, 12)  # below A0: folds to 24
        + _note(48, 96, 115)  # above C8: folds to 103
        + _note(96, 100, 70)  # a third of a step: kept as one step
    )
    path = tmp_path / "mixed.mid"
    _write_smf(path, tpb, [[(0, mido.MetaMessage("set_tempo", tempo=500_000))], events])
    roll, stats = midi_to_roll(path, 4)
    assert roll_to_notes(roll) == [(60, 0, 6), (24, 4, 8), (103, 4, 8), (70, 8, 9)]
    assert (stats.notes_in, stats.drum_notes, stats.folded, stats.dropped) == (5, 2, 2, 0)
    assert (stats.merged, stats.short, stats.notes_out) == (1, 1, 4)
    dropped, dstats = midi_to_roll(path, 4, out_of_range="drop")
    assert roll_to_notes(dropped) == [(60, 0, 6), (70, 8, 9)]
    assert (dstats.folded, dstats.dropped) == (0, 2)
    with pytest.raises(LivegenError, match="fold"):
        midi_to_roll(path, 4, out_of_range="clip")


def test_corrupt_and_missing_files_raise_naming_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00\x90")
    with pytest.raises(LivegenError, match="broken.mid"):
        midi_to_roll(bad, 4)
    text = tmp_path / "notes.mid"
    text.write_text("not a midi file at all\n")
    with pytest.raises(LivegenError, match="notes.mid.*not a readable MIDI"):
        midi_to_roll(text, 4)
    with pytest.raises(LivegenError, match="missing.mid"):
        midi_to_roll(tmp_path / "missing.mid", 4)


def _mido_onsets(path, spb: int) -> list[tuple[int, float]]:
    """(pitch folded onto the keys, onset in steps) of every sounding pitched note, from ticks.

    Note-ons are paired first-in first-out with note-offs per channel and pitch; notes of
    zero length (on and off at one tick) do not sound and are left out.
    """
    mid = mido.MidiFile(str(path))
    out = []
    for track in mid.tracks:
        open_notes: dict[tuple[int, int], list[int]] = {}
        for tick, msg in _abs_events(track):
            if msg.type not in ("note_on", "note_off") or msg.channel == 9:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault(key, []).append(tick)
            elif open_notes.get(key):
                start = open_notes[key].pop(0)
                if tick > start:
                    pitch = msg.note
                    while pitch < 21:
                        pitch += 12
                    while pitch > 108:
                        pitch -= 12
                    out.append((pitch, start / mid.ticks_per_beat * spb))
    return out


@pytest.mark.parametrize("name", [f"test{i:02d}.mid" for i in range(1, 22)])
def test_music21_files_land_on_the_tick_grid(name: str, datasets: DataSets) -> None:
    path = datasets.music21 / name
    spb = 4
    roll, stats = midi_to_roll(path, spb)
    onsets = _mido_onsets(path, spb)
    assert roll.shape[1] == 88 and roll.shape[0] >= 1
    assert stats.notes_in == len(onsets) > 0
    # every note sounds at its onset step (computed from ticks, independent of tempo) ...
    for pitch, q in onsets:
        candidates = {int(np.floor(q + 0.5))} | ({int(q), int(q) + 1} if abs(q % 1 - 0.5) < 1e-6 else set())
        assert any(s < roll.shape[0] and roll[s, pitch - 21] for s in candidates), (pitch, q)
    # ... and every held note in the roll starts at one of the file's onsets
    by_pitch: dict[int, np.ndarray] = {}
    for pitch, q in onsets:
        by_pitch.setdefault(pitch, []).append(q)  # type: ignore[union-attr]
    for pitch, start, _ in roll_to_notes(roll):
        assert np.min(np.abs(np.asarray(by_pitch[pitch]) - start)) <= 0.5 + 1e-6


def test_music21_tempo_changes_keep_a_steady_grid(datasets: DataSets) -> None:
    # test10: sixteen F3s one beat apart while the tempo drops from 120 to 60 bpm
    roll, stats = midi_to_roll(datasets.music21 / "test10.mid", 4)
    assert roll_to_notes(roll) == [(53, 4 * k, 4 * k + 1) for k in range(16)]
    assert stats.folded == 0 and stats.drum_notes == 0
