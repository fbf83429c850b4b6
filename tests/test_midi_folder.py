"""MIDI folders as datasets: real music21 files (or synthetic stand-ins), corrupt files skipped,
stable splits."""

from __future__ import annotations

import logging
from pathlib import Path

import mido
import numpy as np
import pytest
from shared_data import DataSets

from livegen.data.midi_folder import (
    assign_splits,
    find_midi_files,
    load_midi_files,
    load_midi_folder,
    scan_midi_folder,
    split_fraction,
)
from livegen.data.polyphonic import load_rolls
from livegen.data.roll_dataset import SPLITS
from livegen.errors import LivegenError


@pytest.fixture
def music21(datasets: DataSets) -> Path:
    """The folder of 21 music21 test files."""
    return datasets.music21


def _out_of_range_notes(paths) -> int:
    """Pitched note-ons outside A0..C8, counted straight from the files with mido."""
    count = 0
    for path in paths:
        for track in mido.MidiFile(str(path)).tracks:
            for msg in track:
                if msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
                    count += not 21 <= msg.note <= 108
    return count


def _link_some(tmp_path, music21, names):
    for name in names:
        (tmp_path / name).symlink_to(music21 / name)


def test_music21_folder_reads_every_file_into_stable_splits(music21: Path) -> None:
    ds, stats = scan_midi_folder(music21, steps_per_beat=4)
    assert (stats.files_read, stats.files_skipped, stats.files_empty) == (21, 0, 0)
    assert ds.steps_per_beat == 4 and ds.name == str(music21)
    sizes = {s: len(ds.split(s)) for s in SPLITS}
    assert sum(sizes.values()) == 21 and all(sizes.values()) and sizes == stats.splits
    assert sizes["train"] >= 13
    for seq in (seq for s in SPLITS for seq in ds.split(s)):
        assert seq.dtype == np.uint8 and seq.ndim == 2 and seq.shape[1] == 88 and seq.any()
    assert stats.steps == sum(seq.shape[0] for s in SPLITS for seq in ds.split(s))
    expected_out = _out_of_range_notes(find_midi_files(music21))
    assert expected_out > 0 and stats.notes_folded == expected_out and stats.notes_dropped == 0
    assert stats.notes_out <= stats.notes_in
    # the same folder gives the same splits
    again = load_midi_folder(music21, steps_per_beat=4)
    for s in SPLITS:
        assert [x.tobytes() for x in again.split(s)] == [x.tobytes() for x in ds.split(s)]


def test_drop_option_counts_dropped_notes(music21: Path) -> None:
    _, stats = scan_midi_folder(music21, steps_per_beat=2, out_of_range="drop")
    assert stats.notes_dropped == _out_of_range_notes(find_midi_files(music21)) and stats.notes_folded == 0


def test_corrupt_files_are_skipped_with_one_warning_each(tmp_path, caplog, music21: Path) -> None:
    _link_some(tmp_path, music21, ["test06.mid", "test08.mid", "test10.mid"])
    (tmp_path / "sub").mkdir()
    _link_some(tmp_path / "sub", music21, ["test13.mid"])
    (tmp_path / "garbage.mid").write_bytes(b"\x00\x01not midi\xff" * 10)
    (tmp_path / "truncated.MID").write_bytes((music21 / "test06.mid").read_bytes()[:40])
    (tmp_path / "readme.txt").write_text("not scanned")
    with caplog.at_level(logging.WARNING, logger="livegen.data.midi_folder"):
        ds, stats = scan_midi_folder(tmp_path)
    assert (stats.files_read, stats.files_skipped) == (4, 2)
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in stats.skipped) == ["garbage.mid", "truncated.MID"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    assert any("garbage.mid" in w for w in warnings) and any("truncated.MID" in w for w in warnings)
    assert sum(len(ds.split(s)) for s in SPLITS) == 4
    flat, flat_stats = scan_midi_folder(tmp_path, recursive=False)
    assert flat_stats.files_read == 3


def test_drum_only_file_counts_as_empty(tmp_path, music21: Path) -> None:
    _link_some(tmp_path, music21, ["test06.mid", "test08.mid", "test13.mid"])
    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    track += [mido.Message("note_on", note=36, velocity=100, channel=9, time=0),
              mido.Message("note_off", note=36, velocity=0, channel=9, time=96)]
    mid.tracks.append(track)
    mid.save(str(tmp_path / "drums.mid"))
    _, stats = scan_midi_folder(tmp_path)
    assert (stats.files_read, stats.files_empty, stats.drum_notes) == (3, 1, 1)


def test_too_few_files_reuse_train_with_a_warning(tmp_path, caplog, music21: Path) -> None:
    _link_some(tmp_path, music21, ["test06.mid", "test08.mid"])
    with caplog.at_level(logging.WARNING, logger="livegen.data.midi_folder"):
        ds = load_midi_folder(tmp_path)
    assert len(ds.split("train")) == 2
    assert [x.tobytes() for x in ds.split("valid")] == [x.tobytes() for x in ds.split("train")]
    assert [x.tobytes() for x in ds.split("test")] == [x.tobytes() for x in ds.split("train")]
    assert any("only 2 MIDI file" in r.getMessage() for r in caplog.records)


def test_empty_or_unreadable_folders_raise(tmp_path) -> None:
    with pytest.raises(LivegenError, match="no MIDI files"):
        load_midi_folder(tmp_path)
    (tmp_path / "bad.mid").write_bytes(b"MThd nonsense")
    with pytest.raises(LivegenError, match="no readable MIDI"):
        load_midi_folder(tmp_path)
    with pytest.raises(LivegenError, match="not a folder"):
        load_midi_folder(tmp_path / "bad.mid")


def test_load_rolls_dispatches_folders_and_single_files(music21: Path) -> None:
    folder = load_rolls(music21, steps_per_beat=2)
    assert folder.steps_per_beat == 2 and sum(len(folder.split(s)) for s in SPLITS) == 21
    single = load_rolls(music21 / "test10.mid")
    assert single.steps_per_beat == 4 and len(single.split("train")) == 1
    direct = load_midi_files([music21 / "test10.mid"], name="one", steps_per_beat=4)
    assert np.array_equal(direct.split("train")[0], single.split("train")[0])


def test_splits_follow_a_stable_hash_and_never_move_when_files_are_added() -> None:
    assert split_fraction("test01.mid") == split_fraction("test01.mid")
    assert 0.0 <= split_fraction("a") < 1.0 and split_fraction("a") != split_fraction("b")
    keys = [f"song{i:03d}.mid" for i in range(200)]
    index = assign_splits(keys)
    share = {s: len(index[s]) / len(keys) for s in SPLITS}
    assert 0.7 < share["train"] < 0.9 and 0.04 < share["valid"] < 0.16 and 0.04 < share["test"] < 0.16
    where = {keys[i]: s for s in SPLITS for i in index[s]}
    more = [*keys, "new1.mid", "new2.mid"]
    index2 = assign_splits(more)
    where2 = {more[i]: s for s in SPLITS for i in index2[s]}
    assert all(where2[k] == where[k] for k in keys)
    # three files always give three non-empty splits
    for trio in (["a", "b", "c"], ["x.mid", "y.mid", "z.mid"]):
        got = assign_splits(trio)
        assert sorted(i for s in SPLITS for i in got[s]) == [0, 1, 2]
        assert all(len(got[s]) == 1 for s in SPLITS)
