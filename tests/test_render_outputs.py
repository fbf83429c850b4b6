"""Render outputs: the piano-roll picture (matplotlib) and the fluidsynth WAV."""

from __future__ import annotations

import shutil
import struct
import wave

import numpy as np
import pytest
from shared_data import DataSets

from livegen.errors import LivegenError
from livegen.music import audio
from livegen.music.roll_midi import midi_to_roll, notes_to_roll, roll_to_midi, write_midi_bytes
from livegen.offline.roll_plot import note_name, plot_roll


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_picture_shows_the_prime_and_the_answer_in_two_colours_shaded_by_velocity(tmp_path) -> None:
    # prime: C4 for steps 0..7; answer: E5 loud for 8..11, G5 soft for 12..15
    roll = notes_to_roll([(60, 0, 8), (76, 8, 12), (79, 12, 16)], 16).astype(bool)
    velocities = np.zeros((16, 88), np.uint8)
    velocities[8, 76 - 21] = 120
    velocities[12, 79 - 21] = 20
    path = tmp_path / "roll.png"
    pic = plot_roll(path, roll, steps_per_beat=2, prime_steps=8, velocities=velocities, title="t")
    assert pic.low <= 60 and pic.high >= 79
    img = pic.image  # (keys, steps, 3), lowest key in row 0
    prime_px, loud_px, soft_px = img[60 - pic.low, 0], img[76 - pic.low, 8], img[79 - pic.low, 12]
    assert np.allclose(img[62 - pic.low, 0], 1.0)  # nothing sounds there: white
    assert prime_px[2] > prime_px[0]  # the prime is blue
    assert loud_px[0] > loud_px[2]  # the answer is orange
    assert loud_px.sum() < soft_px.sum() < 3.0  # a soft note is paler than a loud one
    width, height = png_size(path)
    assert (width, height) == (pic.width_px, pic.height_px)


def test_eight_bars_are_at_least_1200_pixels_wide_and_longer_pieces_wider(tmp_path) -> None:
    rng = np.random.default_rng(3)
    eight = rng.random((8 * 4 * 4, 88)) < 0.03
    plot_roll(tmp_path / "a.png", eight, steps_per_beat=4)
    assert png_size(tmp_path / "a.png")[0] >= 1200
    sixteen = rng.random((16 * 4 * 4, 88)) < 0.03
    plot_roll(tmp_path / "b.png", sixteen, steps_per_beat=4)
    assert png_size(tmp_path / "b.png")[0] > png_size(tmp_path / "a.png")[0]
    plot_roll(tmp_path / "e.png", np.zeros((0, 88), bool), steps_per_beat=4)  # nothing at all: still a picture
    assert png_size(tmp_path / "e.png")[0] >= 1200
    with pytest.raises(LivegenError, match="shape"):
        plot_roll(tmp_path / "x.png", np.zeros((4, 12)), steps_per_beat=4)


def test_note_names_and_titles() -> None:
    assert [note_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None, reason="fluidsynth not installed (apt-get install fluidsynth)"
)


@needs_fluidsynth
def test_wav_render_is_audible_and_as_long_as_the_roll(tmp_path) -> None:
    roll = notes_to_roll([(60, 0, 4), (64, 4, 8), (67, 8, 16)], 16)  # 16 steps at 4/beat, 120 bpm: 2 s
    mid = tmp_path / "x.mid"
    write_midi_bytes(roll_to_midi(roll, 4, 120.0), mid)
    out = audio.render_wav(mid, tmp_path / "x.wav", rate=22050)
    with wave.open(str(out), "rb") as wav:
        assert wav.getframerate() == 22050 and wav.getsampwidth() == 2
        seconds = wav.getnframes() / wav.getframerate()
    assert 2.0 <= seconds < 6.0
    assert audio.wav_rms(out) > 0.01


@needs_fluidsynth
def test_real_file_renders_and_silence_measures_silent(tmp_path, datasets: DataSets) -> None:
    out = audio.render_wav(datasets.music21 / "test08.mid", tmp_path / "t.wav")
    assert audio.wav_rms(out) > 0.01
    silent = tmp_path / "silent.mid"
    write_midi_bytes(roll_to_midi(np.zeros((8, 88), np.uint8), 4, 120.0), silent)
    assert audio.wav_rms(audio.render_wav(silent, tmp_path / "s.wav")) < 0.001
    # the roll read back from the WAV's MIDI is the one written
    assert midi_to_roll(silent, 4)[0].shape == (8, 88)


def test_missing_fluidsynth_or_soundfont_names_the_debian_packages(tmp_path, monkeypatch) -> None:
    mid = tmp_path / "x.mid"
    write_midi_bytes(roll_to_midi(notes_to_roll([(60, 0, 2)], 2), 4, 120.0), mid)
    monkeypatch.delenv("LIVEGEN_SOUNDFONT", raising=False)
    monkeypatch.setattr(audio, "SOUNDFONT_CANDIDATES", (tmp_path / "none.sf2",))
    with pytest.raises(LivegenError, match="apt-get install fluidsynth timgm6mb-soundfont"):
        audio.find_soundfont()
    monkeypatch.setenv("LIVEGEN_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(LivegenError, match="gone.sf2.*LIVEGEN_SOUNDFONT"):
        audio.find_soundfont()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LivegenError, match="fluidsynth not found.*apt-get install fluidsynth timgm6mb-soundfont"):
        audio.render_wav(mid, tmp_path / "x.wav")
    with pytest.raises(LivegenError, match="missing.mid"):
        audio.render_wav(tmp_path / "missing.mid", tmp_path / "y.wav")


def test_wav_rms_rejects_non_wav(tmp_path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"RIFF....nonsense")
    with pytest.raises(LivegenError, match="x.wav"):
        audio.wav_rms(bad)
